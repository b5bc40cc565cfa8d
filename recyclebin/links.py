"""The recycle bin's invariant: a live record never links to an item in the bin. Deleting an
item clears live records' links to it and remembers each one (HiddenLink); restoring puts them
back where they are still empty; purging forgets them (with their entry, and those other
entries hid on the purged items). Called by
recyclebin.services inside the transaction of the delete or restore, on locked entries; each
link it changes is written on the linked record's own history (``link_events``)."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any, cast

from django.db import models
from django.db.models import OuterRef, Q, Subquery

from accounts.models import Account, User
from crm.entities import ENTITIES, Entity, EntityType
from crm.models import CrmRecord
from history.models import Event, EventType
from history.services import history_event
from recyclebin.models import BinEntry, HiddenLink

# The rows some entries hold, per entity type: ``{row id: its entry id}``.
Items = dict[str, dict[int, int]]


@dataclass(frozen=True)
class LinkChange:
    """A live record's link cleared (a delete hid it) or put back (a restore), for its own
    history: ``field`` from ``old`` to ``new`` (ids, None for no link)."""

    entity: Entity
    record_id: int
    field: str
    old: int | None
    new: int | None


def links_into(entity: Entity) -> list[tuple[Entity, str]]:
    """(entity, field) for every link from a record of ``entity`` to another record."""
    return [(entity, name) for name in entity.link_fields]


def links_to(target: Entity) -> list[tuple[Entity, str]]:
    """(entity, field) for every link that can point at a record of ``target``."""
    return [
        (entity, name)
        for entity in ENTITIES.values()
        for name in entity.link_fields
        if entity.model._meta.get_field(name).related_model is target.model
    ]


def links_purged(*, account: Account, items: Items) -> list[LinkChange]:
    """The links that purging ``items`` will clear (a link that empties itself when its
    target goes: a contact in the bin whose company is purged), for those records' history.
    Links of the purged items themselves, and activities (which go with their parent), are
    not counted."""
    cleared: list[LinkChange] = []
    for target_type, ids in items.items():
        if not ids:
            continue
        for entity, name in links_to(ENTITIES[target_type]):
            field = cast(models.ForeignKey, entity.model._meta.get_field(name))
            if field.remote_field.on_delete is not models.SET_NULL:
                continue
            rows = (
                entity.model.objects.filter(account=account, **{f"{name}__in": list(ids)})
                .exclude(pk__in=list(items.get(entity.type.value, ())))
                .values_list("id", field.attname)
            )
            cleared += [LinkChange(entity, pk, name, target, None) for pk, target in rows]
    return cleared


def links_hide(*, account: Account, entry: BinEntry, target: Entity) -> list[LinkChange]:
    """Clear live records' links to the entry's item, remembering each. Returns them."""
    hidden: list[LinkChange] = []
    for entity, name in links_to(target):
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
        hidden += [LinkChange(entity, pk, name, entry.entity_id, None) for pk in ids]
    return hidden


def entries_linked(
    *, account: Account, entry_ids: set[int], items: Items
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
        for _entity, name in links_into(entity):
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


def link_targets_lock(*, items: Items) -> None:
    """Lock the records the items link to (their parents), parents before children as every
    service does (CONTRIBUTING.md, "Concurrency"). A delete of one of them locks it first: it
    either commits before, and the restore then sees it in the bin and hides the link, or
    waits for the restore, and then hides the restored records' links itself. Without the
    lock a restored record could come back linking to a record deleted meanwhile."""
    for target in ENTITIES.values():  # the registry's order: parents first
        linked = Q()
        for entity, name in links_to(target):
            if ids := items.get(entity.type.value):
                rows = entity.model.objects.filter(pk__in=ids).values(f"{name}_id")
                linked |= Q(pk__in=Subquery(rows))
        if linked:
            list(  # one query per target type, by id: SELECT ... FOR NO KEY UPDATE
                target.model.objects.filter(linked)
                .select_for_update(no_key=True)
                .order_by("pk")
                .values_list("pk", flat=True)
            )


def links_to_bin_hide(*, items: Items) -> tuple[set[int], list[LinkChange]]:
    """Restored records that still point at an item in the bin: clear the link and remember
    it in that item's entry. Returns those entries, and the links cleared."""
    entries: set[int] = set()
    cleared: list[LinkChange] = []
    for entity_type, ids in items.items():
        entity = ENTITIES[entity_type]
        if not ids or entity.type == EntityType.ACTIVITY:
            continue  # activities never reach here with a parent in the bin
        for _entity, name in links_into(entity):
            rows = list(
                entity.model.objects.filter(
                    pk__in=ids, **{f"{name}__bin_entry__isnull": False}
                ).values_list("id", f"{name}__bin_entry", f"{name}_id")
            )
            if not rows:
                continue
            HiddenLink.objects.bulk_create(
                (
                    HiddenLink(entry_id=entry, entity_type=entity_type, record_id=pk, field=name)
                    for pk, entry, _target in rows
                ),
                # The entry may remember this link already (it was hidden when the item was
                # deleted, and set again on the record while it was in the bin, by a revert).
                ignore_conflicts=True,
            )
            entity.model.objects.filter(pk__in=[pk for pk, _e, _t in rows]).update(**{name: None})
            entries.update(entry for _pk, entry, _target in rows)
            cleared += [LinkChange(entity, pk, name, target, None) for pk, _e, target in rows]
    return entries, cleared


