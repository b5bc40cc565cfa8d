"""``entities`` and ``recover``: the rows they write meet the recycle bin as it is now, not as
it was in the snapshot. What the bin would have done, done after the apply, in its transaction
(recyclebin's invariants, DESIGN.md "Integrity"):

- a live record that links to a record in the bin (a deal brought back whose company has been
  deleted since; live deals of a company an ``entities`` restore put back into the bin) has
  the link cleared and remembered in that record's bin entry, so restoring the entry puts it
  back; an activity goes into the entry instead, as a delete of its parent takes it along;
- a hidden link that names a record no longer in the account (one the restore removed, or
  one the snapshot remembered and that is gone now) is forgotten.

Each record changed gets its event (backups.restore.record_log): ``reverted`` with the link
cleared, or ``removed`` into the bin."""

from collections import Counter, defaultdict
from typing import cast

from django.db import models
from django.db.models import F

from backups.restore.outcome import Applied
from backups.restore.record_log import BIN, LIVE, REMOVED, REVERTED, RecordLog
from crm.entities import ENTITIES, EntityType
from history.models import Event
from history.services import history_changed, history_event
from recyclebin.models import BinEntry, HiddenLink


def bin_links_fix(*, account_id: int, log: RecordLog, applied: Applied) -> None:
    events: list[Event] = []
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
                    model._base_manager.filter(pk__in=ids).update(bin_entry_id=entry)
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
                model._base_manager.filter(pk__in=[row["id"] for row in rows]).update(
                    **{name: None}
                )
                nulled = applied.links_nulled.setdefault(table, {})
                nulled[column] = nulled.get(column, 0) + len(rows)
                action, state, cleared = REVERTED, [LIVE, LIVE], True

            events += [
                history_event(
                    account=log.account,
                    actor=log.actor,
                    event_type=log.event_type,
                    entity_type=key,
                    entity_id=row["id"],
                    title=model(**{f: row[f] for f in entity.title_fields}).title_text,
                    changes={name: [row[column], None]} if cleared else {},
                    details=log.details(action, *state),
                    occurred_at=log.occurred_at,
                )
                for row in rows
            ]
    for entry, count in added.items():
        BinEntry.objects.filter(pk=entry).update(item_count=F("item_count") + count)
    for key, entity in ENTITIES.items():
        HiddenLink.objects.filter(entry__account_id=account_id, entity_type=key).exclude(
            record_id__in=entity.model._base_manager.filter(account_id=account_id).values("pk")
        ).delete()
    if events:
        Event.objects.bulk_create(events, batch_size=1000)
        history_changed(account_id)
