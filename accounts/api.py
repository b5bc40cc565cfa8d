"""``/api/v1/auth/``: API tokens, issued after the password (and the second factor, for whoever
needs one), and revoked by logging out."""

from django.contrib.auth import authenticate, logout
from django.contrib.auth.signals import user_logged_in
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import two_factor
from accounts.lockout import lockout_message, lockout_seconds_left
from core.api.serializers import BodySerializer


class LockedOut(APIException):
    """Too many failed logins of this username from this address (accounts.lockout)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, *, seconds: int) -> None:
        super().__init__(detail=lockout_message(seconds), code="locked_out")
        self.wait = seconds  # DRF's exception handler sends it as Retry-After


class TokenRequestSerializer(BodySerializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    otp = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=32,
        help_text=gettext_lazy(
            "For support staff and everyone else with two-factor authentication: the current "
            "code of the authenticator app, or one of the recovery codes (each works once)."
        ),
    )


OBTAIN_HELP = """\
Exchange a username and password for the API token (one per user; asking again gives the same
token until it is revoked by `POST /api/v1/auth/logout/`).

Support staff, admins of an account that requires two-factor authentication, and everyone who
set it up must also send `otp`: a current code of their authenticator app or a recovery code.
Without it the answer is `403 otp_required` (also when two-factor authentication still has to
be set up, in the browser); a wrong code answers `403 otp_invalid`.

Failed logins count per username and address: after too many, that pair is refused for a while
with `429 locked_out` and a `Retry-After` header (seconds), whatever the password.
"""


@method_decorator(sensitive_post_parameters("password", "otp"), name="dispatch")
class TokenObtainView(APIView):
    """``POST /api/v1/auth/token/`` ``{username, password, otp?}`` -> ``{token}``."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # a stale Authorization header must not stand in the way
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Get an API token",
        description=OBTAIN_HELP,
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username = body.validated_data["username"]
        # The plain HttpRequest, so django-axes counts this attempt like a browser login.
        http_request = request._request
        user = authenticate(
            request=http_request, username=username, password=body.validated_data["password"]
        )
        if user is None:
            if getattr(http_request, "axes_locked_out", False):
                raise LockedOut(seconds=lockout_seconds_left(http_request, username))
            raise serializers.ValidationError(
                _("Unable to log in with provided credentials."), code="authorization"
            )
        device = self._second_factor(user, body.validated_data.get("otp", ""))
        user_logged_in.send(sender=user.__class__, request=http_request, user=user)
        token = two_factor.token_issue(user=user, device=device)
        return Response({"token": token.key})

    @staticmethod
    def _second_factor(user, otp: str):
        if not two_factor.second_factor_needed(user):
            return None
        if not two_factor.second_factor_enrolled(user):
            raise PermissionDenied(
                _(
                    "Two-factor authentication is required for you and not set up yet: log in "
                    "in the browser to set it up, then ask for a token with otp."
                ),
                code="otp_required",
            )
        if not otp:
            raise PermissionDenied(
                _(
                    "Two-factor authentication is on for you: send otp too, the current code "
                    "of your authenticator app or a recovery code."
                ),
                code="otp_required",
            )
        device = two_factor.second_factor_match(user=user, code=otp)
        if device is None:
            raise PermissionDenied(
                _("That code is not valid. Send the current code of your authenticator app."),
                code="otp_invalid",
            )
        return device


class LogoutView(APIView):
    """``POST /api/v1/auth/logout/``: the caller's token is deleted (every call with it answers
    401 from now on). Called with the browser session, it ends the session as well."""

    permission_classes = [IsAuthenticated]  # support staff and unverified callers may log out too
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Log out: revoke your API token",
        request=None,
        responses={204: None},
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        two_factor.token_revoke(user=request.user)
        if isinstance(request.successful_authenticator, SessionAuthentication):
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
