"""The recycle bin's API bodies (API.md, "Recycle bin"): entries out, restore/purge requests in."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.entities import EntityType
from crm.filters import MAX_ID
from recyclebin.filters import BinEntryFilter
from recyclebin.models import BinEntry

MAX_BULK = 10_000  # entries per bulk call; a bigger job is several calls


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a sentence for people and a code for programs."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Only on validation errors (400): the messages per field.",
    )


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class BinEntrySerializer(serializers.ModelSerializer):
    deleted_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = BinEntry
        fields = (
            "id",
            "entity_type",
            "entity_id",
            "title",
            "deleted_by",
            "deleted_at",
            "purge_after",
            "item_count",
        )
        read_only_fields = fields


def _ids_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_BULK,
        help_text=f"Bin entry ids, 1 to {MAX_BULK} of them.",
        **kwargs,
    )


class RestoreSerializer(serializers.Serializer):
    together = serializers.BooleanField(
        default=False,
        help_text="Also restore the entries holding items these link to (a contact's "
        "company), and theirs.",
    )


class BinFilterSerializer(serializers.Serializer):
    """The recycle bin list's filters, as one JSON object."""

    # Documents the object; BinEntryFilter is what checks and applies it (BinFilterField).

    id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    entity_type = serializers.ChoiceField(choices=EntityType.choices, required=False)
    deleted_by = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    deleted_after = serializers.DateTimeField(required=False)
    deleted_before = serializers.DateTimeField(required=False)
    search = serializers.CharField(required=False, allow_blank=True)


@extend_schema_field(BinFilterSerializer)
class BinFilterField(serializers.DictField):
    """The list's filters as one JSON object, checked by the list's own FilterSet so that both
    accept and refuse exactly the same values."""


class BulkRestoreSerializer(RestoreSerializer):
    """Either ``ids`` or ``filter``, and optionally ``together``."""

    # A ``filter`` is applied to ``context["entries"]`` (the caller's visible entries) and
    # replaced by the matching entries' ids: ``validated_data["ids"]`` is what to restore.

    ids = _ids_field(required=False)
    filter = BinFilterField(
        required=False,
        help_text="Instead of ids: every entry the list shows with these filters.",
    )

    def validate_filter(self, value) -> list[int]:
        unknown = sorted(set(value) - set(BinEntryFilter.base_filters))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown filter: %(names)s. Known: %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(BinEntryFilter.base_filters)},
                code="invalid",
            )
        if any(isinstance(v, dict | list) for v in value.values()):
            raise serializers.ValidationError(
                _("Each filter takes one value (a string or a number)."), code="invalid"
            )
        data = {name: "" if v is None else str(v) for name, v in value.items()}
        filterset = BinEntryFilter(data=data, queryset=self.context["entries"])
        if not filterset.is_valid():
            raise serializers.ValidationError(
                {name: list(messages) for name, messages in filterset.errors.items()},
                code="invalid",
            )
        ids = list(filterset.qs.order_by("pk").values_list("pk", flat=True)[: MAX_BULK + 1])
        if not ids:
            raise serializers.ValidationError(
                _("No entry in your recycle bin matches this filter."), code="no_match"
            )
        if len(ids) > MAX_BULK:
            raise serializers.ValidationError(
                _("More than %(max)d entries match; narrow the filter.") % {"max": MAX_BULK},
                code="too_many",
            )
        return ids

    def validate(self, attrs):
        given = [name for name in ("ids", "filter") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                _('Send either "ids" or "filter", not both or neither.'), code="ids_or_filter"
            )
        if "filter" in attrs:
            attrs["ids"] = attrs.pop("filter")
        return attrs


class PurgeSerializer(serializers.Serializer):
    ids = _ids_field()


class RestoredItemSerializer(serializers.Serializer):
    entity_type = serializers.ChoiceField(choices=EntityType.choices, read_only=True)
    entity_id = serializers.IntegerField(read_only=True)


class RestoreResultSerializer(serializers.Serializer):
    restored = RestoredItemSerializer(many=True, read_only=True)
    linked_in_bin = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="Bin entries still holding items the restored ones link to.",
    )
    entries = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="The bin entries restored (with together, more than asked for).",
    )

    def to_representation(self, instance):
        return {
            "restored": [
                {"entity_type": entity_type, "entity_id": entity_id}
                for entity_type, entity_id in instance.restored
            ],
            "linked_in_bin": list(instance.linked_in_bin),
            "entries": list(instance.entries),
        }


class PurgeResultSerializer(serializers.Serializer):
    purged = serializers.IntegerField(
        read_only=True,
        help_text="Entries purged; activities hanging on a purged item go with it, entries "
        "and all.",
    )
