"""Filters and query-parameter helpers of every list, in the API and on the pages: ids, UTC
date-times, yes/no, text search, ordering.

The API takes a query parameter only as the schema documents it: a parameter given empty, a
value of the wrong type, an ordering it does not know are refused with ``400`` (a mistyped
filter must not answer with every record). The pages keep treating an empty form field as no
filter: they use the same FilterSets, without these backends."""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.filters import OrderingFilter, SearchFilter

MAX_ID = 2**63 - 1  # BigAutoField
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
BLANK_MESSAGE = _("Give a value, or leave the parameter out.")


def refuse_blank(request, names) -> None:
    """400 ``blank`` naming every parameter of ``names`` the request gives empty."""
    blank = [
        name
        for name in names
        if any(value.strip() == "" for value in request.query_params.getlist(name))
    ]
    if blank:
        raise serializers.ValidationError({name: [BLANK_MESSAGE] for name in blank}, code="blank")


def positive_int_or_none(value) -> int | None:
    """A query parameter meant as an id or a page size: a whole number from 1 to MAX_ID, or
    None for anything else (so it never overflows a query)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


@extend_schema_field(ID_SCHEMA)
class RecordIdFilter(django_filters.NumberFilter):
    """A whole number in the id range: ``1.5`` is no id (not id 1), and an id beyond the range
    would overflow SQLite's integers."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.Field):
    """``true`` or ``false``, as the schema writes a boolean; anything else is an error (django-
    filter's own yes/no filter reads ``abc`` as no filter at all)."""

    VALUES = {"true": True, "false": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.lower() in self.VALUES:
            return self.VALUES[value.lower()]
        raise ValidationError(_("Enter true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


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


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing a filter given empty (``?stage=``)."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            refuse_blank(request, filterset_class.base_filters)
        return super().filter_queryset(request, queryset, view)


class TextSearchFilter(SearchFilter):
    """``?search=``: every word must match one of the view's search fields (case-insensitive).
    Empty, or with a NUL character (which cannot be stored or searched), it is refused. A view
    with a ``search_records(queryset, words)`` filters by it (the same rows, found its way)."""

    def filter_queryset(self, request, queryset, view):
        search_records = getattr(view, "search_records", None)
        if search_records is None:
            return super().filter_queryset(request, queryset, view)
        words = self.get_search_terms(request)
        return search_records(queryset, words) if words else queryset

    def get_search_terms(self, request):
        refuse_blank(request, [self.search_param])
        return [term for term in super().get_search_terms(request) if term]


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=field`` or ``-field``: one of the view's ``ordering_fields``, documented as an
    enum; anything else is refused (DRF would silently keep the default order)."""

    def get_ordering(self, request, queryset, view):
        given = request.query_params.getlist(self.ordering_param)
        if not given:
            return self.get_default_ordering(view)
        refuse_blank(request, [self.ordering_param])
        allowed = self._allowed(view)
        if len(given) > 1 or given[0] not in allowed:
            raise serializers.ValidationError(
                {
                    self.ordering_param: [
                        _("Order by one of: %(fields)s.") % {"fields": ", ".join(allowed)}
                    ]
                },
                code="invalid",
            )
        return [given[0]]

    @staticmethod
    def _allowed(view) -> list[str]:
        fields = [field for field in getattr(view, "ordering_fields", ()) if field != "__all__"]
        return [value for field in fields for value in (field, f"-{field}")]

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": str(self.ordering_description),
                "schema": {"type": "string", "enum": self._allowed(view)},
            }
        ]


# A list's backends where its view names a FilterSet and ordering fields (and no free search).
LIST_FILTERS = [StrictFilterBackend, StrictOrderingFilter]
