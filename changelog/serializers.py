"""The revert's API bodies (API.md, "Change log")."""

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from changelog.alerts import history_filter
from changelog.models import Alert, AlertSettings, RevertJob
from changelog.revert import MAX_EVENTS
from core.api.filters import MAX_ID
from core.api.serializers import BodyModelSerializer, BodySerializer, UserRefSerializer
from history.filters import EventFilter
from history.subjects import EventTypeChoices, SubjectChoices


class HistoryFilterSerializer(serializers.Serializer):
    """The history list's filters, as one JSON object (its query parameters)."""

    # Documents the object; history.filters.EventFilter checks and applies it.
    event_type = serializers.ListField(
        child=serializers.ChoiceField(choices=EventTypeChoices()),
        required=False,
        min_length=1,
        help_text="One or more kinds of event.",
    )
    # Blank allowed (no filter), so the choices are the history list's own (one enum).
    entity_type = serializers.ChoiceField(
        choices=SubjectChoices(), required=False, allow_blank=True
    )
    entity_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    actor = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    occurred_after = serializers.DateTimeField(required=False)
    occurred_before = serializers.DateTimeField(required=False)
    search = serializers.CharField(required=False)


@extend_schema_field(HistoryFilterSerializer)
class HistoryFilterField(serializers.DictField):
    """The history's filters; unknown names refused here, values by EventFilter."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = sorted(set(value) - set(EventFilter.base_filters))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown filter: %(names)s. Known: %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(EventFilter.base_filters)},
                code="invalid",
            )
        return value


@extend_schema_serializer(component_name="HistoryRevert")
class RevertSerializer(BodySerializer):
    """Either ``events`` or ``filter``; ``dry_run`` and ``force``."""

    schema_rules = {"oneOf": [{"required": ["events"]}, {"required": ["filter"]}]}

    events = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=MAX_EVENTS,
        help_text="History event ids (ticked rows).",
    )
    filter = HistoryFilterField(
        required=False,
        help_text="Instead of events: every change the history lists with these filters.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Only say what would change (the preview)."
    )
    force = serializers.BooleanField(
        default=False,
        help_text="Admins only: also overwrite fields that a later change outside the "
        "selection touched (conflicts).",
    )

    def validate(self, attrs):
        given = [name for name in ("events", "filter") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                _('Send either "events" or "filter", not both or neither.'),
                code="events_or_filter",
            )
        return attrs


class RevertChangeSerializer(serializers.Serializer):
    entity_type = serializers.CharField()
    entity_id = serializers.IntegerField()
    title = serializers.CharField()
    field = serializers.CharField(
        help_text="The field; `_record` for a record that goes to the bin or comes back "
        "(`current` and `value` are then `live`, `bin` or `gone`)."
    )
    current = serializers.JSONField(help_text="Its value now.")
    value = serializers.JSONField(help_text="The value it goes back to.")
    conflict = serializers.BooleanField(
        help_text="A later change outside the selection touched it (left as it is unless "
        "`force`), or a link to a record that is gone (never set)."
    )


class RevertResultSerializer(serializers.Serializer):
    events = serializers.IntegerField(help_text="Selected events that changed a record.")
    records = serializers.IntegerField(help_text="Records that change (or would).")
    fields = serializers.IntegerField(help_text="Fields that go back, conflicts included.")
    conflicts = serializers.IntegerField()
    changes = RevertChangeSerializer(many=True, help_text="At most 100.")


class RevertJobSerializer(serializers.ModelSerializer):
    requested_by = UserRefSerializer(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="This job in the API.")

    class Meta:
        model = RevertJob
        fields = (
            "id",
            "status",
            "progress",
            "force",
            "result",
            "error",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "url",
        )
        read_only_fields = fields

    def get_url(self, job: RevertJob) -> str:
        path = reverse("revert-job", kwargs={"job_id": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class RevertStartedSerializer(serializers.Serializer):
    job = RevertJobSerializer()


class AlertSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    history_filter = serializers.SerializerMethodField(
        help_text="The history's filters that select exactly these events (GET /history/ "
        "with them; POST /history/revert/ with {filter: ...} undoes them)."
    )

    class Meta:
        model = Alert
        fields = (
            "id",
            "kind",
            "actor",
            "started_at",
            "ended_at",
            "count",
            "history_filter",
            "created_at",
            "acknowledged_at",
        )
        read_only_fields = fields

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_actor(self, alert: Alert) -> dict | None:
        if alert.actor_id is None:
            return None
        return {"id": alert.actor_id, "username": alert.actor_username}

    @extend_schema_field(HistoryFilterSerializer)
    def get_history_filter(self, alert: Alert) -> dict:
        return history_filter(alert)


class AlertSettingsSerializer(BodyModelSerializer):
    class Meta:
        model = AlertSettings
        fields = ("enabled", "threshold", "factor")
        extra_kwargs = {
            "enabled": {"required": True},
            "threshold": {
                "required": True,
                "min_value": 1,
                "max_value": 1_000_000,
                "help_text": "An alert when one user deletes or changes more than this many "
                "records within 10 minutes...",
            },
            "factor": {
                "required": True,
                "min_value": 1,
                "max_value": 1000,
                "help_text": "...and more than this many times the account's usual.",
            },
        }
