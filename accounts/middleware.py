from django.http import Http404
from django.shortcuts import redirect, render

from accounts import two_factor
from core.errors import RuleViolation

# The pages someone who still owes the second factor may open: logging in and out, giving or
# setting up the factor, and what anyone may see. The API answers for itself
# (accounts.permissions.SecondFactorVerified: 403 otp_required).
SECOND_FACTOR_EXEMPT = frozenset(
    {
        "login",
        "logout",
        "two_factor_verify",
        "two_factor_setup",
        "enrollment",
        "pricing",
        "health",
        "set_language",
    }
)


class RuleViolationMiddleware:
    """The browser's one place that turns a refused rule into a page with the right status
    (503 with Retry-After during maintenance). The API has its own handler (core.api.errors)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RuleViolation):
            return None
        if exception.code == "not_found":
            raise Http404(exception.message)  # Django's own 404 page, as for a missing id
        response = render(
            request,
            "rule_violation.html",
            {"message": exception.message, "code": exception.code},
            status=exception.status,
        )
        for name, value in exception.headers.items():
            response[name] = value
        return response


class SecondFactorMiddleware:
    """The app-wide net of two-factor authentication (accounts.two_factor): a browser session of
    someone who needs a second factor and has not given it reaches only the pages above; every
    other page sends them to give it (or to set it up), coming back afterwards. Support staff
    thus never see the console, nor admins of an account that requires 2FA their CRM, on the
    password alone. The support console's views check it once more themselves."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if request.path_info.startswith("/api/") or (
            match is not None and match.view_name in SECOND_FACTOR_EXEMPT
        ):
            return None
        user = request.user
        if not two_factor.second_factor_pending(user):
            return None
        return redirect(two_factor.second_factor_url(user, request.get_full_path()))
