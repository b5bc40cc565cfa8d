"""Restore requests as a subject of the history (history.subjects): their type name, how a
step of one reads in a few words, and the page an admin opens from it. Registered in
support.apps."""

from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from history.display import short_text
from history.models import Event
from history.subjects import Subject
from support.models import RequestKind, SupportAccess

RESTORE_REQUEST = "restore_request"


class RequestEvent(models.TextChoices):
    """The steps of a restore request in the account's history, besides the rollback or
    recover it runs (registered with history in support.apps)."""

    REQUEST_FILED = "request_filed", gettext_lazy("Restore request filed")
    REQUEST_PROPOSED = "request_proposed", gettext_lazy("Restore proposed")
    REQUEST_CONFIRMED = "request_confirmed", gettext_lazy("Restore confirmed")
    REQUEST_APPROVED = "request_approved", gettext_lazy("Restore approved")
    REQUEST_COMPLETED = "request_completed", gettext_lazy("Restore completed")
    REQUEST_FAILED = "request_failed", gettext_lazy("Restore failed")
    REQUEST_REJECTED = "request_rejected", gettext_lazy("Restore request rejected")
    REQUEST_CANCELLED = "request_cancelled", gettext_lazy("Restore request cancelled")
    # The vendor's support staff looked at the account's data (a restore request's snapshots,
    # preview or export): who and what, so the account's admins can see it.
    SUPPORT_ACCESS = "support_access", gettext_lazy("Viewed by support")


def _request_url(request_id: int) -> str | None:
    try:
        return reverse("support:request_detail", args=[request_id])
    except NoReverseMatch:  # the support pages are not routed
        return None


# The kinds of restore, as a restore request's events name them.
RESTORE_KIND_LABELS = {
    RequestKind.FULL: gettext_lazy("full"),
    RequestKind.ENTITIES: gettext_lazy("entity types"),
    RequestKind.RECOVER: gettext_lazy("recover"),
    RequestKind.EXPORT: gettext_lazy("export"),
    RequestKind.UNDO: gettext_lazy("undo"),
}


def request_notes(events: list[Event]) -> dict[int, str]:
    """Words for a page's events about restore requests; support's looks at the account are
    counted on their SupportAccess rows, read in one query."""
    looks = [event.pk for event in events if event.event_type == RequestEvent.SUPPORT_ACCESS]
    tallies = (
        {tally.event_id: tally for tally in SupportAccess.objects.filter(event_id__in=looks)}
        if looks
        else {}
    )
    return {event.pk: request_note(event, tallies) for event in events}


def request_note(event: Event, tallies: dict[int, SupportAccess] | None = None) -> str:
    """A restore request's step in a few words: the kind and snapshot, or why it ended.
    ``tallies``: the SupportAccess rows of the support_access events, by event id (read here
    when not given)."""
    details = event.details if isinstance(event.details, dict) else {}
    if event.event_type == RequestEvent.REQUEST_REJECTED and details.get("reason"):
        return short_text(str(details["reason"]))
    if event.event_type == RequestEvent.REQUEST_FAILED and details.get("error"):
        return short_text(str(details["error"]))
    if event.event_type == RequestEvent.SUPPORT_ACCESS:
        if tallies is None:
            tallies = {
                tally.event_id: tally for tally in SupportAccess.objects.filter(event_id=event.pk)
            }
        return _access_note(event, tallies.get(event.pk))
    kind = RESTORE_KIND_LABELS.get(details.get("kind"), details.get("kind") or "")
    if details.get("kind") == "export" and details.get("snapshot"):
        return _("Export of snapshot #%(snapshot)s") % {"snapshot": details["snapshot"]}
    if details.get("snapshot"):
        return _("%(kind)s restore from snapshot #%(snapshot)s") % {
            "kind": capfirst(kind),
            "snapshot": details["snapshot"],
        }
    if kind:
        return _("%(kind)s restore") % {"kind": capfirst(kind)}
    return ""


def _access_note(event: Event, tally: SupportAccess | None) -> str:
    """What support staff looked at in that hour (support.services.support_access_record: the
    event is the hour's first look, its SupportAccess row counts them all), in words."""
    details = event.details if isinstance(event.details, dict) else {}
    looks = tally.looks if tally is not None else [details]
    parts: list[str] = []
    for look in looks:
        for part in _look_words(look):
            if part not in parts:
                parts.append(part)
    note = capfirst(", ".join(parts))
    views = tally.views if tally is not None else 1
    if views > 1:
        note += " " + ngettext("(%(count)s view)", "(%(count)s views)", views) % {"count": views}
    return note


def _look_words(look: dict) -> list[str]:
    parts = []
    if "snapshots" in (look.get("viewed") or []):
        parts.append(str(_("the account's snapshots")))
    if look.get("snapshot"):
        if look.get("kind") == "export":
            parts.append(_("the contents of snapshot #%(id)s") % {"id": look["snapshot"]})
        elif look.get("record_titles"):
            parts.append(
                _("the preview of snapshot #%(id)s with record titles") % {"id": look["snapshot"]}
            )
        else:
            parts.append(_("the preview of snapshot #%(id)s") % {"id": look["snapshot"]})
    return parts


SUBJECT = Subject(
    type=RESTORE_REQUEST,
    label=gettext_lazy("Restore request"),
    url=_request_url,
    notes=request_notes,
)
