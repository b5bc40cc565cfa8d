"""The layout's parts that read the same for everyone of a role, rendered once per role,
current page, plan and language and then kept in this process: ``{% main_nav %}`` (the main
navigation, ``templates/_main_nav.html``), ``{% footer_links %}`` and ``{% language_buttons
%}`` (the footer's). Through the template engine on every page their links and translations
took about half of the layout's 8 ms (issue 18, bench/bin_history.py)."""

import functools

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()


@register.simple_tag(takes_context=True)
def main_nav(context) -> SafeString | str:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return ""
    if user.is_account_member:
        role = "admin" if user.is_account_admin else "employee"
    elif user.is_support:
        role = "support"
    else:
        return ""
    alerts = bool(context.get("plan_features", {}).get("change_alerts"))
    return _rendered("_main_nav.html", role=role, nav=context.get("nav") or "", alerts=alerts)


@register.simple_tag
def footer_links() -> SafeString:
    return _rendered("_footer_links.html")


@register.simple_tag
def language_buttons() -> SafeString:
    return _rendered("_language_buttons.html")


def _rendered(template_name: str, **values: str | bool) -> SafeString:
    """``template_name`` rendered with ``values`` alone; the language and the script prefix
    are part of what it depends on (its words and its links)."""
    return _render(template_name, get_language(), get_script_prefix(), tuple(values.items()))


@functools.lru_cache(maxsize=1024)
def _render(
    template_name: str,
    language: str | None,
    prefix: str,
    values: tuple[tuple[str, str | bool], ...],
) -> SafeString:
    return render_to_string(template_name, dict(values))
