"""Production settings pass Django's deployment check with no warning; every page carries the
Content-Security-Policy (the same in tests as in production) and needs no inline script or
style; secure, HttpOnly cookies, HSTS and the other headers in production; no secret in logs."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import PASSWORD, login_client

ROOT = Path(__file__).resolve().parent.parent
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'self'"],
}


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: sources} (directives come in any order)."""
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def _production(tmp_path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """``manage.py *args`` (or ``python -c code``) with the production settings, as deployed."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "AXES_", "API_THROTTLE", "TRUSTED_"))
    }
    clean.pop("REDIS_URL", None)
    env = {
        **clean,
        "CRM_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "k3y-" + "x9Q!z" * 12,  # long and varied, as check --deploy wants
        "DJANGO_ALLOWED_HOSTS": "crm.example",
    }
    command = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


# --- Production settings ---------------------------------------------------------------------


def test_check_deploy_passes_without_a_single_warning(tmp_path):
    result = _production(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


PROBE_HEADERS = """
import json, django
django.setup()
from django.test import Client
from django.test.utils import override_settings
from django.conf import settings
# Static files as collected in a deployment; here, straight from the source folders.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client()
plain = client.get("/login/", HTTP_HOST="crm.example")
login = client.get("/login/", HTTP_HOST="crm.example", secure=True)
proxied = client.get("/login/", HTTP_HOST="crm.example", HTTP_X_FORWARDED_PROTO="https")
cookie = login.cookies[settings.CSRF_COOKIE_NAME]
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "proxied": proxied.status_code,
    "headers": dict(login.headers),
    "csrf_cookie": {"secure": bool(cookie["secure"]), "httponly": bool(cookie["httponly"])},
    "session": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY],
    "language": [settings.LANGUAGE_COOKIE_SECURE, settings.LANGUAGE_COOKIE_HTTPONLY],
    "csp": settings.CONTENT_SECURITY_POLICY,
    "debug": settings.DEBUG,
}))
"""


def test_production_sends_the_security_headers_and_secure_cookies(tmp_path):
    result = _production(tmp_path, code=PROBE_HEADERS)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])

    assert probe["plain"] == [301, "https://crm.example/login/"]  # HTTP goes to HTTPS
    assert probe["proxied"] == 200  # behind the proxy: X-Forwarded-Proto says HTTPS
    headers = probe["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert policy(headers["Content-Security-Policy"]) == POLICY
    assert probe["csrf_cookie"] == {"secure": True, "httponly": True}
    assert probe["session"] == [True, True]
    assert probe["language"] == [True, True]
    assert probe["debug"] is False
    # The tests run under the very same policy.
    assert probe["csp"] == settings.CONTENT_SECURITY_POLICY


# --- The Content-Security-Policy on every page ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, "/login/"),
        (None, "/pricing/"),
        ("admin_user", "/crm/"),
        ("admin_user", "/companies/"),
        ("admin_user", "/history/"),
        ("admin_user", "/recyclebin/"),
        ("admin_user", "/backups/"),
        ("admin_user", "/support/requests/"),
        ("admin_user", "/security/"),
        ("admin_user", "/security/two-factor/"),
        ("support_user", "/console/"),
        ("support_user", "/notifications/"),
    ],
)
def test_every_page_carries_the_policy(request, who, path):
    client = login_client(request.getfixturevalue(who)) if who else APIClient()
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert policy(response["Content-Security-Policy"]) == POLICY


@pytest.mark.django_db
def test_only_the_api_docs_allow_inline_styles(client):
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    relaxed = policy(docs["Content-Security-Policy"])
    assert relaxed == {**POLICY, "style-src": ["'self'", "'unsafe-inline'"]}
    assert b"<script>" not in docs.content  # its script is a file of its own
    assert policy(client.get("/api/v1/schema/")["Content-Security-Policy"]) == POLICY


def test_no_template_needs_inline_script_or_style():
    problems = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for pattern in (r"\sstyle\s*=", r"<style", r"<script(?![^>]*\ssrc=)[^>]*>", r"\son\w+\s*="):
            for match in re.finditer(pattern, text, re.IGNORECASE):
                problems.append(f"{template.relative_to(ROOT)}: {match.group(0)!r}")
    assert problems == []


# --- Nothing secret in the logs ------------------------------------------------------------------


@pytest.mark.django_db
def test_failed_logins_and_tokens_leave_no_secret_in_the_logs(caplog, admin_user, support_user):
    secret = "Tr0ub4dor&3-not-the-password"
    with caplog.at_level(logging.DEBUG):
        client = APIClient()
        client.post(reverse("login"), {"username": admin_user.username, "password": secret})
        client.post(
            "/api/v1/auth/token/",
            {"username": admin_user.username, "password": secret},
            format="json",
        )
        client.post(
            "/api/v1/auth/token/",
            {"username": support_user.username, "password": PASSWORD, "otp": "99999999"},
            format="json",
        )
        for _ in range(settings.AXES_FAILURE_LIMIT):  # a lockout logs too
            client.post(reverse("login"), {"username": admin_user.username, "password": secret})
        token = client.post(
            "/api/v1/auth/token/",
            {"username": "acme-admin", "password": PASSWORD},
            format="json",
            REMOTE_ADDR="10.9.9.9",
        ).json()["token"]
        authorized = APIClient()
        authorized.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        authorized.get("/api/v1/companies/")
        authorized.get("/api/v1/no-such-endpoint/")
        authorized.post("/api/v1/companies/", {"title": ""}, format="json")  # a 400

    logged = "\n".join(
        [caplog.text]
        + [str(record.args) for record in caplog.records]
        + [str(getattr(record, "request", "")) for record in caplog.records]
    )
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert "AXES" in caplog.text  # the lockout was logged ...
    assert secret not in logged  # ... without the password,
    assert PASSWORD not in logged
    assert token not in logged  # the token,
    assert "99999999" not in logged  # or the code


def test_a_signed_in_page_reads_the_user_with_the_account_in_one_query(client, admin_user):
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/pricing/").status_code == 200
    users = [q["sql"] for q in queries.captured_queries if 'FROM "accounts_user"' in q["sql"]]
    assert len(users) == 1 and 'JOIN "accounts_account"' in users[0]
    assert not [
        q for q in queries.captured_queries if q["sql"].startswith('SELECT "accounts_account"')
    ]


def test_a_session_signed_in_through_djangos_own_backend_stays_signed_in(client, admin_user):
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/history/").status_code == 200
