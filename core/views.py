"""Access mixins of the browser pages."""

from zoneinfo import ZoneInfo

from django.contrib.auth.mixins import AccessMixin
from django.template.response import SimpleTemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy


class MemberRequiredMixin(AccessMixin):
    """Every CRM page: a logged-in member of an account. Anonymous visitors are sent to the login
    page; support staff and operators (no account) get 403."""

    permission_denied_message = gettext_lazy(
        "The CRM pages are for members of an account. Support staff use the support console."
    )

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_account_member):
            return self.handle_no_permission()
        self.account = user.account
        # Times are shown and entered in the account's time zone; render inside it.
        with timezone.override(ZoneInfo(self.account.time_zone)):
            self.member_checked()
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
        return response

    def member_checked(self) -> None:
        """Runs once the caller is known to be a member, before the method's handler."""
