"""Two-factor authentication (accounts.two_factor): support staff enrol through their one-time
link (accounts.enrollment; tests in test_enrollment.py) and give the authenticator app's code at
every login, in the browser and for an API token; admins may enrol by choice, and an account may
require it of its admins."""

import re
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import enrollment, two_factor
from accounts.models import TokenSecondFactor
from accounts.services import user_create
from conftest import PASSWORD, login_client, totp_code, totp_enrol
from crm.tests.factories import API_PATHS, assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
SUPPORT_API = "/api/v1/support/requests/"
SETUP = reverse("two_factor_setup")
VERIFY = reverse("two_factor_verify")
CODES = reverse("two_factor_recovery_codes")
SECURITY = reverse("security")
CONSOLE = reverse("support:console")


@pytest.fixture
def new_support_user(db):
    """Support staff on their first day: no authenticator app yet."""
    return user_create(
        username="new-support",
        password=PASSWORD,
        account=None,
        is_support=True,
        check_password=False,
    )


def password_login(user) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def token_for(user, **extra):
    return APIClient().post(
        TOKEN_URL, {"username": user.username, "password": PASSWORD, **extra}, format="json"
    )


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def current_code(device: TOTPDevice) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def link_login(user) -> Client:
    """A session that followed the user's enrolment link and chose the password PASSWORD."""
    client = Client()
    key = enrollment.enrollment_link_issue(user=user)
    response = client.post(
        reverse("enrollment", args=[key]), {"new_password1": PASSWORD, "new_password2": PASSWORD}
    )
    assert response.status_code == 302, response.content
    return client


# --- Enrolment through the link ------------------------------------------------------------------


def test_support_staff_enrol_through_their_link(new_support_user):
    client = link_login(new_support_user)

    response = client.get(CONSOLE)
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fconsole%2F"

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=new_support_user, confirmed=False)
    assert "otpauth://totp/CRM%3Anew-support?secret=" in html  # the URI, for a phone's link
    assert re.search(r"<svg[^>]*>.*</svg>", html, re.S)  # the QR code, drawn on the server
    assert two_factor.totp_secret(device) in html  # the key, to type in by hand
    assert "style=" not in html and "<script>" not in html  # works under the CSP

    wrong = client.post(SETUP, {"code": "000000", "next": "/console/"})
    assert wrong.status_code == 400
    assert "does not match" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=new_support_user, confirmed=True).exists()
    device.throttling_failure_count = 0  # the wrong code's delay is not this test's subject
    device.save()

    done = client.post(SETUP, {"code": current_code(device), "next": "/console/"})
    assert done.status_code == 302
    assert done["Location"] == f"{CODES}?next=%2Fconsole%2F"
    codes_page = client.get(done["Location"]).content.decode()
    codes = list(StaticToken.objects.filter(device__user=new_support_user))
    assert len(codes) == 10
    assert all(code.token in codes_page for code in codes)
    assert 'href="/console/"' in codes_page
    # Saved in a click (issue 18): a text file of them all, and a Copy button (copy.js).
    assert 'download="crm-recovery-codes.txt"' in codes_page
    assert all(quote(code.token) in codes_page.split("data:text/plain")[1] for code in codes)
    assert 'data-copy="recovery-codes"' in codes_page
    # Shown once: the next visit has nothing to show.
    assert client.get(CODES)["Location"] == SECURITY

    assert client.get(CONSOLE).status_code == 200  # this session gave the factor


def test_the_setup_page_shows_the_same_key_until_confirmed(new_support_user):
    client = link_login(new_support_user)
    client.get(SETUP)
    client.get(SETUP)
    assert TOTPDevice.objects.filter(user=new_support_user).count() == 1


def test_an_enrolled_user_cannot_enrol_again_on_the_password_alone(support_user):
    client = password_login(support_user)
    response = client.get(SETUP)
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    assert client.post(SETUP, {"code": "123456"})["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=support_user).count() == 1


def test_a_new_authenticator_replaces_the_old_one_and_its_recovery_codes(support_user):
    client = login_client(support_user)
    old = TOTPDevice.objects.get(user=support_user)
    old_codes = two_factor.recovery_codes_renew(user=support_user)
    client.get(SETUP)
    new = TOTPDevice.objects.get(user=support_user, confirmed=False)

    response = client.post(SETUP, {"code": current_code(new)})

    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=support_user)) == [new]
    assert not StaticToken.objects.filter(token__in=old_codes).exists()
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()


# --- Every login asks for the code ---------------------------------------------------------------


