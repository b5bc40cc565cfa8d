"""Fixtures shared by every test: two accounts with their users, support staff, API clients.

Support staff need a second factor everywhere (accounts.two_factor): the ``support_user``
fixture has a confirmed authenticator app, ``api_as(user)`` gives a client with a token issued
after that factor, ``login_client(user)`` a browser client whose session gave it, and
``totp_code(user)`` the code the app would show now (for the login page in a real browser).
``api_as(user, verified=False)`` / ``login_client(user, verified=False)`` skip the factor.

Real Celery worker processes: the ``worker`` fixture (one, started before the test) and
``worker_start(app=..., **env)`` (any number, when the test says); ``wait_for(condition)`` waits
for what they do. A test using either is marked ``worker`` by itself. Real browsers: ``tab``, a
chromium tab on the live server; ``browser_login`` and ``csp_violations``."""

import os
import subprocess
import sys
import time

import django_otp
import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client
from django.utils import translation
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts import two_factor
from accounts.models import Account, User
from accounts.services import account_create, user_create

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database only: allow TRUNCATE of the history (history migration 0007), which
    the test runner uses to reset tables between transactional tests. Set on the database, so
    every later connection has it, worker processes included."""
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER DATABASE {name} SET crm.history_truncate = 'allowed'")
            connection.close()


@pytest.fixture(autouse=True)
def _cache_clear():
    """Each test starts with an empty cache: what an earlier test kept (the history chart's
    counts, keyed by ids a rolled-back test may hand out again) is not this test's."""
    cache.clear()


@pytest.fixture(autouse=True)
def _language_reset():
    """A request through the test client activates its language in this thread (Django's
    LocaleMiddleware) and leaves it active: each test starts in the default language."""
    yield
    translation.deactivate()


def _account(name: str, plan: str = "professional") -> Account:
    return account_create(
        name=name,
        plan=plan,
        admin_username=f"{name.lower()}-admin",
        admin_password=PASSWORD,
        check_password=False,
    )


@pytest.fixture
def account(db) -> Account:
    return _account("Acme")


@pytest.fixture
def other_account(db) -> Account:
    return _account("Globex")


@pytest.fixture
def admin_user(account) -> User:
    return account.users.get(role=User.Role.ADMIN)


@pytest.fixture
def employee(account) -> User:
    return user_create(
        username="acme-employee",
        password=PASSWORD,
        account=account,
        role=User.Role.EMPLOYEE,
        check_password=False,
    )


@pytest.fixture
def other_admin(other_account) -> User:
    return other_account.users.get(role=User.Role.ADMIN)


@pytest.fixture
def support_user(db) -> User:
    """Support staff with an authenticator app set up (as every one has after the first login)."""
    user = user_create(
        username="support", password=PASSWORD, account=None, is_support=True, check_password=False
    )
    totp_enrol(user)
    return user


def totp_enrol(user: User) -> TOTPDevice:
    """The user's confirmed authenticator app (set up now if there is none)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)
    return device


def totp_code(user: User) -> str:
    """The code the user's authenticator app shows now: one the server has not accepted yet
    (each code works once), within the clock tolerance."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    base = totp.t()
    for offset in (0, 1, -1):  # the current step first: a tick meanwhile keeps it valid
        if abs(offset) <= device.tolerance and base + offset > device.last_t:
            totp.drift = device.drift + offset
            return f"{totp.token():0{device.digits}d}"
    raise AssertionError(f"{user}: every code of this half minute is used")


def login_client(user: User, *, verified: bool = True, client: Client | None = None) -> Client:
    """A browser client logged in as ``user``; with ``verified``, its session has also given
    the second factor (as after the code page) when the user needs one or has one."""
    client = client or Client()
    client.force_login(user)
    if verified and two_factor.second_factor_needed(user):
        session = client.session
        session[django_otp.DEVICE_ID_SESSION_KEY] = totp_enrol(user).persistent_id
        session.save()
    return client


