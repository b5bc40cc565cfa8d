"""The recycle bin's filters, one definition for the page and the API (django-filter)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from core.api.filters import RecordIdFilter, UtcDateTimeFilter
from crm.entities import EntityType
from recyclebin.models import BinEntry


class BinEntryFilter(django_filters.FilterSet):
    id = RecordIdFilter(label=_("Id"))
    entity_type = django_filters.ChoiceFilter(label=_("Type"), choices=EntityType.choices)
    entity_id = RecordIdFilter(label=_("Record id"))
    deleted_by = RecordIdFilter(label=_("Deleted by"), field_name="deleted_by_id")
    deleted_after = UtcDateTimeFilter(
        label=_("Deleted after"), field_name="deleted_at", lookup_expr="gte"
    )
    deleted_before = UtcDateTimeFilter(
        label=_("Deleted before"), field_name="deleted_at", lookup_expr="lt"
    )
    search = django_filters.CharFilter(
        label=_("Title"), field_name="title", lookup_expr="icontains"
    )

    class Meta:
        model = BinEntry
        fields = [
            "id",
            "entity_type",
            "entity_id",
            "deleted_by",
            "deleted_after",
            "deleted_before",
            "search",
        ]
