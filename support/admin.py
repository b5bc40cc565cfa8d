from django.contrib import admin

from support.models import Message, Notification, RestoreRequest


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("created_at", "author", "is_support", "is_system", "body")
    readonly_fields = fields
    can_delete = False


@admin.register(RestoreRequest)
class RestoreRequestAdmin(admin.ModelAdmin):
    """For operators: read-only (every change goes through the workflow's services)."""

    list_display = ("id", "account", "status", "kind", "lost_at", "created_at", "progress")
    list_filter = ("status", "kind")
    search_fields = ("account__name", "message")
    inlines = [MessageInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "recipient", "request", "verb", "created_at", "read_at")
    list_filter = ("verb",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
