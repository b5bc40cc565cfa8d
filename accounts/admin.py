from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, User


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "plan", "time_zone", "maintenance", "created_at")
    list_filter = ("plan", "maintenance")
    search_fields = ("name",)


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
