"""``entities`` and ``recover``: the rows they write meet the recycle bin as it is now, not as
it was in the snapshot. What the bin would have done, done after the apply, in its transaction
(recyclebin's invariants, DESIGN.md "Integrity"):

- a live record that links to a record in the bin (a deal brought back whose company has been
  deleted since; live deals of a company an ``entities`` restore put back into the bin) has
  the link cleared and remembered in that record's bin entry, so restoring the entry puts it
  back; an activity goes into the entry instead, as a delete of its parent takes it along;
- a hidden link that names a record no longer in the account (one the restore removed, or
  one the snapshot remembered and that is gone now) is forgotten;
- an entry whose own record the restore took out of the bin (``entities``: live in the
  snapshot) or never brought back (``recover``: an activity whose parents are all gone) lets
  go of the rest (its activities come back live, the links it hid are put back), as a
  restore of the entry from the bin would, and leaves the bin; one whose record the restore
  removed (``entities``: created after the snapshot) leaves it too, and the links it hid are
  forgotten, as a purge does.

Each record changed gets its event (backups.restore.record_log): ``reverted`` with the link
cleared or put back, ``removed`` into the bin, ``brought_back`` out of it."""

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import cast

from django.db import models
from django.db.models import Exists, F, OuterRef

from backups.restore.outcome import Applied
from backups.restore.record_log import BIN, BROUGHT_BACK, LIVE, REMOVED, REVERTED, RecordLog
from crm.entities import ENTITIES, EntityType
from history.models import Event
from history.services import history_changed, history_event
from recyclebin.links import hidden_links_restore
from recyclebin.models import BinEntry, HiddenLink


def batches(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """Ids a few hundred at a time: SQLite takes at most 999 parameters a query. (Not
    changelog's: importing it here costs every restore process 7 MB of forms and filters.)"""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _entries_released(*, account_id: int, log: RecordLog, applied: Applied) -> list[Event]:
    """Entries that no longer hold their own record. Taken out of the bin by the restore
    (``entities``: live in the snapshot): what else they hold (its activities) comes back
    with it and the links they hid are put back, as a restore of the entry from the bin does.
    Removed by the restore (``entities``: created after the snapshot): the links they hid
    would name a record that is not there, so they are forgotten, as a purge does. Either
    way the entries go."""
    released = [
        entry
        for key, entity in ENTITIES.items()
        for entry in BinEntry.objects.filter(account_id=account_id, entity_type=key)
        .exclude(
            Exists(
                entity.model._base_manager.filter(
                    pk=OuterRef("entity_id"), bin_entry=OuterRef("pk")
                )
            )
        )
        .annotate(owner_here=Exists(entity.model._base_manager.filter(pk=OuterRef("entity_id"))))
    ]
    if not released:
        return []
    events: list[Event] = []
    entry_ids = [entry.pk for entry in released]
    for key, entity in ENTITIES.items():
        rows = [
            row
            for chunk in batches(entry_ids)
            for row in entity.model._base_manager.filter(bin_entry__in=chunk).values(
                "id", *entity.title_fields
            )
        ]
        for chunk in batches([row["id"] for row in rows]):
            entity.model._base_manager.filter(pk__in=chunk).update(bin_entry=None)
        events += [_event(log, key, row, BROUGHT_BACK, [BIN, LIVE], {}) for row in rows]
    relinked = hidden_links_restore(
        account=log.account, entries=[entry for entry in released if entry.owner_here]
    )
    rows_of: dict[tuple[str, int], dict] = {}
    for key in {change.entity.type.value for change in relinked}:
        entity = ENTITIES[key]
        ids = [change.record_id for change in relinked if change.entity.type.value == key]
        for chunk in batches(ids):
            for row in entity.model._base_manager.filter(pk__in=chunk).values(
                "id", "bin_entry_id", *entity.title_fields
            ):
                rows_of[(key, row["id"])] = row
    for change in relinked:
        key = change.entity.type.value
        row = rows_of[(key, change.record_id)]
        state = LIVE if row["bin_entry_id"] is None else BIN  # a record in the bin gets it too
        changes = {change.field: [change.old, change.new]}
        events.append(_event(log, key, row, REVERTED, [state, state], changes))
    for chunk in batches(entry_ids):
        BinEntry.objects.filter(pk__in=chunk).delete()
    applied.deleted_add(BinEntry._meta.db_table, len(released))
    return events


def _event(
    log: RecordLog,
    key: str,
    row: dict,
    action: str,
    state: list[str],
    changes: dict,
) -> Event:
    entity = ENTITIES[key]
    return history_event(
        account=log.account,
        actor=log.actor,
        event_type=log.event_type,
        entity_type=key,
        entity_id=row["id"],
        title=entity.model(**{f: row[f] for f in entity.title_fields}).title_text,
        changes=changes,
        details=log.details(action, *state),
        occurred_at=log.occurred_at,
    )


def bin_links_fix(*, account_id: int, log: RecordLog, applied: Applied) -> None:
    events = _entries_released(account_id=account_id, log=log, applied=applied)
    added: Counter[int] = Counter()  # activities gone into each entry
    for key, entity in ENTITIES.items():
        model = entity.model
        table = model._meta.db_table
        for name in entity.link_fields:
            column = cast(models.Field, model._meta.get_field(name)).column
            rows = list(
                model._base_manager.filter(
                    account_id=account_id,
                    bin_entry__isnull=True,
                    **{f"{name}__bin_entry__isnull": False},
                )
                .order_by("pk")
                .values("id", column, f"{name}__bin_entry", *entity.title_fields)
            )
            if not rows:
                continue
            if entity.type == EntityType.ACTIVITY:
                by_entry: dict[int, list[int]] = defaultdict(list)
                for row in rows:
                    by_entry[row[f"{name}__bin_entry"]].append(row["id"])
                for entry, ids in by_entry.items():
                    for chunk in batches(ids):
                        model._base_manager.filter(pk__in=chunk).update(bin_entry_id=entry)
                    added[entry] += len(ids)
                action, state, cleared = REMOVED, [LIVE, BIN], False
            else:
                HiddenLink.objects.bulk_create(
                    [
                        HiddenLink(
                            entry_id=row[f"{name}__bin_entry"],
                            entity_type=key,
                            record_id=row["id"],
                            field=name,
                        )
                        for row in rows
                    ],
                    ignore_conflicts=True,  # the entry may remember it already
                )
                for chunk in batches([row["id"] for row in rows]):
                    model._base_manager.filter(pk__in=chunk).update(**{name: None})
                nulled = applied.links_nulled.setdefault(table, {})
                nulled[column] = nulled.get(column, 0) + len(rows)
                action, state, cleared = REVERTED, [LIVE, LIVE], True

            events += [
                _event(log, key, row, action, state, {name: [row[column], None]} if cleared else {})
                for row in rows
            ]
    for entry, count in added.items():
        BinEntry.objects.filter(pk=entry).update(item_count=F("item_count") + count)
    for key, entity in ENTITIES.items():
        HiddenLink.objects.filter(entry__account_id=account_id, entity_type=key).exclude(
            # NOT EXISTS, an anti-join probing the primary key for the few hidden links (NOT
            # IN would read every row of the account's table)
            Exists(
                entity.model._base_manager.filter(account_id=account_id, pk=OuterRef("record_id"))
            )
        ).delete()
    if events:
        Event.objects.bulk_create(events, batch_size=1000)
        history_changed(account_id)
