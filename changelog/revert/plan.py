"""What a revert would do, worked out from the events alone (see the package's docstring)."""

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import Account
from changelog.revert.selection import batches
from crm.entities import ENTITIES, Entity
from crm.models import CrmRecord
from history.models import Event, EventType
from history.selectors import RECORD_CHANGES

# The states of a record.
LIVE, BIN, GONE = "live", "bin", "gone"


# The preview lists this many changes at most (API.md).
CHANGES_LISTED = 100


# The pseudo-field of a change that sends a record to the bin or brings it back.
RECORD = "_record"


@dataclass
class FieldRevert:
    field: str
    current: Any  # as the history writes values (JSON): links by id, decimals as text
    value: Any  # what it goes back to
    conflict: bool = False
    reason: str = ""  # why it is a conflict: "changed_later", "link_gone"


@dataclass
class RecordRevert:
    entity: Entity
    id: int
    title: str
    events: list[int]  # the selected events on this record
    state: str  # LIVE, BIN or GONE now
    target: str  # what it was before the first selected event
    fields: list[FieldRevert] = field(default_factory=list)
    conflict: bool = False  # going to the bin or coming back was left alone
    # It cannot come back at all (an activity whose parent is gone for good), even forced.
    blocked: bool = False
    # Links of its image to records that are gone: it comes back without them.
    dropped: dict[str, int] = field(default_factory=dict)
    image: dict[str, Any] = field(default_factory=dict)  # GONE -> LIVE: its last values
    bin_entry: int | None = None
    # A record that did not exist is removed for good, not sent to the bin (a restore to a
    # moment: what was created after it is gone, as a rollback removes it).
    remove: bool = False

    @property
    def action(self) -> str | None:
        """``recreate``, ``unbin``, ``bin``, ``remove``, ``update`` or None (nothing to do)."""
        if self.remove and self.target == GONE and self.state != GONE:
            return "remove"
        if self.target == LIVE:
            if self.state == GONE:
                return "recreate" if self.image else None
            if self.state == BIN:
                return "unbin"
            return "update" if self.fields else None
        if self.state == LIVE:
            return "bin"  # its fields, when it was in the bin, go back first
        if self.state == GONE:
            # Purged since: recreated, then (the plan worked out again) into the bin.
            return "recreate" if self.image else None
        return "update" if self.fields else None

    def applied(self, *, force: bool) -> bool:
        """Whether applying changes this record."""
        action = self.action
        if action is None:
            return False
        if self.blocked:
            return False
        if action in ("recreate", "unbin", "bin", "remove"):
            return force or not self.conflict
        return any(self._field_applied(each, force=force) for each in self.fields)

    @staticmethod
    def _field_applied(each: FieldRevert, *, force: bool) -> bool:
        return not each.conflict or (force and each.reason == "changed_later")

    def fields_applied(self, *, force: bool) -> list[FieldRevert]:
        applied = [each for each in self.fields if self._field_applied(each, force=force)]
        parents = self.entity.parent_fields
        if any(each.field in parents for each in self.fields if each not in applied):
            # An activity has exactly one parent: its parent links go back together or not.
            applied = [each for each in applied if each.field not in parents]
        return applied


