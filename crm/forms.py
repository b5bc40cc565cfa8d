"""Browser forms of the CRM records. They only parse and validate input: the views hand
``cleaned_data`` to crm.services, so the browser keeps the same rules as the API."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from crm.entities import ENTITIES, Entity
from crm.models import ACTIVITY_PARENTS, CrmRecord

# A <select> of 100,000 contacts is too heavy to send; pickers show the newest ones (plus the one
# already chosen) while validation still accepts any record of the account.
PICKER_LIMIT = 200


class NewestFirstChoiceIterator(forms.models.ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for record in self.field.shown_records():
            yield self.choice(record)

    def __len__(self):
        return len(self.field.shown_records()) + (self.field.empty_label is not None)

    def __bool__(self):
        return True


class PickerBoundField(forms.BoundField):
    @property
    def help_text(self) -> str:
        return self.field.help_text

    @help_text.setter
    def help_text(self, value: str) -> None:
        """Read from the field when the picker renders: whether it says "newest only" costs a
        query, which a POST that only validates should not pay."""


class AccountRecordChoiceField(forms.ModelChoiceField):
    """A link to another record of the account. The queryset (set by the form to the account's
    records) decides what is valid; only the newest ``PICKER_LIMIT`` and the pinned (chosen or
    prefilled) records are rendered as options."""

    iterator = NewestFirstChoiceIterator
    bound_field_class = PickerBoundField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("empty_label", "—")
        super().__init__(*args, **kwargs)
        self.pinned_id: int | None = None
        self.truncated = False
        self._shown: list[CrmRecord] | None = None

    @property
    def help_text(self) -> str:
        if self.shown_records() and self.truncated:
            return _("Shows the %(limit)s newest. To link an older one, start from its page.") % {
                "limit": PICKER_LIMIT
            }
        return self._help_text

    @help_text.setter
    def help_text(self, value: str) -> None:
        self._help_text = value

    def _set_queryset(self, queryset):
        self._shown = None
        super()._set_queryset(queryset)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    def shown_records(self) -> list[CrmRecord]:
        if self._shown is None and self.queryset is not None:
            newest = list(self.queryset.order_by("-id")[: PICKER_LIMIT + 1])
            self.truncated = len(newest) > PICKER_LIMIT
            shown = newest[:PICKER_LIMIT]
            if self.pinned_id is not None and all(r.pk != self.pinned_id for r in shown):
                shown += list(self.queryset.filter(pk=self.pinned_id))
            self._shown = sorted(shown, key=lambda record: str(record).casefold())
        return self._shown or []


def _record_id(value) -> int | None:
    """The id a picker currently holds: a record (editing), or a string from the query or POST."""
    if isinstance(value, models.Model):
        return value.pk
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _formfield(db_field: models.Field, **kwargs) -> forms.Field | None:
    if db_field.many_to_one and issubclass(db_field.related_model, CrmRecord):
        # The account's records are set per form in RecordForm.__init__; none until then.
        return db_field.formfield(
            form_class=AccountRecordChoiceField,
            queryset=db_field.related_model.objects.none(),
            **kwargs,
        )
    if isinstance(db_field, models.DateTimeField):
        kwargs["widget"] = forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        )
    elif isinstance(db_field, models.DateField):
        kwargs["widget"] = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    elif isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    elif isinstance(db_field, models.TextField):
        kwargs["widget"] = forms.Textarea(attrs={"rows": 4})
    return db_field.formfield(**kwargs)


class RecordForm(forms.ModelForm):
    """Base of every record form: link pickers offer only the given account's records."""

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, AccountRecordChoiceField):
                field.pinned_id = _record_id(self[name].value())
                # Setting the queryset last also drops any options computed before.
                field.queryset = field.queryset.model.objects.for_account(account)

    def fieldsets(self) -> list[tuple[str | None, str, list[forms.BoundField]]]:
        """(legend, help, fields) groups for the template."""
        return [(None, "", list(self))]

    def service_errors_add(self, error: ValidationError) -> None:
        """Show a ValidationError raised by crm.services on the form (field errors on their
        field where the form has it, the rest above the form)."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


class ActivityForm(RecordForm):
    def fieldsets(self):
        own = [self[name] for name in self.fields if name not in ACTIVITY_PARENTS]
        parents = [self[name] for name in ACTIVITY_PARENTS]
        return [
            (None, "", own),
            (
                _("Belongs to"),
                # The model's CheckConstraint enforces it; its message names the same rule.
                _("Choose exactly one lead, deal, contact or company."),
                parents,
            ),
        ]


def editable_fields(entity: Entity) -> list[str]:
    """What a person may set on a record: every field but its account and bookkeeping."""
    return [
        field.name
        for field in entity.model._meta.concrete_fields
        if field.editable and not field.auto_created and field.name != "account"
    ]


def _form_class(entity: Entity) -> type[RecordForm]:
    return forms.models.modelform_factory(
        entity.model,
        form=ActivityForm if entity.type == "activity" else RecordForm,
        fields=editable_fields(entity),
        formfield_callback=_formfield,
    )


FORMS: dict[str, type[RecordForm]] = {
    entity_type: _form_class(entity) for entity_type, entity in ENTITIES.items()
}
