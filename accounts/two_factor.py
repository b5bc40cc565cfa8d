"""Two-factor authentication (django-otp): who needs a second factor, and every change to one.

- Support staff always need one: they can roll back any customer's account.
- Account admins need one when their account requires it (``Account.require_2fa_for_admins``).
- Anyone who enrolled (from the Security page) has chosen to need one.

A person who needs one and has not given it in this session (``request.user.is_verified()``,
set by django_otp's OTPMiddleware) reaches only the login, the 2FA pages and the logout; the
support console and the API refuse them (accounts.middleware, support.views, accounts.permissions).
The second factor is a TOTP authenticator app, with single-use recovery codes for a lost phone.
API tokens carry the factor they were issued with (accounts.models.TokenSecondFactor)."""

from base64 import b32encode

import segno
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from accounts.models import Account, TokenSecondFactor, User
from core.errors import RuleViolation

TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


# --- Who needs what ----------------------------------------------------------------------------


def second_factor_required(user) -> bool:
    """Must enrol before using the product: support staff, and admins of accounts requiring it."""
    if not user.is_authenticated:
        return False
    if user.is_support:
        return True
    return bool(user.is_account_admin and user.account.require_2fa_for_admins)


def second_factor_enrolled(user) -> bool:
    """Has a confirmed authenticator app (recovery codes come with it, never alone). Asked on
    every page (accounts.middleware): plain SQL, which the database answers in less time than
    the ORM took to build the query."""
    if not user.is_authenticated:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {TOTPDevice._meta.db_table} "  # noqa: S608 - the model's names
            "WHERE user_id = %s AND confirmed LIMIT 1",
            [user.pk],
        )
        return cursor.fetchone() is not None


def second_factor_needed(user) -> bool:
    """Has to give a second factor to be let in (required, or enrolled by choice)."""
    return second_factor_required(user) or second_factor_enrolled(user)


def second_factor_verified(user) -> bool:
    """Gave it: in this browser session (OTPMiddleware), or when the API token was issued
    (accounts.authentication)."""
    return getattr(user, "otp_device", None) is not None


def second_factor_pending(user) -> bool:
    """Logged in with the password, and still owes the second factor."""
    return user.is_authenticated and not second_factor_verified(user) and second_factor_needed(user)


def second_factor_url(user, next_url: str = "") -> str:
    """Where someone who owes the second factor goes: the code, or enrolment if they have none."""
    name = "two_factor_verify" if second_factor_enrolled(user) else "two_factor_setup"
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


# --- Enrolment ----------------------------------------------------------------------------------


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator the enrolment page shows (the same one until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def totp_secret(device: TOTPDevice) -> str:
    """The key as people type it into an app without a camera: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code (attributes only: fine under the CSP)."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=4, border=2, dark="#111827", light="#ffffff", title=_("QR code")
    )


@transaction.atomic
def totp_enrol_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the pending authenticator with a code it shows now. It replaces any earlier one,
    with new recovery codes (returned: shown once). None if the code does not match."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token(_digits(code)):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    # A token issued before needs the new factor: the next one is asked for with a code.
    token_revoke(user=user)
    return recovery_codes_renew(user=user)


@transaction.atomic
def recovery_codes_renew(*, user: User) -> list[str]:
    """New single-use recovery codes; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.OTP_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def second_factor_remove(*, user: User) -> None:
    """Turn two-factor authentication off (by choice only: not when it is required)."""
    if second_factor_required(user):
        raise RuleViolation(
            code="invalid",
            message=_(
                "Two-factor authentication is required for you; it cannot be turned off. "
                "You can set up a new authenticator app instead."
            ),
        )
    for device in devices_for_user(user, confirmed=None):
        device.delete()


# --- Verification -------------------------------------------------------------------------------


def second_factor_match(*, user: User, code: str) -> Device | None:
    """The device that accepts ``code``: a current authenticator code or an unused recovery
    code (used up by this). Each device throttles wrong codes (growing delays)."""
    code = (code or "").strip().replace(" ", "").lower()
    if not code or len(code) > 16:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            token = _digits(code) if isinstance(device, TOTPDevice) else code
            if token and device.verify_token(token):
                return device
    return None


def _digits(code: str) -> str:
    code = (code or "").strip().replace(" ", "")
    return code if code.isdigit() and len(code) <= 8 else ""


def token_verified_device(token: Token) -> Device | None:
    """The device an API token was issued with, while it is still the user's and confirmed."""
    try:
        factor = token.second_factor
    except TokenSecondFactor.DoesNotExist:
        return None
    device = Device.from_persistent_id(factor.device_id)
    if device is None or device.user_id != token.user_id or not device.confirmed:
        return None
    return device


def token_issue(*, user: User, device: Device | None) -> Token:
    """The user's API token (one per user, as DRF keeps it), marked with the second factor
    given now; without one, the mark of an earlier factor is dropped."""
    token, _created = Token.objects.get_or_create(user=user)
    if user.token_predates_password(token.created):  # ended by a new password: a new one
        token.delete()
        token = Token.objects.create(user=user)
    if device is not None:
        TokenSecondFactor.objects.update_or_create(
            token=token, defaults={"device_id": device.persistent_id}
        )
    else:
        TokenSecondFactor.objects.filter(token=token).delete()
    return token


def token_revoke(*, user: User) -> int:
    """Delete the user's API token(s): every call with it answers 401 from now on."""
    deleted, _per_model = Token.objects.filter(user=user).delete()
    return deleted


def account_require_second_factor(*, account: Account, actor: User, required: bool) -> Account:
    """An admin requires (or stops requiring) two-factor authentication for the account's
    admins. Requiring it takes an admin who has it, so nobody locks the account out blind."""
    if not actor.is_account_admin or actor.account_id != account.pk:
        raise RuleViolation(code="admin_only", message=_("Only account admins may do this."))
    if required and not second_factor_verified(actor):
        raise RuleViolation(
            code="invalid",
            message=_(
                "Set up two-factor authentication for yourself first; then you can require "
                "it for every admin of the account."
            ),
        )
    Account.objects.filter(pk=account.pk).update(require_2fa_for_admins=required)
    account.require_2fa_for_admins = required
    return account
