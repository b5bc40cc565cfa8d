"""Filters and query-parameter helpers of every list, in the API and on the pages: ids, UTC
date-times, text search."""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from rest_framework.filters import SearchFilter

MAX_ID = 2**63 - 1  # BigAutoField


def positive_int_or_none(value) -> int | None:
    """A query parameter meant as an id or a page size: a whole number from 1 to MAX_ID, or
    None for anything else (so it never overflows a query)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class RecordIdFilter(django_filters.NumberFilter):
    """A whole number in the id range: ``1.5`` is no id (not id 1), and an id beyond the range
    would overflow SQLite's integers."""

    field_class = forms.IntegerField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date and time, handed to the database in UTC: an offset the database does not
    know (``-21:04``) or a moment that falls outside the years 1-9999 in UTC is invalid input,
    not a database error."""

    def to_python(self, value):
        moment = super().to_python(value)
        try:
            return moment.astimezone(UTC) if moment is not None else None
        except OverflowError:
            raise ValidationError(
                _("Enter a date and time between the years 1 and 9999."), code="invalid"
            ) from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class TextSearchFilter(SearchFilter):
    """``?search=``: every word must match one of the view's search fields (case-insensitive).
    NUL characters cannot be stored or searched, so they are dropped."""

    def get_search_terms(self, request):
        return [term.replace("\x00", "") for term in super().get_search_terms(request) if term]
