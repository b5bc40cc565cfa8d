"""The support pages' forms. They parse input only; every rule (plan, admins only, one open
request, the weekly limit, the retention window, states) is checked by support.services."""

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.entities import ENTITIES
from support.models import RequestKind

# The kinds an admin can ask for in the browser (and support can propose), safest first.
REQUEST_KINDS = (
    (RequestKind.RECOVER, _("Recover: bring back what is gone")),
    (RequestKind.ENTITIES, _("Entity types: reset only some types")),
    (RequestKind.FULL, _("Full: reset the whole account")),
    (RequestKind.EXPORT, _("Export: download the data as it was")),
    (RequestKind.UNDO, _("Undo the last restore: back to its safety snapshot")),
)
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def entity_type_choices() -> list[tuple[str, str]]:
    return [(key, entity.verbose_name_plural.capitalize()) for key, entity in ENTITIES.items()]


class EntityTypesMixin:
    """``entity_types`` is required for the ``entities`` kind and ignored for the others."""

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == RequestKind.ENTITIES:
            if not cleaned.get("entity_types"):
                self.add_error("entity_types", _("Choose at least one type of record to restore."))
        else:
            cleaned["entity_types"] = []
        return cleaned


class RestoreRequestForm(EntityTypesMixin, forms.Form):
    """An admin's restore request. ``lost_at`` is a date and time in the current time zone (the
    view renders and parses inside the account's)."""

    lost_at = forms.DateTimeField(
        label=_("When was the data lost?"),
        required=False,  # not for an undo (clean)
        help_text=_("Date and time in your account's time zone. Choose a moment before the loss."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    kind = forms.ChoiceField(
        label=_("What should be restored?"),
        choices=REQUEST_KINDS,
        initial=RequestKind.RECOVER,
        widget=forms.RadioSelect,
    )
    entity_types = forms.MultipleChoiceField(
        label=_("Types of records"),
        choices=entity_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    message = forms.CharField(
        label=_("Message to support"),
        help_text=_("What happened, and what is missing? The more support knows, the better."),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean(self):
        cleaned = super().clean()
        missing = not cleaned.get("lost_at") and "lost_at" not in self.errors
        if missing and cleaned.get("kind") != RequestKind.UNDO:
            self.add_error("lost_at", _("Give the date and time the data was lost."))
        return cleaned


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ProposeForm(EntityTypesMixin, forms.Form):
    """Support's proposal: a snapshot of the request's account, a kind, the entity types.
    ``snapshots`` are the account's usable ones (the choices)."""

    snapshot = forms.TypedChoiceField(label=_("Snapshot"), coerce=int, widget=forms.RadioSelect)
    kind = forms.ChoiceField(label=_("Kind of restore"), choices=REQUEST_KINDS)
    entity_types = forms.MultipleChoiceField(
        label=_("Types of records"),
        choices=entity_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, snapshots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.snapshots = {snapshot.pk: snapshot for snapshot in snapshots}
        self.fields["snapshot"].choices = [(pk, f"#{pk}") for pk in self.snapshots]

    def clean_snapshot(self):
        return self.snapshots[self.cleaned_data["snapshot"]]


class ProposeMomentForm(EntityTypesMixin, forms.Form):
    """Support's proposal of a moment instead of a snapshot: a datetime-local field, read in
    the time zone active when it is validated (the view activates the account's)."""

    at = forms.DateTimeField(
        label=_("Moment"), input_formats=[DATETIME_LOCAL, f"{DATETIME_LOCAL}:%S"]
    )
    kind = forms.ChoiceField(
        label=_("Kind of restore"),
        choices=[(k, label) for k, label in REQUEST_KINDS if k in ("full", "entities", "recover")],
    )
    entity_types = forms.MultipleChoiceField(
        label=_("Types of records"),
        choices=entity_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        help_text=_("The admin reads this in the chat."),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ConfirmForm(forms.Form):
    acknowledge = forms.BooleanField(
        required=True,
        error_messages={"required": _("Tick the box to confirm that you understand what is lost.")},
    )
