"""The backups API's bodies (API.md, "Backups")."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backups.models import Snapshot
from backups.selectors import entity_counts


class DrillSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Snapshot.Drill.choices,
        source="drill_status",
        help_text="pending: not proven yet; passed; failed: refused for restores and exports.",
    )
    level = serializers.ChoiceField(
        choices=Snapshot.DrillLevel.choices,
        source="drill_level",
        allow_null=True,
        help_text="quick: the file's rows read back and compared with the database's digests "
        "taken with the snapshot; full: restored into a scratch space and compared row by row.",
    )
    checked_at = serializers.DateTimeField(source="drill_checked_at", allow_null=True)
    error = serializers.CharField(source="drill_error", help_text="Why it failed; empty else.")


class SnapshotSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField(
        help_text="Rows per entity type: company, contact, lead, deal, activity, bin_entry."
    )
    drill = serializers.SerializerMethodField(help_text="The last restore drill of the snapshot.")

    class Meta:
        model = Snapshot
        fields = (
            *("id", "kind", "status", "taken_at", "expires_at", "size_bytes", "counts"),
            *("verified_at", "drill"),
        )
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_counts(self, snapshot: Snapshot) -> dict[str, int]:
        return entity_counts(snapshot)

    @extend_schema_field(DrillSerializer)
    def get_drill(self, snapshot: Snapshot) -> dict:
        data = DrillSerializer(snapshot).data
        data["level"] = data["level"] or None  # "" until a drill ran
        return data