@pytest.fixture
def snapshot_dir(settings, tmp_path):
    """Snapshot files go to a temporary folder (private, like the real storage), never to var/.
    The backups and support tests use it for every test (their conftest makes it autouse)."""
    location = tmp_path / "snapshots"
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "backups.storage.PrivateFileSystemStorage",
            "OPTIONS": {
                "location": location,
                "base_url": None,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        },
    }
    return location


def _client_for(user: User | None, *, verified: bool = True) -> APIClient:
    client = APIClient()
    if user is None:
        return client
    if verified and two_factor.second_factor_needed(user):
        # A real token, issued after the second factor, as POST /api/v1/auth/token/ gives it.
        token = two_factor.token_issue(user=user, device=totp_enrol(user))
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    else:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def api(admin_user) -> APIClient:
    """An API client acting as the first account's admin."""
    return _client_for(admin_user)


@pytest.fixture
def api_as():
    """``api_as(user)``: an API client acting as any user (None: anonymous), with the second
    factor given if the user needs it; ``api_as(user, verified=False)``: without it."""
    return _client_for


# --- Real browsers (tests/test_browser.py, tests/test_support_browser.py) --------------------


@pytest.fixture
def tab(live_server):
    """A chromium tab (tests/browser.py: one browser for this test) on the live server, closed
    afterwards. The test needs ``django_db(transaction=True)``: the server sees only commits."""
    from tests.browser import chromium, open_tab

    with chromium() as browser:
        opened = open_tab(browser, live_server.url)
        yield opened
        opened.close()
        # Playwright's loop gave the test its own database connection: close it, or the
        # test database cannot be dropped at the end.
        connections.close_all()


def browser_login(page, user: User, password: str = PASSWORD) -> None:
    """Log in on the login page as a person does: the password, then, for whoever needs one,
    the code of the authenticator app on the page that asks for it."""
    page.goto("/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main form [type=submit]")
    if "/login/two-factor/" in page.url:
        page.fill("#id_code", totp_code(user))
        with page.expect_navigation():
            page.click("main form [type=submit]")


def csp_violations(page, seen: list[str] | None = None) -> list[str]:
    """Every Content-Security-Policy violation the browser reports on ``page`` from now on
    (Chromium says so on the console), collected into the returned list (or ``seen``)."""
    seen = [] if seen is None else seen

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            seen.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    return seen


# --- Real Celery workers (tests marked ``worker``) -------------------------------------------

WORKER_FIXTURES = {"worker", "worker_start"}


def pytest_collection_modifyitems(items) -> None:
    """A test that starts a real worker is a ``worker`` test (``-m "not worker"`` leaves it out),
    whether or not it says so itself."""
    for item in items:
        if WORKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.worker)


def worker_database_url() -> str:
    """The test database as a DATABASE_URL, for a worker process to use the same one."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def wait_for(condition, timeout: float = 60.0) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds: what a worker process
    does happens meanwhile, so a test asks again (5 times a second) instead of once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def worker_start(transactional_db, tmp_path):
    """``worker_start(app="config", **env)``: a real worker process (``celery -A app worker``,
    solo pool) on the test database and the broker the settings name (Redis with REDIS_URL, the
    filesystem transport otherwise), ``env`` added to its environment. Transactional: the
    worker sees only what the test committed. Its output goes to ``tmp_path/worker.log`` (the
    next ones' to worker-1.log, worker-2.log, ...). After the test each one still running is
    stopped, and every output printed (pytest shows it when the test fails)."""
    processes = []

    def start(app: str = "config", **env) -> subprocess.Popen:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": worker_database_url(),
            **env,
        }
        log = tmp_path / (f"worker-{len(processes)}.log" if processes else "worker.log")
        with log.open("w") as out:
            process = subprocess.Popen(  # noqa: S603 - our own command line
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    app,
                    "worker",
                    "--pool=solo",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append((process, log))
        return process

    yield start
    for process, log in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print(f"--- {log.name}\n{log.read_text()}")  # noqa: T201 - shown when the test fails


@pytest.fixture
def worker(worker_start) -> subprocess.Popen:
    """A worker process on the project's app (``worker_start()``), running from the start of
    the test; stopped after it."""
    return worker_start()
