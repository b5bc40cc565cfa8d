"""Support staff without their second factor are refused everywhere in support/: every page of
the support app and every /api/v1/support/ endpoint, both found by walking the URL resolver (a
page or endpoint added later is covered without touching this file). Nothing changes then:
no request, message, notification, event or task, and no notification is marked read."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.mixins import SecondFactorRequiredMixin
from accounts.models import User
from accounts.services import user_create
from conftest import PASSWORD, login_client, totp_code
from support import services
from support.models import Notification
from support.tests.factories import request_make, snapshot_kept, support_state

pytestmark = pytest.mark.django_db

VERIFY = reverse("two_factor_verify")
SETUP = reverse("two_factor_setup")


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            yield route, namespace, pattern


def support_pages() -> list[tuple[str, URLPattern]]:
    """Every page of the support app (its namespace): the portal, the console, notifications."""
    pages = [
        (f"support:{pattern.name}", pattern)
        for _route, namespace, pattern in _walk(get_resolver().url_patterns)
        if namespace == "support"
    ]
    assert len(pages) >= 13, "the support app's pages were not found"
    return pages


def support_endpoints() -> list[tuple[str, list[str], URLPattern]]:
    """Every /api/v1/support/ route: (route, its HTTP methods, pattern)."""
    endpoints = []
    for route, _namespace, pattern in _walk(get_resolver().url_patterns):
        if not _plain(route).startswith("api/v1/support/"):
            continue
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions:
            methods = set(actions)
        else:
            view = callback.cls
            methods = {m for m in view.http_method_names if hasattr(view, m)}
        # HEAD answers as GET does, without a body (DRF adds it to a viewset's actions once it
        # has served a GET); OPTIONS describes the endpoint.
        methods = sorted(methods - {"head", "options"})
        endpoints.append((route, methods, pattern))
    assert len(endpoints) >= 8, "the support API's routes were not found"
    return endpoints


def _plain(route: str) -> str:
    """A route of the resolver without regex anchors (DRF's router writes ``^...$``)."""
    return route.replace("^", "").replace("$", "")


def _url(route: str, pk: int) -> str:
    """A concrete path for a route: its ``pk`` (in regex or converter form) filled in."""
    path = re.sub(r"\(\?P<pk>[^)]*\)|<(?:int:)?pk>", str(pk), route)
    path = _plain(path)
    assert "<" not in path and "(" not in path, path
    return "/" + path


@pytest.fixture
def world(account, admin_user, support_user):
    """A request with a message and an unread notification for support."""
    snapshot_kept(account)
    restore_request = request_make(account, status="proposed")
    services.message_post(request=restore_request, user=admin_user, body="Please help.")
    Notification.objects.create(recipient=support_user, request=restore_request, verb="filed")
    return restore_request


@pytest.fixture
def tasks_sent(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(services.run, "task_send", lambda **kwargs: sent.append(kwargs))
    return sent


def state(tasks_sent) -> dict:
    return {
        **support_state(),
        "read": sorted(Notification.objects.values_list("pk", "read_at")),
        "tasks": list(tasks_sent),
    }


@pytest.fixture
def unenrolled_support(db) -> User:
    return user_create(
        username="support-new",
        password=PASSWORD,
        account=None,
        is_support=True,
        check_password=False,
    )


# --- Pages -------------------------------------------------------------------------------------


def test_every_support_view_checks_the_second_factor():
    for name, pattern in support_pages():
        view = pattern.callback.view_class
        assert issubclass(view, SecondFactorRequiredMixin), name
        # First in line, before the view's own access check.
        assert view.__mro__.index(SecondFactorRequiredMixin) <= 2, name


@pytest.mark.parametrize("who", ["password_only", "never_enrolled"])
def test_every_support_page_refuses_support_staff_without_the_factor(
    who, world, support_user, unenrolled_support, tasks_sent
):
    if who == "password_only":
        client, goes_to = login_client(support_user, verified=False), VERIFY
    else:
        client, goes_to = login_client(unenrolled_support, verified=False), SETUP
    before = state(tasks_sent)
    checked = 0
    for name, pattern in support_pages():
        kwargs = {"pk": world.pk} if "pk" in pattern.pattern.regex.groupindex else {}
        url = reverse(name, kwargs=kwargs)
        for method in ("get", "post"):
            body = {"body": "sneaky", "reason": "sneaky", "snapshot": "1", "kind": "full"}
            response = getattr(client, method)(url, body if method == "post" else None)
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"].startswith(goes_to), (method, url)
            checked += 1
    assert checked >= 26
    assert state(tasks_sent) == before


def test_the_support_pages_open_once_the_factor_is_given(world, support_user):
    client = login_client(support_user)
    assert client.get(reverse("support:console")).status_code == 200
    assert client.get(reverse("support:console_detail", args=[world.pk])).status_code == 200
    assert client.get(reverse("support:notifications")).status_code == 200


def test_a_real_login_gives_the_factor_then_the_console(world, support_user):
    client = Client()
    client.post(reverse("login"), {"username": support_user.username, "password": PASSWORD})
    console = reverse("support:console")
    assert client.get(console)["Location"].startswith(VERIFY)
    client.post(VERIFY, {"code": totp_code(support_user)})
    assert client.get(console).status_code == 200


# --- API ---------------------------------------------------------------------------------------


def _unverified_clients(support_user) -> dict[str, APIClient]:
    token = Token.objects.create(user=support_user)  # issued without the factor
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    by_session = APIClient()
    by_session.force_login(support_user)  # the password only: the session owes the code
    return {"token": by_token, "session": by_session}


def test_every_support_endpoint_refuses_support_staff_without_the_factor(
    world, support_user, tasks_sent
):
    clients = _unverified_clients(support_user)
    before = state(tasks_sent)
    checked = 0
    for route, methods, _pattern in support_endpoints():
        url = _url(route, world.pk)
        for method in methods:
            for how, client in clients.items():
                response = getattr(client, method)(url, {"body": "x", "reason": "x"}, format="json")
                label = (how, method.upper(), url)
                assert response.status_code == 403, (label, response.content)
                body = response.json()
                assert body["code"] == "otp_required", (label, body)
                assert body["detail"], label
                checked += 1
    assert checked >= 28  # 14 route-methods today, by token and by session
    assert state(tasks_sent) == before


def test_every_support_endpoint_admits_support_staff_with_the_factor(
    world, support_user, tasks_sent, api_as
):
    client = api_as(support_user)  # a token issued with the code
    for route, methods, _pattern in support_endpoints():
        if "get" in methods:
            response = client.get(_url(route, world.pk))
            assert response.status_code != 403 or response.json()["code"] != "otp_required", route


def test_admins_need_the_factor_on_the_support_api_only_if_their_account_requires_it(
    account, world, admin_user, api_as
):
    assert api_as(admin_user).get("/api/v1/support/requests/").status_code == 200
    account.require_2fa_for_admins = True
    account.save()
    refused = api_as(admin_user, verified=False).get("/api/v1/support/requests/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "otp_required"
    assert api_as(admin_user).get("/api/v1/support/requests/").status_code == 200
    assert TOTPDevice.objects.filter(user=admin_user, confirmed=True).exists()