def test_an_enrolled_user_gives_the_code_after_the_password(support_user):
    client = password_login(support_user)
    assert client.get(CONSOLE)["Location"] == f"{VERIFY}?next=%2Fconsole%2F"

    wrong = client.post(VERIFY, {"code": "12345", "next": "/console/"})
    assert wrong.status_code == 400
    assert "not valid" in wrong.content.decode()
    assert client.get(CONSOLE).status_code == 302
    TOTPDevice.objects.filter(user=support_user).update(throttling_failure_count=0)

    right = client.post(VERIFY, {"code": totp_code(support_user), "next": "/console/"})
    assert right.status_code == 302
    assert right["Location"] == "/console/"
    assert client.get(CONSOLE).status_code == 200


def test_a_code_works_once(support_user):
    code = totp_code(support_user)
    first = password_login(support_user)
    assert first.post(VERIFY, {"code": code})["Location"] == "/"
    second = password_login(support_user)
    assert second.post(VERIFY, {"code": code}).status_code == 400


def test_a_recovery_code_works_once_and_says_how_many_are_left(support_user):
    codes = two_factor.recovery_codes_renew(user=support_user)
    client = password_login(support_user)

    response = client.post(VERIFY, {"code": codes[0].upper()}, follow=True)

    assert response.redirect_chain[0][0] == "/"
    assert "9 are left" in response.content.decode()
    again = password_login(support_user)
    assert again.post(VERIFY, {"code": codes[0]}).status_code == 400


