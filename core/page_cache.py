"""A page's own part (what its ``content`` block shows) kept whole in the shared cache while
what it shows has not changed, for the pages read again and again: the history and the recycle
bin. Their part costs 15-25 ms to work out at a million events (filters, counts, the chart,
fifty rows); kept, a reload costs the layout and two small reads (issue 18, bench/bin_history.py).

What a part shows is named by its key, made of:
- ``version``: the caller's word that the data changed (history.selectors.history_version:
  the account's newest event and a mark its writers set on commit);
- the reader: the user (what they may see and do), their account's plan and time zone, the
  language, the script prefix, the query string, and today's date in the account's zone (the
  chart's days, the bin's dates);
- and at most ``settings.PAGE_PART_SECONDS`` (0: nothing kept), for anything shown that
  changes without the data changing (a user renamed).

With Redis (``REDIS_URL``) every process shares the parts and the marks. Without it (``make
run``: one web process, each process its own memory), a worker's change still shows at once
by the newest event's id; only an event committed after a newer one waits out the seconds.

Forms in a kept part carry CSRF_PLACEHOLDER as their token; each answer puts its own token in
(``{% csrf_token %}`` reads the context's value). Nothing of the session is ever kept."""

import hashlib
from collections.abc import Callable, Hashable

from django.conf import settings
from django.core.cache import cache
from django.middleware.csrf import get_token
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

# Looks like a token to the template, never like a real one (which is 64 letters and digits).
CSRF_PLACEHOLDER = "csrf-placeholder-kept-part"


def page_part(
    request, *, name: str, version: Hashable, render: Callable[[dict], str]
) -> SafeString:
    """The part ``name`` of this request's page, kept or rendered now by ``render`` (given
    extra context values for its template: the CSRF placeholder)."""
    seconds = settings.PAGE_PART_SECONDS
    key = part_key(request, name=name, version=version)
    html = cache.get(key) if seconds else None
    if html is None:
        html = str(render({"csrf_token": CSRF_PLACEHOLDER}))
        if seconds:
            cache.set(key, html, seconds)
    if CSRF_PLACEHOLDER in html:
        html = html.replace(CSRF_PLACEHOLDER, get_token(request))
    return mark_safe(html)  # noqa: S308 - rendered by the template engine, which escaped it


def part_key(request, *, name: str, version: Hashable) -> str:
    user = request.user
    account = user.account
    reader = (
        version,
        user.pk,
        user.role,
        account.plan,
        account.time_zone,
        get_language(),
        get_script_prefix(),
        request.GET.urlencode(),
        timezone.localdate().isoformat(),
    )
    digest = hashlib.sha256(repr(reader).encode()).hexdigest()[:40]
    return f"page-part:{name}:{account.pk}:{digest}"
