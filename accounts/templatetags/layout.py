"""Parts of pages that read the same for everyone who gives them the same values, rendered
once per those values and the language and then kept in this process: ``{% main_nav %}`` (the
main navigation, ``templates/_main_nav.html``), ``{% footer_links %}`` and ``{% language_buttons
%}`` (the footer's), and ``{% render_once "name.html" key=value... %}`` (a list's filter form).
Through the template engine on every page the layout's links and translations took about half
of its 8 ms, a filter form 2 ms (issue 18, bench/bin_history.py). What is rendered this way
sees only the values it is given (no request, no CSRF token)."""

import functools
from collections.abc import Hashable
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.functional import Promise
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


@register.simple_tag
def render_once(template_name: str, **values: Any) -> SafeString:
    return _rendered(template_name, **{name: _frozen(value) for name, value in values.items()})


def _frozen(value: Any) -> Hashable:
    """``value`` as a key: lists and tuples as tuples, dicts as sorted pairs, text as str
    (a lazy translation in the active language). Anything else must be hashable already."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return FrozenDict((key, _frozen(item)) for key, item in sorted(value.items()))
    if isinstance(value, Promise):
        return str(value)
    return value


class FrozenDict(tuple):
    """A dict's items as a key, read in the template as the dict (``form.search``)."""

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            for name, value in self:
                if name == key:
                    return value
            raise KeyError(key)
        return super().__getitem__(key)


def _rendered(template_name: str, **values: Any) -> SafeString:
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