@dataclass
class RevertPlan:
    events: int
    records: list[RecordRevert]

    def changes(self) -> Iterator[dict[str, Any]]:
        """API.md's ``changes``: one per field (``_record`` for a record that goes to the bin
        or comes back), conflicts included."""
        for record in self.records:
            action = record.action
            base = {
                "entity_type": record.entity.type.value,
                "entity_id": record.id,
                "title": record.title,
            }
            if action in ("recreate", "unbin", "bin", "remove"):
                yield {
                    **base,
                    "field": RECORD,
                    "current": record.state,
                    "value": record.target if action in ("bin", "remove") else LIVE,
                    "conflict": record.conflict,
                }
            if action not in ("bin", "remove"):
                for each in record.fields:
                    yield {
                        **base,
                        "field": each.field,
                        "current": each.current,
                        "value": each.value,
                        "conflict": each.conflict,
                    }

    def summary(self, *, force: bool = False, listed: int = CHANGES_LISTED) -> dict[str, Any]:
        """API.md's answer: counts (``records``: those that change, with or without
        ``force``) and the first ``listed`` changes."""
        changes = list(self.changes())
        return {
            "events": self.events,
            "records": sum(1 for record in self.records if record.applied(force=force)),
            "fields": sum(
                len(record.fields)
                for record in self.records
                if record.action not in ("bin", "remove")
            ),
            "conflicts": sum(1 for change in changes if change["conflict"]),
            "changes": changes[:listed],
        }


def _json(value: Any) -> Any:
    """A value as the history keeps it (Decimal and dates as text)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _restore_states(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """A restore's event on a record: where the record was before and after it (its
    ``details.state``), or None for an event of another type, or one written before restores
    said so (its ``action`` alone tells less: backups.restore.record_log)."""
    if event["event_type"] not in (EventType.ROLLBACK, EventType.RECOVER):
        return None
    state = (event["details"] or {}).get("state")
    if isinstance(state, list) and len(state) == 2:
        return str(state[0]), str(state[1])
    return None


def _before(event: Mapping[str, Any]) -> str:
    """The state of the record just before ``event``."""
    kind, action = event["event_type"], (event["details"] or {}).get("action")
    if states := _restore_states(event):
        return states[0]
    if kind in (EventType.ROLLBACK, EventType.RECOVER):
        return {"removed": LIVE, "brought_back": GONE}.get(str(action), LIVE)
    if kind == EventType.REVERT:
        if action == "updated" and (event["details"] or {}).get("in_bin"):
            return BIN  # the fields of a record in the bin, set back
        return {"restored": BIN, "recreated": GONE}.get(str(action), LIVE)
    return {EventType.CREATE: GONE, EventType.RESTORE: BIN, EventType.PURGE: BIN}.get(kind, LIVE)


def _existed(mine: list[dict[str, Any]], state: str) -> str:
    """Whether the record existed before the selected events: before the first of them that
    is not a link following another record's delete or restore (those happen on records in
    the bin too, and say nothing of the record's own existence)."""
    own = [event for event in mine if not (event["details"] or {}).get("cause")]
    return _before(own[0]) if own else state


