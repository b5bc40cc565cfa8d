"""The history's API body (API.md, "History")."""

from django.utils.text import capfirst
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from history.models import Event
from history.subjects import EventTypeChoices, SubjectChoices


class ActorSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class EventSerializer(serializers.ModelSerializer):
    event_type = serializers.ChoiceField(
        choices=EventTypeChoices(),
        read_only=True,
        label=capfirst(Event._meta.get_field("event_type").verbose_name),
    )
    entity_type = serializers.ChoiceField(
        choices=SubjectChoices(),
        allow_blank=True,
        read_only=True,
        help_text="A CRM record's type, restore_request for the steps of a restore request, "
        "or empty for account-wide events (a rollback).",
    )
    actor = serializers.SerializerMethodField()

    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        read_only=True,
        help_text="field -> [old, new], links by id, decimals and times as strings: an "
        "update's changed fields, a create's every initial value ([null, value]), a purge's "
        "last image of the record ([value, null]).",
    )
    details = serializers.DictField(
        child=serializers.JSONField(),
        read_only=True,
        help_text="More about the event, by type (a deletion's bin entry, a restore's entries).",
    )

    class Meta:
        model = Event
        fields = (
            "id",
            "event_type",
            "entity_type",
            "entity_id",
            "entity_title",
            "actor",
            "occurred_at",
            "changes",
            "details",
        )
        read_only_fields = fields

    @extend_schema_field(ActorSerializer(allow_null=True))
    def get_actor(self, event: Event) -> dict | None:
        # From the columns written with the event: the user may be gone, their name stays.
        if event.actor_id is None:
            return None
        return {"id": event.actor_id, "username": event.actor_username}
