"""Operators' view of CRM records. Saves and deletes go through crm.services like everywhere
else, so the admin cannot bypass a rule (or, later, the recycle bin and the history)."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext as _

from crm import services
from crm.entities import ENTITIES, Entity, entity_for_model


class RecordAdminForm(forms.ModelForm):
    """Links must stay inside the record's account (the service checks it again on save)."""

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("account") or getattr(self.instance, "account", None)
        for field in entity_for_model(self._meta.model).link_fields:
            target = cleaned.get(field)
            if target is not None and account is not None and target.account_id != account.pk:
                self.add_error(field, _("This record belongs to another account."))
        return cleaned


class RecordAdmin(admin.ModelAdmin):
    form = RecordAdminForm
    list_filter = ("account",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    actions = ["delete_selected_records"]

    @property
    def entity(self) -> Entity:
        return entity_for_model(self.model)

    def get_readonly_fields(self, request, obj=None):
        # A record never moves between accounts.
        return (*self.readonly_fields, "account") if obj else self.readonly_fields

    def get_list_display(self, request):
        return ("id", *self.entity.list_columns, "account", "created_at")

    def get_search_fields(self, request):
        return self.entity.search_fields

    def get_list_select_related(self, request):
        return ("account", *self.entity.link_fields)

    def get_autocomplete_fields(self, request):
        return self.entity.link_fields

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # Django's bulk delete would skip the services
        return actions

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name != "account"}
        if change:
            record = type(obj).objects.get(pk=obj.pk, account_id=obj.account_id)
            services.record_update(record=record, actor=request.user, data=data)
        else:
            created = services.record_create(
                account=form.cleaned_data["account"],
                actor=request.user,
                entity=self.entity,
                data=data,
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.record_delete(record=obj, actor=request.user)

    @admin.action(description="Delete selected records (through the CRM's rules)")
    def delete_selected_records(self, request, queryset):
        for record in queryset.select_related("account"):
            services.record_delete(record=record, actor=request.user)


for entity in ENTITIES.values():
    admin.site.register(entity.model, RecordAdmin)
