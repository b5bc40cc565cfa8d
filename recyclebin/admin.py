from django.contrib import admin

from recyclebin.models import BinEntry


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
