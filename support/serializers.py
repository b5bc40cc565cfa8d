"""The support API's bodies (API.md, "Support: restore requests")."""

from datetime import UTC

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from core.api.filters import MAX_ID
from core.api.serializers import (  # {id, username}: one UserRef component
    BodySerializer,
    UserRefSerializer,
)
from crm.entities import ENTITIES
from support.chat_lines import message_text
from support.models import Message, Notification, RequestKind, RestoreRequest
from support.notifications import download_path
from support.services import MESSAGE_MAX_CHARS


def _user(user) -> dict | None:
    return None if user is None else {"id": user.pk, "username": user.username}


class RestoreRequestSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    entity_types = serializers.ListField(child=serializers.CharField(), read_only=True)
    requested_by = serializers.SerializerMethodField()
    proposed_by = serializers.SerializerMethodField()
    confirmed_by = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField()
    outcome = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="Once completed: what the restore did (counts per table, the pre_restore "
        "snapshot that undoes it).",
    )
    preview = serializers.SerializerMethodField(
        help_text="Where to see what the proposed restore would change now (null before a "
        "proposal)."
    )
    download = serializers.SerializerMethodField(
        help_text="A completed export: where the account's admins download the snapshot as a "
        "ZIP of CSV files (GET, admins of the account only; each download is an export history "
        "event). Null otherwise, and once the snapshot is no longer kept."
    )

    class Meta:
        model = RestoreRequest
        fields = (
            "id",
            "account",
            "account_name",
            "status",
            "kind",
            "entity_types",
            "lost_at",
            "message",
            "snapshot",
            "restore_to",
            "requested_by",
            "proposed_by",
            "confirmed_by",
            "approved_by",
            "created_at",
            "updated_at",
            "progress",
            "step",
            "error",
            "reject_reason",
            "started_at",
            "completed_at",
            "outcome",
            "preview",
            "download",
        )
        read_only_fields = fields

    @extend_schema_field(UserRefSerializer)
    def get_requested_by(self, request: RestoreRequest) -> dict:
        return _user(request.requested_by)

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_proposed_by(self, request: RestoreRequest) -> dict | None:
        return _user(request.proposed_by)

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_confirmed_by(self, request: RestoreRequest) -> dict | None:
        return _user(request.confirmed_by)

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_approved_by(self, request: RestoreRequest) -> dict | None:
        return _user(request.approved_by)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_preview(self, request: RestoreRequest) -> str | None:
        if request.snapshot_id is None:
            return None
        path = reverse("restorerequest-preview", args=[request.pk])
        http = self.context.get("request")
        return http.build_absolute_uri(path) if http is not None else path

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download(self, request: RestoreRequest) -> str | None:
        return _download_url(request, self.context.get("request"))


def _download_url(request: RestoreRequest, http) -> str | None:
    """The API's export of a completed export request's snapshot (support.notifications
    names the Backups page's one in emails and pages)."""
    if not download_path(request):
        return None
    path = reverse("snapshot-export", args=[request.snapshot_id])
    return http.build_absolute_uri(path) if http is not None else path


def _entity_types_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=list(ENTITIES)),
        required=False,
        max_length=len(ENTITIES),
        help_text="For kind entities: the types of records to restore.",
    )


class UtcDateTimeField(serializers.DateTimeField):
    """A moment handed to the database in UTC; one outside the years 1-9999 is invalid input."""

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail("invalid", format="ISO 8601")


class RestoreRequestCreateSerializer(BodySerializer):
    # kind "entities" needs at least one type of record (support.rules.kind_clean); every
    # kind but "undo" needs lost_at.
    schema_rules = {
        "allOf": [
            {
                "anyOf": [
                    {"properties": {"kind": {"not": {"enum": [RequestKind.ENTITIES.value]}}}},
                    {
                        "required": ["entity_types"],
                        "properties": {"entity_types": {"minItems": 1}},
                    },
                ]
            },
            {
                "anyOf": [
                    {"properties": {"kind": {"enum": [RequestKind.UNDO.value]}}},
                    {"required": ["lost_at"]},
                ]
            },
        ]
    }

    lost_at = UtcDateTimeField(
        required=False,
        help_text="When the data was lost. Without an offset: in the account's time zone. "
        "Required for every kind but undo (which goes back to the latest completed restore's "
        "safety snapshot; by default the moment that restore started).",
    )
    kind = serializers.ChoiceField(choices=RequestKind.choices)
    entity_types = _entity_types_field()
    message = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


class ProposeSerializer(BodySerializer):
    schema_rules = {"not": {"required": ["snapshot", "at"]}}

    at = serializers.DateTimeField(
        required=False,
        help_text="Instead of a snapshot: a moment (ISO 8601 with its offset) inside the "
        "retention window; the restore takes the account back to how it was then. Kinds "
        "full, entities and recover.",
    )
    snapshot = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="One of the account's kept snapshots; default: the newest taken before the loss.",
    )
    kind = serializers.ChoiceField(
        choices=RequestKind.choices,
        required=False,
        help_text="Default: the kind asked for. export: the snapshot as a ZIP download; "
        "approving it completes the request at once, changing nothing.",
    )
    entity_types = _entity_types_field()

    def validate(self, attrs):
        if "snapshot" in attrs and "at" in attrs:
            raise serializers.ValidationError(
                _('Send either "snapshot" or "at", not both.'), code="snapshot_or_at"
            )
        return attrs


class RejectSerializer(BodySerializer):
    reason = serializers.CharField(max_length=2000, help_text="The admin reads it in the chat.")


class MessageSerializer(serializers.ModelSerializer):
    """A chat message; a system line in the language of the request (``Accept-Language``)
    when the view gives the account (``context["account"]``: its time zone for the times)."""

    author = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ("id", "author", "is_support", "is_system", "body", "created_at")
        read_only_fields = fields

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_author(self, message: Message) -> dict | None:
        return _user(message.author)

    def get_body(self, message: Message) -> str:
        account = self.context.get("account")
        if account is None:
            return message.body
        return message_text(message, account=account)


class MessageCreateSerializer(BodySerializer):
    body = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


@extend_schema_serializer(component_name="RequestChangeCounts")  # backups.api has ChangeCounts
class ChangeCountsSerializer(serializers.Serializer):
    removed = serializers.IntegerField(help_text="Exists now, not in the snapshot.")
    restored = serializers.IntegerField(help_text="In the snapshot, gone or in the bin now.")
    reverted = serializers.IntegerField(help_text="In both, different now.")


class RequestPreviewSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=RequestKind.choices)
    entity_types = serializers.ListField(child=serializers.CharField())
    changes = serializers.DictField(
        child=ChangeCountsSerializer(),
        help_text="Per entity type (company, contact, ...). Empty for an export: it changes "
        "nothing.",
    )
    rows = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="For an export: the rows per entity type (and bin_entry) the ZIP holds.",
    )


class NotificationSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="request.account.name", read_only=True)
    download = serializers.SerializerMethodField(
        help_text="For an account admin told that an export is ready (verb completed): where "
        "to download it, as the request's ``download``. Null otherwise."
    )

    class Meta:
        model = Notification
        fields = ("id", "request", "account_name", "verb", "created_at", "read_at", "download")
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download(self, notification: Notification) -> str | None:
        http = self.context.get("request")
        reader = getattr(http, "user", None)  # the recipient: a list holds only theirs
        if notification.verb != Notification.Verb.COMPLETED or reader is None:
            return None
        if not reader.is_account_admin:
            return None
        return _download_url(notification.request, http)


class MarkReadSerializer(BodySerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
        help_text="The notifications to mark read; none given: all of them.",
    )


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class UnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
