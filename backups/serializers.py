"""The backups API's bodies (API.md, "Backups")."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backups.models import Snapshot
from backups.snapshot_format import TABLES_BY_NAME


def entity_counts(snapshot: Snapshot) -> dict[str, int]:
    """The snapshot's rows per entity type (company ... activity, bin_entry)."""
    counts = {}
    for table_name, rows in snapshot.counts.items():
        table = TABLES_BY_NAME.get(table_name)
        if table is not None and table.entity_type:
            counts[table.entity_type] = rows
    return counts


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
