"""Active filters as removable chips, for the pages that filter through a django-filter
FilterSet (the recycle bin, the history). Every filter in the query string gets a chip, valid
or not, so a filtered list never passes for a complete one; each chip links to the same query
without that one value."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

# Paging positions are meaningless once the filters change.
PAGING_PARAMS = ("page", "before", "after")
PLAIN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Chip:
    name: str
    label: str
    value: str
    remove_url: str
    invalid: bool = False


def filter_values(params: QueryDict, name: str, *, comma_list: bool = False) -> list[str]:
    """The non-empty values of ``name``; ``comma_list`` also splits ``a,b`` as the API does."""
    values = params.getlist(name)
    if comma_list:
        values = [part for value in values for part in value.split(",")]
    return [value.strip() for value in values if value.strip()]


def filter_chips(
    *,
    params: QueryDict,
    base_url: str,
    labels: dict[str, str],
    display: Callable[[str, str], str],
    errors: Iterable[str] = (),
    comma_lists: Iterable[str] = (),
) -> list[Chip]:
    """One chip per active value of every filter named in ``labels`` (in that order).
    ``display(name, value)`` says how a value reads; ``errors`` names the invalid filters."""
    errors, comma_lists = set(errors), set(comma_lists)
    chips = []
    for name, label in labels.items():
        values = filter_values(params, name, comma_list=name in comma_lists)
        for index, value in enumerate(values):
            others = params.copy()
            for param in PAGING_PARAMS:
                others.pop(param, None)
            others.setlist(name, values[:index] + values[index + 1 :])
            query = others.urlencode()
            chips.append(
                Chip(
                    name=name,
                    label=str(label),
                    value=display(name, value),
                    remove_url=f"{base_url}?{query}" if query else base_url,
                    invalid=name in errors,
                )
            )
    return chips


def date_display(value: str) -> str:
    """A filter's date (``2026-11-27``) or ISO date-time, as the active language writes it."""
    if PLAIN_DATE.match(value):
        try:
            return date_format(date.fromisoformat(value), "SHORT_DATE_FORMAT")
        except ValueError:
            return value
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        return value
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, "SHORT_DATETIME_FORMAT")


def date_input(value: str | None) -> dict:
    """How a date filter is rendered in its form: a date picker for a plain date (what the
    form sends), a text box for anything else (an ISO date-time from a link or the API's
    syntax) so that submitting the form keeps it as it is."""
    value = (value or "").strip()
    return {"value": value, "type": "date" if not value or PLAIN_DATE.match(value) else "text"}
