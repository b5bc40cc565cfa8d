"""The recycle bin's API bodies (API.md, "Recycle bin"): entries out, restore/purge requests in."""

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from core.api.filters import MAX_ID
from core.api.serializers import BodySerializer, UserRefSerializer, type_errors
from crm.entities import EntityType
from recyclebin.filters import BinEntryFilter
from recyclebin.models import BinEntry, RestoreJob
from recyclebin.services import RESTORE_JOB_MAX_ENTRIES

MAX_BULK = 10_000  # entries per bulk purge; a bigger one is several calls
# Entries per bulk restore: above BIN_RESTORE_JOB_THRESHOLD it runs as a job (RestoreJob).
MAX_RESTORE = RESTORE_JOB_MAX_ENTRIES


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


def _ids_field(*, most: int = MAX_BULK, help_text: str = "", **kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=most,
        help_text=f"Bin entry ids, 1 to {most} of them.{help_text}",
        **kwargs,
    )


# Named apart from the support API's RestoreRequest (the split request body of "Restore"
# would be called RestoreRequest too).
@extend_schema_serializer(component_name="BinRestore")
class RestoreSerializer(BodySerializer):
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


@extend_schema_serializer(component_name="BinBulkRestore")
class BulkRestoreSerializer(RestoreSerializer):
    """Either ``ids`` or ``filter``, and optionally ``together``."""

    schema_rules = {"oneOf": [{"required": ["ids"]}, {"required": ["filter"]}]}

    # A ``filter`` is applied to ``context["entries"]`` (the caller's visible entries) and
    # replaced by the matching entries' ids: ``validated_data["ids"]`` is what to restore.

    ids = _ids_field(
        most=MAX_RESTORE,
        required=False,
        help_text=" More than BIN_RESTORE_JOB_THRESHOLD (1000) run as a restore job: 202.",
    )
    filter = BinFilterField(
        required=False,
        help_text="Instead of ids: every entry the list shows with these filters (at most "
        f"{MAX_RESTORE}; more than BIN_RESTORE_JOB_THRESHOLD run as a restore job: 202).",
    )

    def validate_filter(self, value) -> list[int]:
        unknown = sorted(set(value) - set(BinEntryFilter.base_filters))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown filter: %(names)s. Known: %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(BinEntryFilter.base_filters)},
                code="invalid",
            )
        errors = type_errors(BinFilterSerializer().fields, value)
        if errors:
            raise serializers.ValidationError(errors, code="invalid")
        data = {name: "" if v is None else str(v) for name, v in value.items()}
        filterset = BinEntryFilter(data=data, queryset=self.context["entries"])
        if not filterset.is_valid():
            raise serializers.ValidationError(
                {name: list(messages) for name, messages in filterset.errors.items()},
                code="invalid",
            )
        ids = list(filterset.qs.order_by("pk").values_list("pk", flat=True)[: MAX_RESTORE + 1])
        if not ids:
            raise serializers.ValidationError(
                _("No entry in your recycle bin matches this filter."), code="no_match"
            )
        if len(ids) > MAX_RESTORE:
            raise serializers.ValidationError(
                _("More than %(max)d entries match; narrow the filter.") % {"max": MAX_RESTORE},
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


class PurgeSerializer(BodySerializer):
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


class RestoreJobSerializer(serializers.ModelSerializer):
    """A bulk restore running in a worker (``POST /recyclebin/restore/`` answered 202)."""

    progress = serializers.IntegerField(
        read_only=True, min_value=0, max_value=100, help_text="done / total, in percent."
    )
    requested_by = UserRefSerializer(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="This job in the API.")

    class Meta:
        model = RestoreJob
        fields = (
            "id",
            "status",
            "total",
            "done",
            "restored",
            "skipped",
            "progress",
            "together",
            "error",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "url",
        )
        read_only_fields = fields
        extra_kwargs = {
            "total": {"help_text": "Entries asked for, captured when the job was created."},
            "done": {"help_text": "Entries dealt with so far (restored or skipped)."},
            "restored": {
                "help_text": "Entries restored (with together, linked entries count too)."
            },
            "skipped": {
                "help_text": "Entries no longer in the bin when their turn came (restored or "
                "purged meanwhile)."
            },
            "error": {"help_text": "Why a failed job stopped; the entries restored stay so."},
        }

    def get_url(self, job: RestoreJob) -> str:
        path = reverse("binentry-job-detail", kwargs={"job_id": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path