def test_next_never_leads_off_the_site(support_user):
    client = password_login(support_user)
    response = client.post(
        VERIFY, {"code": totp_code(support_user), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_the_pages_before_the_factor_are_few(support_user):
    client = password_login(support_user)
    for open_page in (VERIFY, reverse("pricing"), reverse("health")):
        assert client.get(open_page).status_code == 200, open_page
    for closed_page in (SECURITY, reverse("home"), reverse("support:notifications")):
        assert client.get(closed_page)["Location"].startswith(VERIFY), closed_page
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


# --- Admins: by choice, or because the account requires it -------------------------------------


def test_admins_need_no_second_factor_by_default(admin_user):
    client = password_login(admin_user)
    assert client.get(reverse("crm:dashboard")).status_code == 200
    assert token_for(admin_user).status_code == 200


def test_an_admin_enrols_by_choice_and_is_asked_from_then_on(admin_user):
    client = password_login(admin_user)
    assert "Set up two-factor authentication" in client.get(SECURITY).content.decode()
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=admin_user)
    assert client.post(SETUP, {"code": current_code(device)}).status_code == 302
    assert client.get(reverse("crm:dashboard")).status_code == 200

    later = password_login(admin_user)
    assert later.get(reverse("crm:dashboard"))["Location"].startswith(VERIFY)
    # The API with that half-logged-in session, too.
    assert_error(later.get(API_PATHS["company"]), 403, "otp_required")
    assert_error(token_for(admin_user), 403, "otp_required")
    assert token_for(admin_user, otp=totp_code(admin_user)).status_code == 200


def test_an_admin_may_turn_it_off_but_support_staff_may_not(admin_user, support_user):
    totp_enrol(admin_user)
    admin = login_client(admin_user)
    admin.post(SECURITY, {"action": "disable"})
    assert not two_factor.second_factor_enrolled(admin_user)

    support = login_client(support_user)
    response = support.post(SECURITY, {"action": "disable"}, follow=True)
    assert "cannot be turned off" in response.content.decode()
    assert two_factor.second_factor_enrolled(support_user)


def test_new_recovery_codes_void_the_old_ones(support_user):
    old = two_factor.recovery_codes_renew(user=support_user)
    client = login_client(support_user)
    response = client.post(SECURITY, {"action": "recovery_codes"}, follow=True)
    new = list(
        StaticToken.objects.filter(device__user=support_user).values_list("token", flat=True)
    )
    assert set(old).isdisjoint(new)
    assert all(code in response.content.decode() for code in new)


def test_an_account_requires_it_of_its_admins(account, admin_user, employee):
    totp_enrol(admin_user)
    client = login_client(admin_user)
    response = client.post(SECURITY, {"action": "require"}, follow=True)
    assert "now needs two-factor authentication" in response.content.decode()
    account.refresh_from_db()
    assert account.require_2fa_for_admins

    second_admin = user_create(
        username="acme-admin-2",
        password=PASSWORD,
        account=account,
        role="admin",
        check_password=False,
    )
    fresh = password_login(second_admin)
    assert fresh.get(reverse("crm:dashboard"))["Location"].startswith(SETUP)
    assert_error(fresh.get(API_PATHS["company"]), 403, "otp_required")
    assert_error(token_for(second_admin), 403, "otp_required")
    # An earlier token stops working for them too, until one is issued with a code.
    old_token = Token.objects.create(user=second_admin)
    assert_error(token_client(old_token.key).get(API_PATHS["company"]), 403, "otp_required")
    # Employees are not concerned.
    assert password_login(employee).get(reverse("crm:dashboard")).status_code == 200


def test_requiring_it_takes_an_admin_who_has_it(account, admin_user, employee):
    response = login_client(admin_user).post(SECURITY, {"action": "require"}, follow=True)
    assert "Set up two-factor authentication for yourself first" in response.content.decode()
    login_client(employee).post(SECURITY, {"action": "require"})
    account.refresh_from_db()
    assert not account.require_2fa_for_admins


# --- API tokens ----------------------------------------------------------------------------------


def test_support_staff_get_a_token_only_with_a_code(support_user):
    missing = assert_error(token_for(support_user), 403, "otp_required")
    assert "otp" in missing["detail"]
    assert_error(token_for(support_user, otp="000000"), 403, "otp_invalid")
    assert not Token.objects.filter(user=support_user).exists()

    TOTPDevice.objects.filter(user=support_user).update(throttling_failure_count=0)
    response = token_for(support_user, otp=totp_code(support_user))

    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert TokenSecondFactor.objects.get(token_id=token).device_id == (
        TOTPDevice.objects.get(user=support_user).persistent_id
    )
    assert token_client(token).get(SUPPORT_API).status_code == 200


def test_a_recovery_code_gets_a_token_too(support_user):
    codes = two_factor.recovery_codes_renew(user=support_user)
    response = token_for(support_user, otp=codes[3])
    assert response.status_code == 200
    assert token_client(response.json()["token"]).get(SUPPORT_API).status_code == 200


def test_support_staff_without_an_app_are_told_to_set_it_up(new_support_user):
    body = assert_error(token_for(new_support_user, otp="123456"), 403, "otp_required")
    assert "browser" in body["detail"]


def test_a_token_made_without_the_factor_does_not_pass(support_user):
    token = Token.objects.create(user=support_user)  # by an operator, say
    assert_error(token_client(token.key).get(SUPPORT_API), 403, "otp_required")


def test_a_token_stops_passing_when_its_device_goes(support_user):
    token = token_for(support_user, otp=totp_code(support_user)).json()["token"]
    TOTPDevice.objects.filter(user=support_user).delete()  # an operator reset their 2FA
    assert_error(token_client(token).get(SUPPORT_API), 403, "otp_required")


def test_setting_up_an_app_revokes_the_older_token(admin_user):
    token = token_for(admin_user).json()["token"]
    client = login_client(admin_user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=admin_user)
    client.post(SETUP, {"code": current_code(device)})
    assert_error(token_client(token).get(API_PATHS["company"]), 401, "authentication_failed")


def test_the_schema_documents_otp(api_as, db):
    schema = api_as(None).get("/api/v1/schema/?format=json").json()
    token = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert "otp_required" in token["description"]
    assert "locked_out" in token["description"]
    body = token["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
    assert "otp" in schema["components"]["schemas"][body]["properties"]
    assert {"403", "429"} <= set(token["responses"])
    assert "/api/v1/auth/logout/" in schema["paths"]


def test_an_operator_resets_a_users_second_factor_in_the_admin(support_user):
    """Lost phone and codes: the operator deletes the devices; keys are never shown there."""
    codes = two_factor.recovery_codes_renew(user=support_user)
    device = TOTPDevice.objects.get(user=support_user)
    operator = type(support_user).objects.create_superuser("operator", "op@example.com", "op-pw-1")
    client = Client()
    client.force_login(operator)
    for model in ("otp_totp/totpdevice", "otp_static/staticdevice", "axes/accessattempt"):
        assert client.get(f"/admin/{model}/").status_code == 200, model
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page
    static = StaticToken.objects.filter(device__user=support_user).first().device
    static_page = client.get(f"/admin/otp_static/staticdevice/{static.pk}/change/")
    assert not any(code in static_page.content.decode() for code in codes)

    client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    client.post(f"/admin/otp_static/staticdevice/{static.pk}/delete/", {"post": "yes"})

    assert not two_factor.second_factor_enrolled(support_user)
    fresh = password_login(support_user)
    assert fresh.get(CONSOLE)["Location"].startswith(SETUP)  # they set up a new app
