"""The recycle bin: delete into it, restore from it, purge it. Every function works on a set of
entries with a fixed number of queries per entity type, so restoring or purging a thousand
entries costs about what one does.

Invariant kept by these functions: a live record never links to an item in the bin. Deleting
an item clears live records' links to it and remembers them (HiddenLink); restoring puts them
back; purging forgets them."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import (
    RuleViolation,
    account_writable_require,
    admin_require,
    plan_require,
)
from crm.entities import ENTITIES, Entity, EntityType, entity_for_model
from crm.models import Activity, CrmRecord
from history.models import EventType
from history.services import history_event, history_record_many
from recyclebin.models import BinEntry, HiddenLink

# Deleting children before parents: activities first, then what they hang on.
PURGE_ORDER = ("activity", "deal", "contact", "lead", "company")


@dataclass
class RestoreResult:
    restored: list[tuple[str, int]] = field(default_factory=list)  # (entity_type, id)
    linked_in_bin: list[int] = field(default_factory=list)  # entries still holding link targets
    entries: list[int] = field(default_factory=list)  # the entries restored


def _links_into(entity: Entity) -> list[tuple[Entity, str]]:
    """(entity, field) for every link from a record of ``entity`` to another record."""
    return [(entity, name) for name in entity.link_fields]


def _links_to(target: Entity) -> list[tuple[Entity, str]]:
    """(entity, field) for every link that can point at a record of ``target``."""
    return [
        (entity, name)
        for entity in ENTITIES.values()
        for name in entity.link_fields
        if entity.model._meta.get_field(name).related_model is target.model
    ]


def _title(record: CrmRecord) -> str:
    return record.title_text[:255] or f"#{record.pk}"


@transaction.atomic
def bin_delete(*, record: CrmRecord, actor: User | None) -> BinEntry:
    """Move ``record`` and its activities into the bin as one entry."""
    account = record.account
    account_writable_require(account=account)
    entity = entity_for_model(type(record))
    # Lock the row: a second delete of the same record waits, then finds it gone.
    if not type(record).objects.for_account(account).select_for_update().filter(pk=record.pk):
        raise Http404(f"No such {entity.type.value}.")

    activities: list[tuple[int, str]] = []
    if entity.type != EntityType.ACTIVITY:
        activities = list(
            Activity.objects.for_account(account)
            .filter(**{entity.type.value: record})
            .values_list("id", "subject")
        )
    now = timezone.now()
    entry = BinEntry.objects.create(
        account=account,
        entity_type=entity.type,
        entity_id=record.pk,
        title=_title(record),
        deleted_by=actor,
        deleted_at=now,
        purge_after=now + timedelta(days=settings.BIN_RETENTION_DAYS),
        item_count=1 + len(activities),
    )
    type(record).objects.filter(pk=record.pk).update(bin_entry=entry)
    Activity.objects.filter(pk__in=[pk for pk, _ in activities]).update(bin_entry=entry)
    hidden = _links_hide(account=account, entry=entry, target=entity)

    events = [
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.DELETE,
            entity_type=entity.type,
            entity_id=record.pk,
            title=entry.title,
            occurred_at=now,
            details={"bin_entry": entry.pk, "item_count": entry.item_count, "unlinked": hidden},
        )
    ]
    events += [
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.DELETE,
            entity_type=EntityType.ACTIVITY,
            entity_id=pk,
            title=subject,
            occurred_at=now,
            details={"bin_entry": entry.pk, "with": [entity.type.value, record.pk]},
        )
        for pk, subject in activities
    ]
    history_record_many(events)
    return entry


def _links_hide(*, account: Account, entry: BinEntry, target: Entity) -> int:
    """Clear live records' links to the entry's item, remembering each. Returns how many."""
    hidden = 0
    for entity, name in _links_to(target):
        ids = list(
            entity.model.objects.for_account(account)
            .filter(**{name: entry.entity_id})
            .values_list("id", flat=True)
        )
        if not ids:
            continue
        HiddenLink.objects.bulk_create(
            HiddenLink(entry=entry, entity_type=entity.type, record_id=pk, field=name) for pk in ids
        )
        entity.model.objects.filter(pk__in=ids).update(**{name: None})
        hidden += len(ids)
    return hidden


def _lock(*, account: Account, entry_ids) -> dict[int, BinEntry]:
    entries = BinEntry.objects.for_account(account).select_for_update().filter(pk__in=entry_ids)
    return {entry.pk: entry for entry in entries.order_by("pk")}


def _items(*, account: Account, entry_ids) -> dict[str, dict[int, int]]:
    """The rows these entries hold, per entity type: ``{row id: its entry id}`` (iterating
    it, or ``pk__in=`` it, gives the row ids)."""
    return {
        entity_type: dict(
            entity.model.objects.in_bin(account=account, entry_ids=entry_ids).values_list(
                "id", "bin_entry"
            )
        )
        for entity_type, entity in ENTITIES.items()
    }


def _linked_entries(
    *, account: Account, entry_ids: set[int], items: dict[str, dict[int, int]]
) -> tuple[set[int], dict[int, int]]:
    """Other entries holding items the given ones link to: ``(entries, parents)`` where
    ``parents`` maps an activity id to its parent's entry when that parent is in another
    entry; such an activity cannot come back alone."""
    linked: set[int] = set()
    parents: dict[int, int] = {}
    for entity_type, ids in items.items():
        if not ids:
            continue
        entity = ENTITIES[entity_type]
        for _entity, name in _links_into(entity):
            rows = (
                entity.model.objects.filter(pk__in=ids, **{f"{name}__bin_entry__isnull": False})
                .exclude(**{f"{name}__bin_entry__in": entry_ids})
                .values_list("id", f"{name}__bin_entry")
            )
            for pk, target_entry in rows:
                linked.add(target_entry)
                if entity.type == EntityType.ACTIVITY:
                    parents[pk] = target_entry
        # Links hidden while this item was live and its target went into the bin.
        linked.update(
            HiddenLink.objects.filter(
                entry__account=account, entity_type=entity_type, record_id__in=ids
            )
            .exclude(entry_id__in=entry_ids)
            .values_list("entry_id", flat=True)
        )
    return linked, parents


@transaction.atomic
def bin_restore(
    *, account: Account, entry_ids, actor: User, together: bool = False
) -> RestoreResult:
    """Bring the entries' items back, with the same ids. ``together``: also restore the entries
    holding items they link to (a contact's company), and theirs, and so on."""
    account_writable_require(account=account)
    plan_require(account=account, feature=Feature.BIN_RESTORE)
    entries = _lock(account=account, entry_ids=entry_ids)
    _visible_require(entries=entries.values(), entry_ids=entry_ids, actor=actor)

    while True:
        items = _items(account=account, entry_ids=set(entries))
        linked, parents = _linked_entries(account=account, entry_ids=set(entries), items=items)
        if not (together and linked):
            break
        more = _lock(account=account, entry_ids=linked - set(entries))
        _visible_require(entries=more.values(), entry_ids=more, actor=actor)
        entries.update(more)
    if parents:
        activity = Activity.objects.filter(account=account).get(pk=next(iter(parents)))
        parent = activity.parent
        raise RuleViolation(
            code="parent_in_bin",
            message=_(
                "The activity “%(activity)s” belongs to “%(parent)s”, which is in the recycle "
                "bin too. Restore them together."
            )
            % {"activity": activity.subject, "parent": parent.title_text},
        )

    result = RestoreResult(entries=sorted(entries))
    for entity_type, ids in items.items():
        ENTITIES[entity_type].model.objects.filter(pk__in=ids).update(bin_entry=None)
        result.restored += [(entity_type, pk) for pk in ids]
    result.linked_in_bin = sorted(_links_hide_to_bin(account=account, items=items) | linked)
    _hidden_links_restore(account=account, entries=entries.values())

    subjects = dict(Activity.objects.filter(pk__in=items["activity"]).values_list("id", "subject"))
    main = {(e.entity_type, e.entity_id): e for e in entries.values()}
    now = timezone.now()
    history_record_many(
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.RESTORE,
            entity_type=entity_type,
            entity_id=pk,
            title=main[(entity_type, pk)].title if (entity_type, pk) in main else subjects[pk],
            occurred_at=now,
            # The entry this row came from, not all of them: a thousand entries restored
            # together would write a thousand ids into each of a thousand events.
            details={"bin_entries": [items[entity_type][pk]]},
        )
        for entity_type, pk in result.restored
    )
    BinEntry.objects.filter(pk__in=entries).delete()  # their hidden links go with them
    return result


