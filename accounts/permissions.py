from django.utils.translation import gettext as _
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from accounts import two_factor


class IsAccountMember(BasePermission):
    """The default for every API view: an authenticated member of an account. Support staff and
    operators have no account and reach accounts only through /api/v1/support/."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not user.is_account_member:
            raise PermissionDenied(
                detail=_(
                    "This endpoint acts inside an account; support staff use /api/v1/support/."
                ),
                code="account_required",
            )
        return True


class SecondFactorVerified(BasePermission):
    """Everyone who needs a second factor has given it (accounts.two_factor): support staff
    always, admins of an account that requires it, and, in a browser session, anyone who
    enrolled. A token counts as verified when it was issued with a code (setting up an
    authenticator revokes the older token). Refused with ``403 otp_required``.

    Part of the API's default permissions and of every /api/v1/support/ view."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated or two_factor.second_factor_verified(user):
            return True
        via_session = isinstance(request.successful_authenticator, SessionAuthentication)
        if two_factor.second_factor_required(user):
            raise PermissionDenied(detail=_otp_required_message(via_session), code="otp_required")
        if via_session and two_factor.second_factor_enrolled(user):
            raise PermissionDenied(detail=_otp_required_message(True), code="otp_required")
        return True


def _otp_required_message(via_session: bool) -> str:
    if via_session:
        return _(
            "Two-factor authentication is needed: enter the code of your authenticator app "
            "in the browser first."
        )
    return _(
        "Two-factor authentication is needed: ask for a new token at /api/v1/auth/token/ "
        "with otp, a current code of your authenticator app or a recovery code."
    )
