"""Login lockout (django-axes, settings AXES_*): after AXES_FAILURE_LIMIT failed logins of one
username from one address, that pair is refused for AXES_COOLOFF_TIME. Here: how axes reads the
username and the address, and the one answer to a locked-out login, for the browser (the login
page with a sentence, 429) and the API (``429 {detail, code: "locked_out"}`` with Retry-After).
Operators unlock with ``manage.py axes_reset_username NAME`` or ``axes_reset``."""

import math

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext

USERNAME_FIELD = "username"


def attempted_username(request, credentials) -> str | None:
    """The username as typed; NUL characters (which no database column takes) dropped."""
    username = (credentials or {}).get(USERNAME_FIELD)
    if username is None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        username = data.get(USERNAME_FIELD) if hasattr(data, "get") else None
    if not isinstance(username, str):
        return None
    return username.replace("\x00", "")[:150]


def client_ip(request) -> str | None:
    """The address of the client: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the
    address the outermost proxy saw (X-Forwarded-For counted from the right: entries to the
    left of it could be anything the client sent)."""
    meta = request.META
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return meta.get("REMOTE_ADDR")


def lockout_seconds_left(request, username: str | None) -> int:
    """Seconds until the pair may log in again (the whole cool-off if the attempt is unknown)."""
    from axes.models import AccessAttempt

    cool_off = settings.AXES_COOLOFF_TIME
    latest = (
        AccessAttempt.objects.filter(username=username, ip_address=client_ip(request))
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if latest is None:
        return int(cool_off.total_seconds())
    left = (latest + cool_off - timezone.now()).total_seconds()
    return max(1, math.ceil(left))


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed logins for this username from your address. Logging in is blocked "
        "for %(minutes)s more minute; an operator can unlock it sooner.",
        "Too many failed logins for this username from your address. Logging in is blocked "
        "for %(minutes)s more minutes; an operator can unlock it sooner.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: what a locked-out login attempt gets back."""
    username = attempted_username(request, credentials)
    seconds = lockout_seconds_left(request, username)
    message = lockout_message(seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "code": "locked_out"}, status=429)
    else:
        from django.contrib.auth.forms import AuthenticationForm

        form = AuthenticationForm(request, initial={USERNAME_FIELD: username or ""})
        response = render(
            request,
            "registration/login.html",
            {"form": form, "locked_out": message, "next": request.POST.get("next", "")},
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response