def _links_hide_to_bin(*, account: Account, items: dict[str, dict[int, int]]) -> set[int]:
    """Restored records that still point at an item in the bin: clear the link and remember
    it in that item's entry. Returns those entries."""
    entries: set[int] = set()
    for entity_type, ids in items.items():
        entity = ENTITIES[entity_type]
        if not ids or entity.type == EntityType.ACTIVITY:
            continue  # activities never reach here with a parent in the bin
        for _entity, name in _links_into(entity):
            rows = list(
                entity.model.objects.filter(
                    pk__in=ids, **{f"{name}__bin_entry__isnull": False}
                ).values_list("id", f"{name}__bin_entry")
            )
            if not rows:
                continue
            HiddenLink.objects.bulk_create(
                HiddenLink(entry_id=entry, entity_type=entity_type, record_id=pk, field=name)
                for pk, entry in rows
            )
            entity.model.objects.filter(pk__in=[pk for pk, _ in rows]).update(**{name: None})
            entries.update(entry for _, entry in rows)
    return entries


def _hidden_links_restore(*, account: Account, entries) -> None:
    """Put back the links these entries hid, where the record still exists and its link is
    still empty (a record linked elsewhere meanwhile keeps its new link). One UPDATE per link
    field, however many entries (a record hidden from two of them gets the newer link)."""
    hidden = HiddenLink.objects.filter(entry_id__in=[entry.pk for entry in entries])
    for entity_type, name in set(hidden.values_list("entity_type", "field")):
        links = hidden.filter(entity_type=entity_type, field=name)
        target = (
            links.filter(record_id=OuterRef("pk"))
            .order_by("-entry_id")
            .values("entry__entity_id")[:1]
        )
        ENTITIES[entity_type].model.objects.filter(
            account=account, pk__in=links.values("record_id"), **{name: None}
        ).update(**{name: Subquery(target)})


