from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Account, UpgradeRequest, User
from accounts.services import user_deactivate


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "plan",
        "time_zone",
        "maintenance",
        "require_2fa_for_admins",
        "created_at",
    )
    list_filter = ("plan", "maintenance", "require_2fa_for_admins")
    search_fields = ("name",)
    # Only accounts.maintenance writes it, each change a history event (the watchdog lifts a
    # flag whose restore died).
    readonly_fields = ("maintenance",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "account", "role", "is_support", "is_active")
    list_filter = ("role", "is_support", "is_active", "account")
    list_select_related = ("account",)
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Account"), {"fields": ("account", "role", "is_support")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (_("Account"), {"fields": ("account", "role", "is_support")}),
    )
    actions = ["deactivate"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user=obj)  # unticking "active" ends the API token as well

    def has_delete_permission(self, request, obj=None) -> bool:
        """Users are deactivated, never deleted: what they did stays attributed to them."""
        return False

    @admin.action(description=_("Deactivate the selected users (sessions and API tokens end)"))
    def deactivate(self, request, queryset):
        users = list(queryset.filter(is_active=True))
        for user in users:
            user_deactivate(user=user)
        self.message_user(
            request,
            ngettext(
                "%(count)s user was deactivated.", "%(count)s users were deactivated.", len(users)
            )
            % {"count": len(users)},
            messages.SUCCESS,
        )


@admin.register(UpgradeRequest)
class UpgradeRequestAdmin(admin.ModelAdmin):
    """Admins asking for a higher plan (the pricing page): change the account's plan, then
    set "handled at"."""

    list_display = ("account", "plan", "requested_by", "created_at", "handled_at")
    list_filter = ("plan", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("account__name",)
    readonly_fields = ("account", "plan", "requested_by", "created_at")
