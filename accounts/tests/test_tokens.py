"""Tokens and users: logging out revokes the token; a deactivated user's sessions and tokens
stop working at once, while what they did stays attributed to them; the API throttles callers
with the API's own error shape."""

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.services import user_deactivate
from conftest import PASSWORD, login_client
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.tests.factories import API_PATHS, CompanyFactory, assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
LOGOUT_URL = "/api/v1/auth/logout/"


def token_of(user) -> str:
    response = APIClient().post(
        TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- Logout ---------------------------------------------------------------------------------------


def test_logout_revokes_the_token(admin_user):
    key = token_of(admin_user)
    client = token_client(key)
    assert client.get(API_PATHS["company"]).status_code == 200

    response = client.post(LOGOUT_URL)

    assert response.status_code == 204
    assert not Token.objects.filter(key=key).exists()
    assert_error(client.get(API_PATHS["company"]), 401, "authentication_failed")
    assert_error(client.post(LOGOUT_URL), 401, "authentication_failed")
    assert token_of(admin_user) != key  # a new login gets a new token


def test_logout_with_the_browser_session_revokes_the_token_and_ends_the_session(admin_user):
    key = token_of(admin_user)
    client = APIClient()
    client.force_login(admin_user)

    assert client.post(LOGOUT_URL).status_code == 204

    assert not Token.objects.filter(key=key).exists()
    assert_error(client.get(API_PATHS["company"]), 401, "not_authenticated")


def test_anonymous_logout_is_401(db):
    assert_error(APIClient().post(LOGOUT_URL), 401, "not_authenticated")


def test_support_staff_may_log_out_even_without_the_factor(support_user):
    token = Token.objects.create(user=support_user)
    assert token_client(token.key).post(LOGOUT_URL).status_code == 204
    assert not Token.objects.filter(user=support_user).exists()


def test_the_browser_logout_keeps_the_api_token(admin_user):
    """Decided: the token belongs to the user's scripts, not to a browser tab. It ends with
    POST /api/v1/auth/logout/, the Security page's "Revoke", or deactivation."""
    key = token_of(admin_user)
    client = login_client(admin_user)
    client.post(reverse("logout"))
    assert token_client(key).get(API_PATHS["company"]).status_code == 200


def test_the_security_page_revokes_the_token(admin_user):
    key = token_of(admin_user)
    client = login_client(admin_user)
    assert "You have an API token" in client.get(reverse("security")).content.decode()
    client.post(reverse("security"), {"action": "revoke_token"})
    assert_error(token_client(key).get(API_PATHS["company"]), 401, "authentication_failed")


# --- Deactivation ---------------------------------------------------------------------------------


def test_a_deactivated_user_is_out_at_once_and_keeps_their_history(account, admin_user, employee):
    company = crm_services.record_create(
        account=account, actor=employee, entity=ENTITIES["company"], data={"title": "Ex Ltd"}
    )
    entry = crm_services.record_delete(record=company, actor=employee)
    key = token_of(employee)
    browser = login_client(employee)
    api_session = APIClient()
    api_session.force_login(employee)
    assert browser.get(reverse("crm:dashboard")).status_code == 200

    user_deactivate(user=employee)

    # The open browser session: back to the login page on the very next request.
    response = browser.get(reverse("crm:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert_error(api_session.get(API_PATHS["company"]), 401, "not_authenticated")
    # The token is gone, and would not work anyway.
    assert_error(token_client(key).get(API_PATHS["company"]), 401, "authentication_failed")
    assert not Token.objects.filter(user=employee).exists()
    # No new login either.
    assert (
        Client()
        .post(reverse("login"), {"username": employee.username, "password": PASSWORD})
        .status_code
        == 200
    )
    # What they did still names them.
    admin_api = login_client(admin_user)
    history = admin_api.get("/api/v1/history/", {"actor": employee.pk}).json()["results"]
    assert {event["actor"]["username"] for event in history} == {employee.username}
    assert {event["event_type"] for event in history} == {"create", "delete"}
    bin_entry = admin_api.get(f"/api/v1/recyclebin/{entry.pk}/").json()
    assert bin_entry["deleted_by"] == {"id": employee.pk, "username": employee.username}


def test_an_inactive_users_old_token_fails_even_if_left_behind(admin_user):
    key = token_of(admin_user)
    type(admin_user).objects.filter(pk=admin_user.pk).update(is_active=False)  # no service
    assert_error(token_client(key).get(API_PATHS["company"]), 401, "authentication_failed")


# --- A new password ends every token and session ----------------------------------------------


def test_an_operator_resetting_the_password_in_the_admin_ends_token_and_sessions(
    admin_user, employee
):
    operator = type(admin_user).objects.create_superuser("operator", "op@example.com", "op-pw-1")
    key = token_of(employee)
    browser = login_client(employee)
    assert browser.get("/crm/").status_code == 200
    client = Client()
    client.force_login(operator)

    response = client.post(
        reverse("admin:auth_user_password_change", args=[employee.pk]),
        {"password1": "a brand new passphrase 42", "password2": "a brand new passphrase 42"},
    )

    assert response.status_code == 302, response.content[:500]
    assert_error(token_client(key).get(API_PATHS["company"]), 401, "authentication_failed")
    ended = browser.get("/crm/")  # the session ended: back to the login page
    assert ended.status_code == 302 and "login" in ended["Location"]
    # The new password gives a new token that works.
    fresh = APIClient().post(
        TOKEN_URL,
        {"username": employee.username, "password": "a brand new passphrase 42"},
        format="json",
    )
    assert fresh.status_code == 200
    assert fresh.json()["token"] != key
    assert token_client(fresh.json()["token"]).get(API_PATHS["company"]).status_code == 200


def test_a_password_set_by_code_ends_the_token_too(admin_user):
    """However the password changes (a management command, a script): set_password."""
    key = token_of(admin_user)
    admin_user.set_password("another long passphrase 7")
    admin_user.save()
    assert_error(token_client(key).get(API_PATHS["company"]), 401, "authentication_failed")


def test_a_token_outlives_a_login_that_keeps_the_password(admin_user):
    key = token_of(admin_user)
    login_client(admin_user).get("/")
    token_of(admin_user)  # asking again returns the same token
    assert token_client(key).get(API_PATHS["company"]).status_code == 200


def test_the_admin_deactivates_and_never_deletes_users(admin_user, employee):
    operator = type(admin_user).objects.create_superuser("operator", "op@example.com", "op-pw-1")
    key = token_of(employee)
    client = Client()
    client.force_login(operator)
    changelist = reverse("admin:accounts_user_changelist")

    response = client.post(
        changelist, {"action": "deactivate", "_selected_action": [employee.pk]}, follow=True
    )

    assert response.status_code == 200
    employee.refresh_from_db()
    assert not employee.is_active
    assert not Token.objects.filter(key=key).exists()
    user_admin = admin.site._registry[type(admin_user)]
    assert not user_admin.has_delete_permission(response.wsgi_request, employee)
    delete = client.get(reverse("admin:accounts_user_delete", args=[employee.pk]))
    assert delete.status_code == 403


def test_unticking_active_in_the_admin_revokes_the_token(admin_user, employee):
    operator = type(admin_user).objects.create_superuser("operator", "op@example.com", "op-pw-1")
    key = token_of(employee)
    client = Client()
    client.force_login(operator)
    data = {
        "username": employee.username,
        "account": employee.account_id,
        "role": employee.role,
        "date_joined_0": employee.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": employee.date_joined.strftime("%H:%M:%S"),
        # "is_active" left out: the box unticked
    }

    response = client.post(reverse("admin:accounts_user_change", args=[employee.pk]), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    employee.refresh_from_db()
    assert not employee.is_active
    assert not Token.objects.filter(key=key).exists()


# --- Throttling -----------------------------------------------------------------------------------


@pytest.fixture
def low_rates(monkeypatch):
    """A limit a test can reach (the test settings raise them out of the suite's way)."""
    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "rate", "3/min", raising=False)
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/min", raising=False)
    yield
    cache.clear()


def test_a_token_is_throttled_with_the_apis_error_shape(low_rates, admin_user, employee):
    CompanyFactory(account=admin_user.account)
    client = token_client(token_of(admin_user))
    for _ in range(3):
        assert client.get(API_PATHS["company"]).status_code == 200

    response = client.get(API_PATHS["company"])

    body = assert_error(response, 429, "throttled")
    assert set(body) == {"detail", "code"}
    assert 0 < int(response["Retry-After"]) <= 60
    # Per user: another user's token is not held back.
    assert token_client(token_of(employee)).get(API_PATHS["company"]).status_code == 200


def test_anonymous_callers_are_throttled_per_address(low_rates, db):
    def ask(address: str):
        return APIClient(REMOTE_ADDR=address).post(
            TOKEN_URL, {"username": "someone", "password": "guess"}, format="json"
        )

    for _ in range(2):
        assert_error(ask("10.1.1.1"), 400, "authorization")
    response = ask("10.1.1.1")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert_error(ask("10.1.1.2"), 400, "authorization")


def test_the_default_rates_come_from_the_environment(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert set(rates) == {"anon", "user"}
    classes = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    assert classes == [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ]
