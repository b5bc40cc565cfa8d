"""The backups API's bodies (API.md, "Backups")."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backups.models import Snapshot
from backups.selectors import entity_counts


class SnapshotSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField(
        help_text="Rows per entity type: company, contact, lead, deal, activity, bin_entry."
    )

    class Meta:
        model = Snapshot
        fields = ("id", "kind", "status", "taken_at", "expires_at", "size_bytes", "counts")
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_counts(self, snapshot: Snapshot) -> dict[str, int]:
        return entity_counts(snapshot)
