"""API authentication: DRF's token, which also tells whether it was issued after a second factor
(accounts.two_factor), so support staff's tokens count as verified and others' do not."""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from accounts import two_factor


class SecondFactorTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``. An inactive user's token is refused at once (401), as
    DRF does, and so is one issued before the user's password last changed; the user gets
    ``otp_device`` and ``is_verified()`` as django-otp's middleware gives them to a browser
    session."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            # The user's account with it: every call reads it (its plan, its tenancy).
            token = model.objects.select_related("user__account", "second_factor").get(key=key)
        except model.DoesNotExist:
            raise AuthenticationFailed(_("Invalid token.")) from None
        user = token.user
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        if user.token_predates_password(token.created):
            raise AuthenticationFailed(_("Invalid token."))
        user.otp_device = two_factor.token_verified_device(token)
        user.is_verified = functools.partial(two_factor.second_factor_verified, user)
        return user, token


class AccountModelBackend(ModelBackend):
    """Django's ModelBackend, reading a signed-in user's account with the user (every page
    reads it: one query a request fewer)."""

    def get_user(self, user_id):
        model = get_user_model()
        try:
            user = model._default_manager.select_related("account").get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
