"""Login throttling (django-axes, accounts.lockout): repeated failed logins of one username from
one address lock that pair out, in the browser and on the token endpoint alike, with a clear
sentence and ``429 locked_out`` plus Retry-After on the API; the lockout ends by itself after
the cool-off, or when an operator unlocks it."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import PASSWORD
from crm.tests.factories import assert_error

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
TOKEN_URL = "/api/v1/auth/token/"
LIMIT = 5
COOL_OFF_SECONDS = 15 * 60


def browser_login(username: str, password: str, address: str = "10.0.0.1", **extra):
    return Client(REMOTE_ADDR=address, **extra).post(
        LOGIN, {"username": username, "password": password}
    )


def api_login(username: str, password: str, address: str = "10.0.0.1", **extra):
    return APIClient(REMOTE_ADDR=address, **extra).post(
        TOKEN_URL, {"username": username, "password": password}, format="json"
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/"


def cool_off_passes(minutes: int = 16) -> None:
    """As if the failures happened ``minutes`` ago."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


def test_the_defaults(settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.AXES_COOLOFF_TIME.total_seconds() == COOL_OFF_SECONDS
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_the_browser_locks_a_username_and_address_out_after_five_failures(admin_user):
    for _ in range(LIMIT - 1):
        response = browser_login(admin_user.username, "wrong")
        assert response.status_code == 200  # the form again, with its error
    locking = browser_login(admin_user.username, "wrong")

    assert locking.status_code == 429
    page = locking.content.decode()
    assert "Too many failed logins for this username from your address" in page
    assert "15 more minutes" in page
    assert "an operator can unlock it sooner" in page
    assert int(locking["Retry-After"]) == COOL_OFF_SECONDS
    assert 'id="id_username"' in page and admin_user.username in page  # the form, filled in

    # Locked: even the right password is refused, and no session starts.
    refused = browser_login(admin_user.username, PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in refused.client.session
    # Only that pair: the same username from another address, another username from this one.
    assert logged_in(browser_login(admin_user.username, PASSWORD, address="10.0.0.2"))


def test_another_username_from_the_locked_address_still_logs_in(admin_user, employee):
    for _ in range(LIMIT):
        browser_login(admin_user.username, "wrong")
    assert logged_in(browser_login(employee.username, PASSWORD))


def test_the_lockout_ends_after_the_cool_off(admin_user):
    for _ in range(LIMIT):
        browser_login(admin_user.username, "wrong")
    assert browser_login(admin_user.username, PASSWORD).status_code == 429

    cool_off_passes(minutes=14)
    still = browser_login(admin_user.username, PASSWORD)
    assert still.status_code == 429
    assert 0 < int(still["Retry-After"]) <= 60  # about a minute left
    assert "1 more minute;" in still.content.decode()

    cool_off_passes(minutes=2)
    assert logged_in(browser_login(admin_user.username, PASSWORD))
    assert not AccessAttempt.objects.exists()  # a success forgets the failures


def test_attempts_during_the_lockout_do_not_extend_it(admin_user):
    for _ in range(LIMIT):
        browser_login(admin_user.username, "wrong")
    cool_off_passes(minutes=10)
    for _ in range(3):
        assert browser_login(admin_user.username, "wrong").status_code == 429
    cool_off_passes(minutes=6)
    assert logged_in(browser_login(admin_user.username, PASSWORD))


def test_fewer_failures_than_the_limit_are_forgiven_by_a_success(admin_user):
    for _ in range(LIMIT - 1):
        browser_login(admin_user.username, "wrong")
    assert logged_in(browser_login(admin_user.username, PASSWORD))
    for _ in range(LIMIT - 1):
        browser_login(admin_user.username, "wrong")
    assert logged_in(browser_login(admin_user.username, PASSWORD))


def test_the_token_endpoint_locks_out_with_429_and_retry_after(admin_user):
    for _ in range(LIMIT - 1):
        assert_error(api_login(admin_user.username, "wrong"), 400, "authorization")
    locking = api_login(admin_user.username, "wrong")

    body = assert_error(locking, 429, "locked_out")
    assert "Too many failed logins" in body["detail"]
    assert set(body) == {"detail", "code"}
    assert int(locking["Retry-After"]) == COOL_OFF_SECONDS
    right = api_login(admin_user.username, PASSWORD)
    assert_error(right, 429, "locked_out")
    assert not Token.objects.exists()

    cool_off_passes()
    assert api_login(admin_user.username, PASSWORD).status_code == 200


def test_browser_and_api_failures_count_together(admin_user):
    for _ in range(3):
        browser_login(admin_user.username, "wrong")
    api_login(admin_user.username, "wrong")
    assert_error(api_login(admin_user.username, "wrong"), 429, "locked_out")
    assert browser_login(admin_user.username, PASSWORD).status_code == 429


def test_unknown_usernames_are_locked_out_the_same(db):
    for _ in range(LIMIT):
        api_login("nobody", "guess")
    assert_error(api_login("nobody", "guess"), 429, "locked_out")


def test_an_operator_unlocks_with_axes_reset_username(admin_user):
    for _ in range(LIMIT):
        browser_login(admin_user.username, "wrong")
    assert browser_login(admin_user.username, PASSWORD).status_code == 429

    call_command("axes_reset_username", admin_user.username)

    assert logged_in(browser_login(admin_user.username, PASSWORD))


def test_an_operator_unlocks_everything_with_axes_reset(admin_user):
    for _ in range(LIMIT):
        api_login(admin_user.username, "wrong")
    call_command("axes_reset")
    assert api_login(admin_user.username, PASSWORD).status_code == 200


def test_behind_a_proxy_the_forwarded_address_counts(admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(LIMIT):
        browser_login(
            admin_user.username,
            "wrong",
            address="172.18.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",  # a forged entry, then the client
        )
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"
    other_client = browser_login(
        admin_user.username, PASSWORD, address="172.18.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert logged_in(other_client)


def test_without_a_trusted_proxy_the_header_is_ignored(admin_user):
    browser_login(admin_user.username, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert AccessAttempt.objects.get().ip_address == "10.0.0.1"


def test_the_password_is_never_stored_with_the_attempt(admin_user):
    browser_login(admin_user.username, "hunter2-secret")
    api_login(admin_user.username, "hunter2-secret")
    for attempt in AccessAttempt.objects.all():
        assert "hunter2-secret" not in attempt.post_data
        assert "hunter2-secret" not in attempt.get_data
