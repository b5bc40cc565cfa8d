from django.contrib import admin

from backups.models import Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    """Read-only for operators: snapshots are taken, verified and removed by the backups
    services (beat, `take_snapshots`, `verify_snapshot`)."""

    list_display = ("id", "account", "kind", "status", "taken_at", "expires_at", "size_bytes")
    list_filter = ("kind", "status", "account")
    list_select_related = ("account",)
    date_hierarchy = "taken_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