def hidden_links_forget(*, account: Account, items: Items) -> None:
    """Purged items: the links other entries hide on them go too (their own entries' hidden
    links go with the entries). One query."""
    named = [Q(entity_type=key, record_id__in=ids) for key, ids in items.items() if ids]
    if named:
        HiddenLink.objects.filter(entry__account=account).filter(reduce(or_, named)).delete()


def hidden_links_restore(*, account: Account, entries: Iterable[BinEntry]) -> list[LinkChange]:
    """Put back the links these entries hid, where the record still exists and its link is
    still empty (a record linked elsewhere meanwhile keeps its new link). One UPDATE per link
    field, however many entries (a record hidden from two of them gets the newer link), after
    the rows it changes are locked and read (returned, for their history)."""
    restored: list[LinkChange] = []
    hidden = HiddenLink.objects.filter(entry_id__in=[entry.pk for entry in entries])
    for entity_type, name in set(hidden.values_list("entity_type", "field")):
        links = hidden.filter(entity_type=entity_type, field=name)
        target = (
            links.filter(record_id=OuterRef("pk"))
            .order_by("-entry_id")
            .values("entry__entity_id")[:1]
        )
        entity = ENTITIES[entity_type]
        rows = entity.model.objects.filter(
            account=account, pk__in=links.values("record_id"), **{name: None}
        )
        put_back = list(
            rows.select_for_update()
            .annotate(target=Subquery(target))
            .order_by("pk")
            .values_list("pk", "target")
        )
        if put_back:
            rows.filter(pk__in=[pk for pk, _target in put_back]).update(**{name: Subquery(target)})
            restored += [LinkChange(entity, pk, name, None, to) for pk, to in put_back]
    return restored


def record_title(record: CrmRecord) -> str:
    """How the bin and the history name a record: its title, or its id."""
    return record.title_text[:255] or f"#{record.pk}"


def link_events(
    *,
    account: Account,
    actor: User | None,
    changes: list[LinkChange],
    occurred_at: datetime,
    details: dict[str, Any],
    entry_of: Callable[[LinkChange], int] | None = None,
) -> list[Event]:
    """An ``update`` event on each live record whose link a delete cleared or a restore put
    back, with the link's old and new value, so the record's own history shows it.
    ``entry_of``: the bin entry a change is owed to, kept as the event's ``bin_entries`` (that
    one only: a thousand entries restored together would write a thousand ids into each of
    their links' events)."""
    titles: dict[tuple[str, int], str] = {}
    by_type: dict[str, set[int]] = defaultdict(set)
    for change in changes:
        by_type[change.entity.type.value].add(change.record_id)
    for entity_type, ids in by_type.items():
        entity = ENTITIES[entity_type]
        named = entity.model.objects.filter(account=account, pk__in=ids)
        for row in named.values("id", *entity.title_fields):
            record = entity.model(**row)  # its title fields and id: enough to name it
            titles[(entity_type, record.pk)] = record_title(record)
    return [
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.UPDATE,
            entity_type=change.entity.type,
            entity_id=change.record_id,
            title=titles.get((change.entity.type.value, change.record_id), ""),
            occurred_at=occurred_at,
            changes={change.field: [change.old, change.new]},
            details=details if entry_of is None else {**details, "bin_entries": [entry_of(change)]},
        )
        for change in changes
    ]
