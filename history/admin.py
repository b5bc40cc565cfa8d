from django.contrib import admin

from history.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The history is append-only (the database refuses changes): operators only read it."""

    list_display = (
        "id",
        "account",
        "occurred_at",
        "event_type",
        "entity_type",
        "entity_id",
        "entity_title",
        "actor_username",
    )
    list_filter = ("event_type", "entity_type", "account")
    list_select_related = ("account",)
    search_fields = ("entity_title", "actor_username")
    show_full_result_count = False  # no COUNT(*) over millions of events

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
