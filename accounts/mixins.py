"""Access mixins of accounts for other apps' pages (their views may not import accounts.views)."""

from django.shortcuts import redirect

from accounts import two_factor


class SecondFactorRequiredMixin:
    """For every view of a page that needs the second factor when its user does (the support
    console and portal): someone who still owes it is sent to give it, whatever the middleware
    (accounts.middleware.SecondFactorMiddleware, the app-wide net) lets through. List it first,
    before the view's own access mixin."""

    def dispatch(self, request, *args, **kwargs):
        if two_factor.second_factor_pending(request.user):
            return redirect(two_factor.second_factor_url(request.user, request.get_full_path()))
        return super().dispatch(request, *args, **kwargs)