def _visible_require(*, entries, entry_ids, actor: User | None) -> None:
    """Every asked-for entry exists in the account and the actor may see it (employees see
    only their own); otherwise nothing happens and the answer is "not found"."""
    found = {entry.pk for entry in entries}
    wanted = set(entry_ids)
    if actor is not None and not actor.is_account_admin:
        found = {entry.pk for entry in entries if entry.deleted_by_id == actor.pk}
    if wanted - found:
        missing = ", ".join(str(pk) for pk in sorted(wanted - found))
        raise Http404(_("Not in your recycle bin: %(ids)s.") % {"ids": missing})


@transaction.atomic
def bin_purge(*, account: Account, entry_ids, actor: User | None) -> int:
    """Delete the entries' items for good (``actor`` None: the automatic purge). Activities
    whose parent is purged go too, whichever entry holds them. Returns the entries purged."""
    if actor is not None:
        account_writable_require(account=account)
        admin_require(user=actor)
    entries = _lock(account=account, entry_ids=entry_ids)
    _visible_require(entries=entries.values(), entry_ids=entry_ids, actor=actor)
    items = _items(account=account, entry_ids=set(entries))
    # Activities in other entries hanging on a purged item cannot outlive it.
    orphans = set()
    for entity_type, ids in items.items():
        if ids and entity_type != EntityType.ACTIVITY:
            orphans.update(
                Activity.objects.filter(account=account, bin_entry__isnull=False)
                .exclude(bin_entry__in=entries)
                .filter(**{f"{entity_type}__in": ids})
                .values_list("bin_entry", flat=True)
            )
    if orphans:
        entries.update(_lock(account=account, entry_ids=orphans))
        items = _items(account=account, entry_ids=set(entries))

    subjects = dict(Activity.objects.filter(pk__in=items["activity"]).values_list("id", "subject"))
    for entity_type in PURGE_ORDER:
        ENTITIES[entity_type].model.objects.filter(pk__in=items[entity_type]).delete()

    main = {(e.entity_type, e.entity_id): e for e in entries.values()}
    now = timezone.now()
    history_record_many(
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.PURGE,
            entity_type=entity_type,
            entity_id=pk,
            title=main[(entity_type, pk)].title if (entity_type, pk) in main else subjects[pk],
            occurred_at=now,
            details={"bin_entries": [items[entity_type][pk]]},  # as bin_restore's events
        )
        for entity_type in PURGE_ORDER
        for pk in items[entity_type]
    )
    BinEntry.objects.filter(pk__in=entries).delete()
    return len(entries)


def bin_empty(*, account: Account, actor: User) -> int:
    """Purge every entry of the account (admins only)."""
    account_writable_require(account=account)  # refused even with an empty bin, like any change
    admin_require(user=actor)
    entry_ids = list(BinEntry.objects.for_account(account).values_list("id", flat=True))
    return bin_purge(account=account, entry_ids=entry_ids, actor=actor) if entry_ids else 0


def bin_purge_expired(*, batch_size: int = 500) -> int:
    """The automatic purge: entries past their purge date, a batch per transaction, as the
    system. Accounts under maintenance (a rollback running) wait for the next run."""
    purged = 0
    while True:
        # Across accounts on purpose: this is the system's job; each batch is purged inside
        # its own account below.
        batch = list(
            BinEntry.objects.filter(purge_after__lte=timezone.now(), account__maintenance=False)
            .order_by("purge_after")
            .values_list("account_id", "id")[:batch_size]
        )
        if not batch:
            return purged
        per_account: dict[int, list[int]] = defaultdict(list)
        for account_id, entry_id in batch:
            per_account[account_id].append(entry_id)
        for account in Account.objects.filter(pk__in=per_account):
            purged += bin_purge(account=account, entry_ids=per_account[account.pk], actor=None)
