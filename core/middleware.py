"""Answers meant for one signed-in person are not kept by browsers or proxies; an API body
over the limit gets the API's error."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _


class NoStoreForSignedInMiddleware:
    """``Cache-Control: no-store`` on every answer to a signed-in caller (pages, API answers,
    exports; by session or by token: the API's authentication sets ``request.user`` on the
    request this middleware sees), or to any request that carried credentials. A shared
    computer's back button or a proxy then has nothing of theirs to show."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in or "HTTP_AUTHORIZATION" in request.META:
            patch_cache_control(response, no_store=True)
        return response


class ApiBodyLimitMiddleware:
    """A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` sent to the API gets the API's own error,
    ``413 {"detail", "code": "too_large"}``, before anything reads it (Django would answer an
    HTML 400 from whichever part touched the body first). Pages keep Django's answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path.startswith(settings.API_PATH_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return JsonResponse(
                    {
                        "detail": _("The request body is too large: at most %(limit)s bytes.")
                        % {"limit": limit},
                        "code": "too_large",
                    },
                    status=413,
                )
        return self.get_response(request)
