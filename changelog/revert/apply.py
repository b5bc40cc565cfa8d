"""Applying a revert: one transaction, the records locked, the plan worked out again under
the lock, records brought back first, then fields, the bin and removals."""

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import account_writable_require, plan_require
from changelog.revert.plan import (
    BIN,
    RecordRevert,
    RevertPlan,
    SelectedRow,
    link_target,
    model_field,
    revert_plan,
    selection_rows,
    type_of,
)
from changelog.revert.selection import batches
from core.errors import RuleViolation
from crm.entities import ENTITIES, PURGE_ORDER, Entity
from history.models import Event, EventType
from history.services import history_event, history_record_many
from recyclebin.models import BinEntry
from recyclebin.services import bin_delete, bin_purge, bin_restore

# A record's revert event names at most this many of the events it undid.
EVENTS_NAMED = 50


def revert_preview(*, account: Account, actor: User, event_ids: list[int]) -> RevertPlan:
    """What a revert of ``event_ids`` would do now (nothing is changed)."""
    plan_require(account=account, feature=Feature.REVERT)
    return revert_plan(account=account, event_ids=event_ids)


def revert_apply(
    *,
    account: Account,
    actor: User | None,
    event_ids: list[int],
    force: bool = False,
    remove_gone: bool = False,
    only: set[tuple[str, int]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RevertPlan:
    """Revert ``event_ids`` in one transaction: the records locked, the plan worked out again
    under the lock, conflicts left as they are unless ``force`` (admins only). ``actor``
    None: the system (a restore to a moment, which support runs after an admin confirmed).
    ``remove_gone``: see revert_plan. Returns the plan as applied."""
    plan_require(account=account, feature=Feature.REVERT)
    if force and actor is not None and not actor.is_account_admin:
        raise RuleViolation(
            code="admin_only", message=_("Only account admins may overwrite later changes.")
        )
    with transaction.atomic():
        account_writable_require(account=account)
        rows = selection_rows(account=account, event_ids=event_ids)
        _lock(account=account, rows=rows)
        # The events written from here on are the revert's own: never a conflict of it.
        until = Event.objects.for_account(account).order_by("-id").values_list("id", flat=True)
        last = until.first() or 0
        plan = revert_plan(
            account=account,
            event_ids=event_ids,
            remove_gone=remove_gone,
            until=last,
            only=only,
            rows=rows,
        )
        back = [r for r in plan.records if r.action in BACK and r.applied(force=force)]
        _apply(
            account=account, actor=actor, plan=plan, force=force, phase="back", progress=progress
        )
        if back:
            again = revert_plan(
                account=account,
                event_ids=event_ids,
                remove_gone=remove_gone,
                until=last,
                only=only,
                rows=rows,
            )
            _apply(
                account=account,
                actor=actor,
                plan=again,
                force=force,
                phase="rest",
                progress=progress,
            )
        else:
            _apply(
                account=account,
                actor=actor,
                plan=plan,
                force=force,
                phase="rest",
                progress=progress,
            )
    return plan


BACK = ("unbin", "recreate")


def _lock(*, account: Account, rows: list[SelectedRow]) -> None:
    """Lock the records the events are on, parents first (the CRM's order)."""
    by_type: dict[str, set[int]] = defaultdict(set)
    for _pk, entity_type, entity_id, _kind, _details in rows:
        by_type[entity_type].add(entity_id)
    for entity_type, entity in ENTITIES.items():
        for batch in batches(sorted(by_type.get(entity_type, ()))):
            records = entity.model.objects.filter(account=account, pk__in=batch)
            list(records.select_for_update().order_by("pk").values_list("pk", flat=True))


def _event(
    *,
    account: Account,
    actor: User | None,
    record: RecordRevert,
    now: datetime,
    changes: Mapping[str, list[Any]],
    details: Mapping[str, Any],
    event_type: str = EventType.REVERT,
) -> Event:
    """An unsaved event about ``record`` (a ``revert``, unless said otherwise)."""
    return history_event(
        account=account,
        actor=actor,
        event_type=event_type,
        entity_type=record.entity.type,
        entity_id=record.id,
        title=record.title,
        occurred_at=now,
        changes=changes,
        details=details,
    )


def _python(entity: Entity, name: str, value: Any) -> tuple[str, Any]:
    """A history value as the model's attribute: ``(attname, value)``."""
    column = model_field(entity, name)
    if column.is_relation:
        return column.attname, None if value is None else int(value)
    if value is None and not column.null:
        value = ""
    return column.attname, column.to_python(value)


def _apply(
    *,
    account: Account,
    actor: User | None,
    plan: RevertPlan,
    force: bool,
    phase: str,
    progress: Callable[[int], None] | None,
) -> None:
    """``phase`` ``back``: records come back (from the bin, recreated); ``rest``: fields, the
    bin, removals. Between the two the plan is worked out again: what came back may have
    brought links and records with it (the bin's own rules)."""
    records = [record for record in plan.records if record.applied(force=force)]
    total = max(1, len(records))
    done = 0
    base = 0 if phase == "back" else 50

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(min(99, base + done * 50 // total))

    now = timezone.now()

    def changes_of(record: RecordRevert) -> dict[str, list[Any]]:
        return {
            each.field: [each.current, each.value] for each in record.fields_applied(force=force)
        }

    def details(record: RecordRevert, action: str) -> dict[str, Any]:
        return {"action": action, "events": record.events[:EVENTS_NAMED]}

    if phase == "back":
        _apply_back(
            account=account,
            actor=actor,
            records=records,
            force=force,
            now=now,
            step=step,
            changes_of=changes_of,
            details=details,
        )
        return
    _apply_rest(
        account=account,
        actor=actor,
        records=records,
        force=force,
        now=now,
        step=step,
        changes_of=changes_of,
        details=details,
    )


def _apply_back(
    *,
    account: Account,
    actor: User | None,
    records: list[RecordRevert],
    force: bool,
    now: datetime,
    step: Callable[[int], None],
    changes_of: Callable[[RecordRevert], dict[str, list[Any]]],
    details: Callable[[RecordRevert, str], dict[str, Any]],
) -> None:
    events: list[Event] = []
    # 1. Back from the bin: fields first (the rows are still in their tables), then the
    # entries, by the bin's own rules (links put back, an activity's parent).
    unbin = [record for record in records if record.action == "unbin"]
    _update(account=account, records=unbin, force=force, now=now)
    if unbin:
        bin_restore(
            account=account,
            entry_ids=sorted({record.bin_entry for record in unbin if record.bin_entry}),
            actor=actor,
            event_type=EventType.REVERT,
            details={"action": "restored"},
            changes={(r.entity.type.value, r.id): changes_of(r) for r in unbin},
        )
        step(len(unbin))

    # 2. Recreated from their last image, with their ids, parents first.
    for record in records:
        if record.action != "recreate":
            continue
        values = dict(record.image)
        for each in record.fields_applied(force=force):
            values[each.field] = each.value
        attributes = dict(_python(record.entity, name, value) for name, value in values.items())
        recreated = record.entity.model(account=account, created_by=None, **attributes)
        recreated.pk = record.id  # the same id: its history goes on
        recreated.save(force_insert=True)
        events.append(
            _event(
                account=account,
                actor=actor,
                record=record,
                now=now,
                changes={
                    name: [None, value] for name, value in values.items() if value is not None
                },
                details=details(record, "recreated"),
            )
        )
        # A link it had to a record that is gone, written as the bin writes a link it
        # clears: bringing that record back puts it back (_links_put_back).
        events += [
            _event(
                account=account,
                actor=actor,
                record=record,
                event_type=EventType.UPDATE,
                now=now,
                changes={name: [target, None]},
                details={
                    "cause": {
                        "event": EventType.REVERT.value,
                        "entity_type": type_of(link_target(record.entity, name)),
                        "id": target,
                    }
                },
            )
            for name, target in record.dropped.items()
        ]
        step(1)

    back = [record for record in records if record.action in ("recreate", "unbin")]
    if back:
        events += _links_put_back(account=account, actor=actor, records=back, now=now)
    history_record_many(events)


def _apply_rest(
    *,
    account: Account,
    actor: User | None,
    records: list[RecordRevert],
    force: bool,
    now: datetime,
    step: Callable[[int], None],
    changes_of: Callable[[RecordRevert], dict[str, list[Any]]],
    details: Callable[[RecordRevert, str], dict[str, Any]],
) -> None:
    # 3. Fields of live records (and of records in the bin).
    updated = [record for record in records if record.action == "update"]
    _update(account=account, records=updated, force=force, now=now)
    events = [
        _event(
            account=account,
            actor=actor,
            record=record,
            now=now,
            changes=changes_of(record),
            details={
                **details(record, "updated"),
                **({"in_bin": True} if record.state == BIN else {}),
            },
        )
        for record in updated
    ]
    step(len(updated))
    history_record_many(events)

    # 4. Into the bin (a created record's revert, or one that was in the bin), children
    # first: a record going to the bin keeps its link to a parent going too (the bin clears
    # only live records' links), as it had it when both were there before.
    binned = [record for record in records if record.action == "bin"]
    _update(account=account, records=binned, force=force, now=now)
    order = {entity_type: index for index, entity_type in enumerate(PURGE_ORDER)}
    for record in sorted(binned, key=lambda r: order[r.entity.type.value]):
        live = record.entity.model.objects.for_account(account).filter(pk=record.id).first()
        if live is not None:
            bin_delete(
                record=live,
                actor=actor,
                event_type=EventType.REVERT,
                details=details(record, "binned"),
                changes=changes_of(record),
            )
        step(1)

    # 5. Removed for good (records that did not exist at the moment restored to): into the
    # bin, then purged with their entries (their last images kept in the purge events).
    purge: set[int] = set()
    removed: list[Event] = []
    for record in records:
        if record.action != "remove":
            continue
        model = record.entity.model
        row = model.objects.filter(account=account, pk=record.id).values("bin_entry").first()
        if row is None:
            continue  # went with a parent removed before it
        if row["bin_entry"] is None:
            entry = bin_delete(
                record=model.objects.get(pk=record.id),
                actor=actor,
                event_type=EventType.REVERT,
                details=details(record, "binned"),
            )
            purge.add(entry.pk)
        elif BinEntry.objects.filter(
            pk=row["bin_entry"], entity_type=record.entity.type.value, entity_id=record.id
        ).exists():
            purge.add(row["bin_entry"])  # its own entry (an activity in its parent's goes too)
        else:
            removed.append(_removed_from_entry(account=account, actor=actor, record=record))
        step(1)
    history_record_many(removed)
    if purge:
        bin_purge(account=account, entry_ids=sorted(purge), actor=None)


def _removed_from_entry(*, account: Account, actor: User | None, record: RecordRevert) -> Event:
    """An activity in its parent's bin entry that did not exist at the moment restored to,
    while its parent did: deleted alone (the entry keeps the parent), its last image in its
    ``revert`` event (``removed``)."""
    entity = record.entity
    attnames = [model_field(entity, name).attname for name in entity.value_fields]
    rows = entity.model.objects.filter(account=account, pk=record.id)
    image = entity.image(rows.values(*attnames)[0])
    entry_id = rows.values_list("bin_entry", flat=True)[0]
    rows.delete()
    BinEntry.objects.filter(pk=entry_id).update(item_count=F("item_count") - 1)
    return _event(
        account=account,
        actor=actor,
        record=record,
        now=timezone.now(),
        changes={name: [value, None] for name, value in image.items()},
        details={"action": "removed", "events": record.events[:EVENTS_NAMED]},
    )


def _links_put_back(
    *, account: Account, actor: User | None, records: list[RecordRevert], now: datetime
) -> list[Event]:
    """The links to recreated records that their delete cleared on other records (the bin
    forgot them when it was purged; the delete's ``update`` events with ``details.cause``
    remember them): put back where the link is still empty, each with its ``update`` event."""
    events = []
    for record in records:
        cleared = Event.objects.for_account(account).filter(
            event_type=EventType.UPDATE,
            id__gt=min(record.events),
            details__cause__entity_type=record.entity.type.value,
            details__cause__id=record.id,
        )
        for entity_type, entity_id, changes, title in cleared.values_list(
            "entity_type", "entity_id", "changes", "entity_title"
        ):
            entity = ENTITIES.get(entity_type)
            for name, (old, new) in (changes or {}).items():
                if entity is None or old != record.id or new is not None:
                    continue
                attname = model_field(entity, name).attname
                linked = entity.model.objects.for_account(account).filter(
                    pk=entity_id, **{attname: None}
                )
                if linked.update(**{attname: record.id}):
                    events.append(
                        history_event(
                            account=account,
                            actor=actor,
                            event_type=EventType.UPDATE,
                            entity_type=entity_type,
                            entity_id=entity_id,
                            title=title,
                            occurred_at=now,
                            changes={name: [None, record.id]},
                            details={
                                "cause": {
                                    "event": EventType.REVERT.value,
                                    "entity_type": record.entity.type.value,
                                    "id": record.id,
                                }
                            },
                        )
                    )
    return events


def _update(*, account: Account, records: list[RecordRevert], force: bool, now: datetime) -> None:
    """Set the fields back, set-based: one UPDATE per type and set of fields (a burst edits
    the same fields of many records), from arrays on PostgreSQL, bulk_update elsewhere."""
    groups: dict[tuple[str, tuple[str, ...]], list[RecordRevert]] = defaultdict(list)
    for record in records:
        if applied := record.fields_applied(force=force):
            names = tuple(sorted(each.field for each in applied))
            groups[(record.entity.type.value, names)].append(record)
    for (entity_type, names), group in groups.items():
        entity = ENTITIES[entity_type]
        values = [
            {
                each.field: _python(entity, each.field, each.value)[1]
                for each in r.fields_applied(force=force)
            }
            for r in group
        ]
        if connection.vendor == "postgresql":
            _update_arrays(
                account=account, entity=entity, names=names, group=group, values=values, now=now
            )
            continue
        attnames = [model_field(entity, name).attname for name in names]
        rows = []
        for record, row_values in zip(group, values, strict=True):
            row = entity.model(account=account, updated_at=now)
            row.pk = record.id
            for name in names:
                setattr(row, model_field(entity, name).attname, row_values[name])
            rows.append(row)
        entity.model.objects.bulk_update(rows, [*attnames, "updated_at"], batch_size=500)


def _update_arrays(
    *,
    account: Account,
    entity: Entity,
    names: tuple[str, ...],
    group: list[RecordRevert],
    values: list[dict[str, Any]],
    now: datetime,
) -> None:
    """``UPDATE ... FROM unnest(ids, column values...)``: one statement for thousands of rows
    (Django's bulk_update writes a CASE per column, quadratic in the batch)."""
    quote = connection.ops.quote_name
    fields = [model_field(entity, name) for name in names]
    columns = [field.column for field in fields]
    assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns)
    arrays = ", ".join(
        ["%s::bigint[]", *(f"%s::{field.db_type(connection)}[]" for field in fields)]
    )
    aliases = ", ".join(["id", *(quote(column) for column in columns)])
    statement = (
        f"UPDATE {quote(entity.table)} AS t SET {assignments}, {quote('updated_at')} = %s "  # noqa: S608 - model names
        f"FROM unnest({arrays}) AS v({aliases}) WHERE t.id = v.id AND t.account_id = %s"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(group), 10_000):
            chunk = range(start, min(start + 10_000, len(group)))
            params: list[Any] = [now, [group[i].id for i in chunk]]
            for field, name in zip(fields, names, strict=True):
                params.append([field.get_db_prep_value(values[i][name], connection) for i in chunk])
            params.append(account.pk)
            cursor.execute(statement, params)  # the time (SET), the arrays, the account