def _value_changes(event: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The fields an event changed from one value to another (not a create's or a purge's
    image): ``{field: [old, new]}``."""
    kind, action = event["event_type"], (event["details"] or {}).get("action")
    if states := _restore_states(event):  # the fields of a record there before and after
        return (event["changes"] or {}) if GONE not in states else {}
    if (
        kind == EventType.UPDATE
        or (kind == EventType.REVERT and action in ("updated", "restored", "binned"))
        or (kind in (EventType.ROLLBACK, EventType.RECOVER) and action == "reverted")
    ):
        return event["changes"] or {}
    return {}


def _image(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The last values of a record an event removed (a purge, a restore's ``removed``): its
    set fields (one left out was empty)."""
    kind, action = event["event_type"], (event["details"] or {}).get("action")
    if states := _restore_states(event):
        gone = states[0] != GONE and states[1] == GONE
    else:
        gone = kind in (EventType.ROLLBACK, EventType.RECOVER) and action == "removed"
    if kind == EventType.PURGE or gone:
        return {name: pair[0] for name, pair in (event["changes"] or {}).items()}
    return None


# An event of the selection: id, entity type, entity id, event type, details.
SelectedRow = tuple[int, str, int, str, dict[str, Any]]

EVENT_COLUMNS = ("id", "event_type", "entity_type", "entity_id", "actor_id", "changes", "details")


def revert_plan(
    *,
    account: Account,
    event_ids: list[int],
    remove_gone: bool = False,
    until: int | None = None,
    only: set[tuple[str, int]] | None = None,
    rows: list[SelectedRow] | None = None,
) -> RevertPlan:
    """What reverting ``event_ids`` (from revert_selection) would do now (``rows``: their
    selection_rows, when the caller read them already). ``remove_gone``:
    records that did not exist before the first selected event are removed for good.
    ``until``: events after this id (the revert's own, while it applies) are not looked at.
    ``only``: the records it may change (a recover: those that come back), by type and id."""
    if rows is None:
        rows = selection_rows(account=account, event_ids=event_ids)
    selection = len(rows)
    rows = rows + _follow_ups(account=account, rows=rows, until=until)
    selected: dict[tuple[str, int], list[int]] = defaultdict(list)
    for pk, entity_type, entity_id, _kind, _details in rows:
        selected[(entity_type, entity_id)].append(pk)
    event_ids = sorted(pk for pk, *_rest in rows)
    chosen = set(event_ids)
    records: list[RecordRevert] = []
    for entity_type, entity in ENTITIES.items():  # parents first
        ids = sorted(
            pk
            for kind, pk in selected
            if kind == entity_type and (only is None or (kind, pk) in only)
        )
        wanted = set(ids)
        if not ids:
            continue
        first = min(
            pk
            for key, pks in selected.items()
            if key[0] == entity_type and key[1] in wanted
            for pk in pks
        )
        history = _record_events(
            account=account, entity_type=entity_type, ids=ids, since=first, until=until
        )
        now = _rows(account=account, entity=entity, ids=ids)
        for pk in ids:
            records.append(
                _record_plan(
                    entity=entity,
                    pk=pk,
                    events=history.get(pk, []),
                    chosen=chosen,
                    row=now.get(pk),
                )
            )
            records[-1].remove = remove_gone
    _links_check(account=account, records=records)
    return RevertPlan(events=selection, records=records)


def selection_rows(*, account: Account, event_ids: list[int]) -> list[SelectedRow]:
    """What the plan needs of each selected event, read once."""
    rows: list[SelectedRow] = []
    for batch in batches(sorted(set(event_ids))):
        events = Event.objects.for_account(account).filter(pk__in=batch)
        rows += events.values_list("pk", "entity_type", "entity_id", "event_type", "details")
    return rows


def _follow_ups(
    *, account: Account, rows: list[SelectedRow], until: int | None
) -> list[SelectedRow]:
    """The links the selection's deletes, restores and purges cleared or put back on other
    records (``update`` events with ``details.cause``, matched by bin entry): undoing a
    delete puts back the links it cleared, as they were."""
    deleted: set[int] = set()
    restored: set[int] = set()
    purged: set[int] = set()
    reverted: set[tuple[str, int]] = set()  # records of the selection's reverts
    for _pk, entity_type, entity_id, kind, details in rows:
        if kind not in (EventType.DELETE, EventType.RESTORE, EventType.PURGE, EventType.REVERT):
            continue
        if kind == EventType.REVERT:
            reverted.add((entity_type, entity_id))
        details = details or {}
        if "bin_entry" in details and kind != EventType.RESTORE:
            deleted.add(details["bin_entry"])
        if kind == EventType.RESTORE or details.get("action") == "restored":
            restored.update(details.get("bin_entries") or [])
        if kind == EventType.PURGE:
            purged.update(details.get("bin_entries") or [])
    if not (deleted or restored or purged or reverted):
        return []
    chosen = {row[0] for row in rows}
    # A revert's own link events (a link it put back on another record, or one it could not
    # set on a record it recreated) name no bin entry: they are matched by the revert's time
    # (one for all its events) and its record, as the cause or as the record itself.
    reverts = {
        (entity_type, entity_id, at)
        for chunk in batches([row[0] for row in rows if row[3] == EventType.REVERT])
        for entity_type, entity_id, at in Event.objects.for_account(account)
        .filter(pk__in=chunk)
        .values_list("entity_type", "entity_id", "occurred_at")
    }
    candidates = (
        Event.objects.for_account(account)
        .filter(
            event_type=EventType.UPDATE,
            id__gt=min(chosen),
            id__lte=until if until is not None else 2**63 - 1,
            details__has_key="cause",
        )
        .values_list("pk", "entity_type", "entity_id", "event_type", "details", "occurred_at")
    )
    return [
        row[:5]
        for row in candidates.iterator(chunk_size=2000)
        if row[0] not in chosen
        and (
            (
                row[4]["cause"].get("event") == EventType.REVERT
                and (
                    (row[4]["cause"].get("entity_type"), row[4]["cause"].get("id"), row[5])
                    in reverts
                    or (row[1], row[2], row[5]) in reverts
                )
            )
            or row[4].get("bin_entry") in deleted
            or (
                row[4]["cause"].get("event") == EventType.PURGE
                and purged.intersection(row[4].get("bin_entries") or [])
            )
            or (
                row[4]["cause"].get("event") != EventType.PURGE
                and restored.intersection(row[4].get("bin_entries") or [])
            )
        )
    ]


def _record_events(
    *, account: Account, entity_type: str, ids: list[int], since: int, until: int | None
) -> dict[int, list[dict[str, Any]]]:
    """Every change event on these records from event ``since`` on (the first selected: only
    what came after matters), links a delete cleared included, oldest first."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for batch in batches(ids):
        rows = (
            Event.objects.for_account(account)
            .filter(entity_type=entity_type, entity_id__in=batch, id__gte=since)
            .filter(id__lte=until if until is not None else 2**63 - 1)
            .filter(event_type__in=[str(kind) for kind in RECORD_CHANGES])
            .order_by("id")
            .values(*EVENT_COLUMNS)
        )
        for row in rows.iterator(chunk_size=2000):
            found[row["entity_id"]].append(row)
    return found


def _rows(*, account: Account, entity: Entity, ids: list[int]) -> dict[int, dict[str, Any]]:
    attnames = [model_field(entity, name).attname for name in entity.value_fields]
    rows: dict[int, dict[str, Any]] = {}
    for batch in batches(ids):
        query = entity.model.objects.filter(account=account, pk__in=batch)
        for row in query.values("id", "bin_entry_id", *attnames):
            rows[row["id"]] = row
    return rows


def _record_plan(
    *,
    entity: Entity,
    pk: int,
    events: list[dict[str, Any]],
    chosen: set[int],
    row: dict[str, Any] | None,
) -> RecordRevert:
    mine = [event for event in events if event["id"] in chosen]
    first = mine[0]["id"]
    later_others = [event for event in events if event["id"] > first and event["id"] not in chosen]
    if row is None:
        state = GONE
    else:
        state = BIN if row["bin_entry_id"] is not None else LIVE
    plan = RecordRevert(
        entity=entity,
        id=pk,
        title="",
        events=[event["id"] for event in mine],
        state=state,
        target=_existed(mine, state),
        bin_entry=row["bin_entry_id"] if row else None,
    )
    # Someone else changed the record since (a purge only ends a deletion: not a change).
    plan.conflict = any(
        event["event_type"] != EventType.PURGE and not (event["details"] or {}).get("cause")
        for event in later_others
    )
    if plan.target == GONE:
        plan.title = _title(entity, row) if row else ""
        return plan

    if row is None and (
        images := [image for event in events if (image := _image(event)) is not None]
    ):
        plan.image = images[-1]
    # Each field's value before the first selected event that tells it: a change of it, or
    # an image of the whole record (after which it may have come back with other values:
    # a restore brings a record back from its snapshot, whose event has no values).
    targets: dict[str, tuple[Any, int]] = {}
    for event in mine:
        if (image := _image(event)) is not None:
            for name in entity.value_fields:
                targets.setdefault(name, (image.get(name), event["id"]))
            break
        for name, pair in _value_changes(event).items():
            if name in entity.value_fields and name not in targets:
                targets[name] = (pair[0], event["id"])
    for name, (value, since) in targets.items():
        if row is not None:
            now = _json(row[model_field(entity, name).attname])
        else:
            now = plan.image.get(name)
        if now == value or (now in (None, "") and value in (None, "")):
            continue
        changed_later = any(
            name in _value_changes(event) for event in later_others if event["id"] > since
        )
        plan.fields.append(
            FieldRevert(
                field=name,
                current=now,
                value=value,
                conflict=changed_later,
                reason="changed_later" if changed_later else "",
            )
        )
    if row is not None:
        plan.title = _title(entity, row)
    else:
        plan.title = _title(entity, plan.image)
    return plan


def _title(entity: Entity, values: Mapping[str, Any]) -> str:
    """The record's ``title_text`` from its title fields, without making a model instance
    (thousands of records a revert)."""
    fields = SimpleNamespace(**{name: values.get(name) or "" for name in entity.title_fields})
    return (entity.model.title_text.fget(fields) or "")[:255]  # type: ignore[attr-defined]


def _links_check(*, account: Account, records: list[RecordRevert]) -> None:
    """A link can go back only to a record that is live, or that this revert brings back.
    A record whose coming back is a conflict does not count: left alone, it stays where it is
    (forced, it comes back first, and the plan worked out again then sees it live)."""
    back = {
        (record.entity.type.value, record.id)
        for record in records
        if record.action in ("recreate", "unbin") and not (record.conflict or record.blocked)
    }
    wanted: dict[type[CrmRecord], set[int]] = defaultdict(set)
    links: list[tuple[RecordRevert, FieldRevert, type[CrmRecord]]] = []
    images: list[tuple[RecordRevert, str, type[CrmRecord]]] = []
    for record in records:
        for each in record.fields:
            if each.field in record.entity.link_fields and each.value is not None:
                target = link_target(record.entity, each.field)
                wanted[target].add(int(each.value))
                links.append((record, each, target))
        if record.action == "recreate":
            for name in record.entity.link_fields:
                if record.image.get(name) is not None:
                    target = link_target(record.entity, name)
                    wanted[target].add(int(record.image[name]))
                    images.append((record, name, target))
    live: dict[type[CrmRecord], set[int]] = {}
    binned: dict[type[CrmRecord], set[int]] = {}
    for model, ids in wanted.items():
        live[model], binned[model] = set(), set()
        for batch in batches(sorted(ids)):
            rows = model.objects.filter(account=account, pk__in=batch)
            for pk, entry in rows.values_list("pk", "bin_entry"):
                (live if entry is None else binned)[model].add(pk)
    type_of = {entity.model: key for key, entity in ENTITIES.items()}

    def gone(record: RecordRevert, model: type[CrmRecord], pk: int) -> bool:
        """A record going back into the bin may link to one in the bin, as it did there."""
        there = pk in live[model] or (record.target == BIN and pk in binned[model])
        return not there and (type_of[model], pk) not in back

    for record, each, model in links:
        if gone(record, model, int(each.value)):
            each.conflict, each.reason = True, "link_gone"
    for record, name, model in images:
        if gone(record, model, int(record.image[name])):
            if name in record.entity.parent_fields:
                record.blocked = record.conflict = True  # an activity needs its parent
            else:
                record.dropped[name] = int(record.image[name])
                record.image[name] = None  # the rest of the record comes back without it


def model_field(entity: Entity, name: str) -> models.Field:
    return cast(models.Field, entity.model._meta.get_field(name))


def link_target(entity: Entity, name: str) -> type[CrmRecord]:
    """The record type a link field points to."""
    return cast(type[CrmRecord], model_field(entity, name).related_model)


def type_of(model: type[CrmRecord]) -> str:
    return next(key for key, entity in ENTITIES.items() if entity.model is model)
