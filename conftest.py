"""Fixtures shared by every test: two accounts with their users, support staff, API clients.

Support staff need a second factor everywhere (accounts.two_factor): the ``support_user``
fixture has a confirmed authenticator app, ``api_as(user)`` gives a client with a token issued
after that factor, ``login_client(user)`` a browser client whose session gave it, and
``totp_code(user)`` the code the app would show now (for the login page in a real browser).
``api_as(user, verified=False)`` / ``login_client(user, verified=False)`` skip the factor."""

import time

import django_otp
import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts import two_factor
from accounts.models import Account, User
from accounts.services import account_create, user_create

PASSWORD = "correct horse battery staple"


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
