from django.contrib import admin

from recyclebin.models import BinEntry, RestoreJob


@admin.register(BinEntry)
class BinEntryAdmin(admin.ModelAdmin):
    """Read-only for operators: restoring and purging go through the bin's rules (the bin page,
    the API, or the automatic purge)."""

    list_display = (
        "id",
        "account",
        "entity_type",
        "title",
        "deleted_by",
        "deleted_at",
        "purge_after",
        "item_count",
    )
    list_filter = ("entity_type", "account")
    list_select_related = ("account", "deleted_by")
    search_fields = ("title",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RestoreJob)
class RestoreJobAdmin(admin.ModelAdmin):
    """Read-only for operators: a job is created by a bulk restore and run by its task; one
    whose worker died is failed by the watchdog (recyclebin.tasks.restore_jobs_watchdog)."""

    list_display = (
        "id",
        "account",
        "requested_by",
        "status",
        "total",
        "done",
        "restored",
        "skipped",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "account")
    list_select_related = ("account", "requested_by")
    exclude = ("entry_ids",)  # up to 100,000 ids: not a page to render

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
