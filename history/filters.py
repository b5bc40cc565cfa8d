"""The history's filters, one definition for the page, the CSV export and the API."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from core.api.filters import MAX_ID, RecordIdFilter, UtcDateTimeFilter
from history.models import Event
from history.subjects import EventTypeChoices, SubjectChoices


class EventTypesFilter(django_filters.MultipleChoiceFilter):
    """``?event_type=delete,restore`` (API.md's comma list) or repeated ``?event_type=``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", EventTypeChoices())
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        # django-filter adds DISTINCT by default (for to-many lookups). A column of the event
        # itself never repeats a row, and DISTINCT over every column (JSON included) made
        # PostgreSQL sort and de-duplicate in parallel workers instead of reading the newest
        # rows and stopping: 15-16 ms per page at 1,000,000 events instead of under 2
        # (bench/README.md, bin_history.py).
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


class ActorField(forms.Field):
    """A user's id, or ``system`` (events no person made: a restore's, the nightly job's)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value == SYSTEM:
            return SYSTEM
        return forms.IntegerField(min_value=1, max_value=MAX_ID).clean(value)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            {"type": "string", "enum": ["system"]},
        ],
        "description": "A user's id, or system (events no person made).",
    }
)
class ActorFilter(django_filters.Filter):
    field_class = ActorField

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == SYSTEM:
            return qs.filter(actor_id__isnull=True)
        return qs.filter(actor_id=value)


# The actor filter's value for events without a person.
SYSTEM = "system"


class EventFilter(django_filters.FilterSet):
    event_type = EventTypesFilter(label=_("Event"))
    entity_type = django_filters.ChoiceFilter(label=_("Type"), choices=SubjectChoices())
    entity_id = RecordIdFilter(label=_("Record id"))
    actor = ActorFilter(label=_("User"))
    occurred_after = UtcDateTimeFilter(label=_("From"), field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(
        label=_("Until"), field_name="occurred_at", lookup_expr="lt"
    )
    search = django_filters.CharFilter(label=_("Text"), method="text_search")

    class Meta:
        model = Event
        fields = [
            "event_type",
            "entity_type",
            "entity_id",
            "actor",
            "occurred_after",
            "occurred_before",
            "search",
        ]

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            values = [v for raw in data.getlist("event_type") for v in raw.split(",") if v]
            data.setlist("event_type", values)
        super().__init__(data, *args, **kwargs)

    def text_search(self, queryset, name, value):
        value = value.replace("\x00", "").strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(entity_title__icontains=value) | Q(actor_username__icontains=value)
        )
