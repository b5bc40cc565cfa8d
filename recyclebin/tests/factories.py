"""Recycle bin test helpers: entries made the real way (through bin_delete), and a picture of
everything the bin touches, to prove a refused call changed nothing."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from crm.models import Lead
from crm.tests.factories import MODELS, ActivityFactory, record_make
from history.models import Event
from recyclebin import services
from recyclebin.models import BinEntry, HiddenLink

API_ROOT = "/api/v1/recyclebin/"


def entry_path(entry_id) -> str:
    return f"{API_ROOT}{entry_id}/"


def entry_make(entity_type: str = "company", *, account, actor, activities: int = 0, **kwargs):
    """A record of ``entity_type`` (with ``activities`` activities on it) deleted by ``actor``:
    its BinEntry."""
    record = record_make(entity_type, account=account, **kwargs)
    if activities:
        parent = {"company": None, entity_type: record}
        ActivityFactory.create_batch(activities, account=account, **parent)
    return services.bin_delete(record=record, actor=actor)


def entries_bulk_make(*, account, actor, count: int, deleted_at=None, title: str = "Lead"):
    """``count`` leads in the bin, each its own entry deleted by ``actor`` at ``deleted_at``
    (now), in a handful of queries: thousands in well under a second. The rows are what
    bin_delete leaves for a lead (nothing links to a lead but its activities, and these have
    none); only the history's delete events are left out. Returns the entries, oldest id
    first."""
    deleted_at = deleted_at or timezone.now()
    leads = Lead.objects.bulk_create(
        Lead(account=account, title=f"{title} {n}", created_by=actor) for n in range(count)
    )
    entries = BinEntry.objects.bulk_create(
        BinEntry(
            account=account,
            entity_type="lead",
            entity_id=lead.pk,
            title=lead.title,
            deleted_by=actor,
            deleted_at=deleted_at,
            purge_after=deleted_at + timedelta(days=settings.BIN_RETENTION_DAYS),
        )
        for lead in leads
    )
    offsets = {entry.pk - lead.pk for lead, entry in zip(leads, entries, strict=True)}
    if len(offsets) == 1 and leads[-1].pk - leads[0].pk == count - 1:
        # Both id runs are contiguous (as good as always): one UPDATE links them all.
        Lead.objects.filter(account=account, pk__range=(leads[0].pk, leads[-1].pk)).update(
            bin_entry_id=F("pk") + offsets.pop()
        )
    else:
        for lead, entry in zip(leads, entries, strict=True):
            lead.bin_entry = entry
        Lead.objects.bulk_update(leads, ["bin_entry"], batch_size=250)
    return entries


def entries_expire(*entries, ago: timedelta = timedelta(minutes=1)) -> None:
    """Move the entries' purge date into the past, as time passing would."""
    BinEntry.objects.filter(pk__in=[e.pk for e in entries]).update(purge_after=timezone.now() - ago)


def bin_state() -> dict:
    """Every row the bin and the history consist of, all accounts: bin entries, hidden links,
    events, and every CRM record's columns (bin_entry and links among them)."""
    return {
        "entries": list(BinEntry.objects.order_by("pk").values()),
        "hidden_links": list(HiddenLink.objects.order_by("pk").values()),
        "events": list(Event.objects.order_by("pk").values()),
        "records": {
            entity_type: list(model.objects.order_by("pk").values())
            for entity_type, model in MODELS.items()
        },
    }


def live(record) -> bool:
    """Whether ``record`` is visible to its account (not in the bin)."""
    return type(record).objects.for_account(record.account).filter(pk=record.pk).exists()


def stored(record):
    """``record`` as stored now, in the bin or not."""
    return type(record).objects.get(pk=record.pk)
