"""Revert: undo chosen changes of the history (DESIGN.md, "Undo and point in time"; API.md,
"Change log").

A selection is a set of history events on CRM records (the history's filters, or ticked
events). For each record they touch, the revert works out the state the record had just
before the first selected event, from the events alone:

- **whether it existed**: before a ``create`` it did not; before a ``delete`` or an ``update``
  it was live; before a bin ``restore`` or a ``purge`` it was in the bin (a revert brings a
  purged record back live: the bin entry is gone, the record is what the user wants back);
  a restore's or a revert's own per-record events say what they did (``details.action``);
- **each field's value**: the old value of the first selected change of that field.

Then it compares with the record now. A create goes back to the bin, a delete comes back
(from the bin, or recreated from its purge image), an update's fields go back; links follow
through the recycle bin's own rules. Non-destructive by default: a field that a later event
outside the selection changed again is a **conflict** and left as it is; so is a record that
would go to the bin or come back although someone else changed it since. ``force`` (admins)
overwrites them. A link to a record that is gone can never be set back: it is a conflict even
with ``force``.

Applied in one transaction, the records locked and the plan worked out again under the lock,
each record changed gets one ``revert`` event whose ``details.action`` says what it did
(``updated``, ``recreated``, ``restored``, ``binned``) and whose ``changes`` say how, so a
revert can itself be reverted."""

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import account_writable_require, plan_require
from core.errors import RuleViolation
from crm.entities import ENTITIES, PURGE_ORDER, Entity
from crm.models import CrmRecord
from history.filters import EventFilter
from history.models import Event, EventType
from history.selectors import RECORD_CHANGES, record_changes
from history.services import history_event, history_record_many
from recyclebin.models import BinEntry
from recyclebin.services import bin_delete, bin_purge, bin_restore

# The states of a record.
LIVE, BIN, GONE = "live", "bin", "gone"

# A selection of more events than this is refused: narrow the filter.
MAX_EVENTS = 200_000
# The preview lists this many changes at most (API.md).
CHANGES_LISTED = 100
# A record's revert event names at most this many of the events it undid.
EVENTS_NAMED = 50
# The pseudo-field of a change that sends a record to the bin or brings it back.
RECORD = "_record"


def revert_job_threshold() -> int:
    """More records than this run as a RevertJob in a worker (REVERT_JOB_THRESHOLD)."""
    return int(getattr(settings, "REVERT_JOB_THRESHOLD", 1000))


# --- The selection ----------------------------------------------------------------------------


def _revertable(events: models.QuerySet) -> models.QuerySet:
    """The events a revert acts on: changes of CRM records (history.selectors)."""
    return record_changes(events).filter(entity_type__in=list(ENTITIES))


def revert_selection(
    *,
    account: Account,
    actor: User,
    filters: Mapping[str, Any] | None = None,
    event_ids: Iterable[int] | None = None,
) -> list[int]:
    """The ids of the events to revert, oldest first: those matching the history's
    ``filters`` (its parameters, as the list takes them) or the ``event_ids`` given, that
    changed a CRM record. Refusals: an event id not in the account (404 not_found), filters
    the history would refuse (400 invalid), an employee selecting someone else's change
    (403 own_only), too many (400 invalid)."""
    events = Event.objects.for_account(account)
    if event_ids is not None:
        wanted = sorted(set(event_ids))
        found: set[int] = set()
        for batch in _batches(wanted):
            found.update(events.filter(pk__in=batch).values_list("pk", flat=True))
        if missing := [pk for pk in wanted if pk not in found]:
            raise RuleViolation(
                code="not_found",
                message=_("No such history events in your account: %(ids)s.")
                % {"ids": ", ".join(map(str, missing[:20]))},
            )
        selected = _revertable(events).filter(pk__in=wanted) if wanted else events.none()
    else:
        filterset = EventFilter(_query_dict(filters or {}), queryset=events)
        if not filterset.is_valid():
            raise RuleViolation(
                code="invalid",
                message=_("These filters are not valid: %(errors)s")
                % {
                    "errors": "; ".join(
                        f"{name}: {' '.join(map(str, messages))}"
                        for name, messages in filterset.errors.items()
                    )
                },
            )
        selected = _revertable(filterset.qs)
    if not actor.is_account_admin and selected.exclude(actor=actor).exists():
        raise RuleViolation(
            code="own_only",
            message=_(
                "You can undo only your own changes. Filter the history by your name, or ask "
                "an account admin."
            ),
        )
    ids = list(selected.order_by("id").values_list("pk", flat=True)[: MAX_EVENTS + 1])
    if len(ids) > MAX_EVENTS:
        raise RuleViolation(
            code="invalid",
            message=_("At most %(max)s changes can be undone at once; narrow the filter.")
            % {"max": f"{MAX_EVENTS:,}"},
        )
    return ids


def _query_dict(filters: Mapping[str, Any]) -> QueryDict:
    """The filters as the FilterSet reads a query string: lists for the comma list."""
    data = QueryDict(mutable=True)
    for name, value in filters.items():
        values = value if isinstance(value, list | tuple) else [value]
        data.setlist(name, [str(each) for each in values])
    return data


def _batches(ids: list[int]) -> Iterator[list[int]]:
    limit = connection.features.max_query_params
    size = 10_000 if limit is None else max(1, min(10_000, limit - 99))
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- The plan ---------------------------------------------------------------------------------


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


def _before(event: Mapping[str, Any]) -> str:
    """The state of the record just before ``event``."""
    kind, action = event["event_type"], (event["details"] or {}).get("action")
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
    if (
        kind == EventType.UPDATE
        or (kind == EventType.REVERT and action in ("updated", "restored", "binned"))
        or (kind in (EventType.ROLLBACK, EventType.RECOVER) and action == "reverted")
    ):
        return event["changes"] or {}
    return {}


def _image(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The last values of a record an event removed (a purge, a restore's ``removed``)."""
    kind, action = event["event_type"], (event["details"] or {}).get("action")
    if kind == EventType.PURGE or (
        kind in (EventType.ROLLBACK, EventType.RECOVER) and action == "removed"
    ):
        return {name: pair[0] for name, pair in (event["changes"] or {}).items()}
    return None


EVENT_COLUMNS = ("id", "event_type", "entity_type", "entity_id", "actor_id", "changes", "details")


def revert_plan(
    *,
    account: Account,
    event_ids: list[int],
    remove_gone: bool = False,
    until: int | None = None,
    only: set[tuple[str, int]] | None = None,
) -> RevertPlan:
    """What reverting ``event_ids`` (from revert_selection) would do now. ``remove_gone``:
    records that did not exist before the first selected event are removed for good.
    ``until``: events after this id (the revert's own, while it applies) are not looked at.
    ``only``: the records it may change (a recover: those that come back), by type and id."""
    selection = len(set(event_ids))
    event_ids = _with_follow_ups(account=account, event_ids=event_ids, until=until)
    selected: dict[tuple[str, int], list[int]] = defaultdict(list)
    for batch in _batches(event_ids):
        events = Event.objects.for_account(account).filter(pk__in=batch)
        for pk, entity_type, entity_id in events.values_list("pk", "entity_type", "entity_id"):
            selected[(entity_type, entity_id)].append(pk)
    chosen = set(event_ids)
    records: list[RecordRevert] = []
    for entity_type, entity in ENTITIES.items():  # parents first
        ids = sorted(
            pk
            for kind, pk in selected
            if kind == entity_type and (only is None or (kind, pk) in only)
        )
        if not ids:
            continue
        first = min(
            pk
            for key, pks in selected.items()
            if key[0] == entity_type and key[1] in ids
            for pk in pks
        )
        history = _record_events(
            account=account, entity_type=entity_type, ids=ids, since=first, until=until
        )
        rows = _rows(account=account, entity=entity, ids=ids)
        for pk in ids:
            records.append(
                _record_plan(
                    entity=entity,
                    pk=pk,
                    events=history.get(pk, []),
                    chosen=chosen,
                    row=rows.get(pk),
                )
            )
            records[-1].remove = remove_gone
    _links_check(account=account, records=records)
    return RevertPlan(events=selection, records=records)


def _with_follow_ups(*, account: Account, event_ids: list[int], until: int | None) -> list[int]:
    """The selection and the links its deletes and restores cleared or put back on other
    records (``update`` events with ``details.cause``, matched by bin entry): undoing a delete
    puts back the links it cleared, as they were."""
    if not event_ids:
        return event_ids
    deleted: set[int] = set()
    restored: set[int] = set()
    purged: set[int] = set()
    for batch in _batches(event_ids):
        rows = Event.objects.for_account(account).filter(
            pk__in=batch,
            event_type__in=[
                EventType.DELETE,
                EventType.RESTORE,
                EventType.PURGE,
                EventType.REVERT,
            ],
        )
        for kind, details in rows.values_list("event_type", "details"):
            details = details or {}
            if "bin_entry" in details and (kind != EventType.RESTORE):
                deleted.add(details["bin_entry"])
            if kind == EventType.RESTORE or details.get("action") == "restored":
                restored.update(details.get("bin_entries") or [])
            if kind == EventType.PURGE:
                purged.update(details.get("bin_entries") or [])
    if not (deleted or restored or purged):
        return event_ids
    follow_ups = (
        Event.objects.for_account(account)
        .filter(event_type=EventType.UPDATE, id__gt=min(event_ids), details__has_key="cause")
        .filter(id__lte=until if until is not None else 2**63 - 1)
        .values_list("pk", "details")
    )
    more = [
        pk
        for pk, details in follow_ups.iterator(chunk_size=2000)
        if details.get("bin_entry") in deleted
        or (
            details["cause"].get("event") == EventType.PURGE
            and purged.intersection(details.get("bin_entries") or [])
        )
        or (
            details["cause"].get("event") != EventType.PURGE
            and restored.intersection(details.get("bin_entries") or [])
        )
    ]
    return sorted({*event_ids, *more})


def _record_events(
    *, account: Account, entity_type: str, ids: list[int], since: int, until: int | None
) -> dict[int, list[dict[str, Any]]]:
    """Every change event on these records from event ``since`` on (the first selected: only
    what came after matters), links a delete cleared included, oldest first."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for batch in _batches(ids):
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
    attnames = [_field(entity, name).attname for name in entity.value_fields]
    rows: dict[int, dict[str, Any]] = {}
    for batch in _batches(ids):
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
    targets: dict[str, tuple[Any, int]] = {}
    for event in mine:
        for name, pair in _value_changes(event).items():
            if name in entity.value_fields and name not in targets:
                targets[name] = (pair[0], event["id"])
    for name, (value, since) in targets.items():
        if row is not None:
            now = _json(row[_field(entity, name).attname])
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
    record = entity.model(**{name: values.get(name) or "" for name in entity.title_fields})
    return (record.title_text or "")[:255]


def _links_check(*, account: Account, records: list[RecordRevert]) -> None:
    """A link can go back only to a record that is live, or that this revert brings back."""
    back = {
        (record.entity.type.value, record.id)
        for record in records
        if record.action in ("recreate", "unbin")
    }
    wanted: dict[type[CrmRecord], set[int]] = defaultdict(set)
    links: list[tuple[RecordRevert, FieldRevert, type[CrmRecord]]] = []
    images: list[tuple[RecordRevert, str, type[CrmRecord]]] = []
    for record in records:
        for each in record.fields:
            if each.field in record.entity.link_fields and each.value is not None:
                target = _target(record.entity, each.field)
                wanted[target].add(int(each.value))
                links.append((record, each, target))
        if record.action == "recreate":
            for name in record.entity.link_fields:
                if record.image.get(name) is not None:
                    target = _target(record.entity, name)
                    wanted[target].add(int(record.image[name]))
                    images.append((record, name, target))
    live: dict[type[CrmRecord], set[int]] = {}
    binned: dict[type[CrmRecord], set[int]] = {}
    for model, ids in wanted.items():
        live[model], binned[model] = set(), set()
        for batch in _batches(sorted(ids)):
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


# --- Applying ---------------------------------------------------------------------------------


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
        _lock(account=account, event_ids=event_ids)
        # The events written from here on are the revert's own: never a conflict of it.
        until = Event.objects.for_account(account).order_by("-id").values_list("id", flat=True)
        last = until.first() or 0
        plan = revert_plan(
            account=account, event_ids=event_ids, remove_gone=remove_gone, until=last, only=only
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


def _lock(*, account: Account, event_ids: list[int]) -> None:
    """Lock the records the events are on, parents first (the CRM's order)."""
    by_type: dict[str, set[int]] = defaultdict(set)
    for batch in _batches(event_ids):
        rows = Event.objects.for_account(account).filter(pk__in=batch)
        for entity_type, entity_id in rows.values_list("entity_type", "entity_id"):
            by_type[entity_type].add(entity_id)
    for entity_type, entity in ENTITIES.items():
        for batch in _batches(sorted(by_type.get(entity_type, ()))):
            rows = entity.model.objects.filter(account=account, pk__in=batch)
            list(rows.select_for_update().order_by("pk").values_list("pk", flat=True))


def _field(entity: Entity, name: str) -> models.Field:
    return cast(models.Field, entity.model._meta.get_field(name))


def _target(entity: Entity, name: str) -> type[CrmRecord]:
    """The record type a link field points to."""
    return cast(type[CrmRecord], _field(entity, name).related_model)


def _type_of(model: type[CrmRecord]) -> str:
    return next(key for key, entity in ENTITIES.items() if entity.model is model)


def _python(entity: Entity, name: str, value: Any) -> tuple[str, Any]:
    """A history value as the model's attribute: ``(attname, value)``."""
    model_field = _field(entity, name)
    if model_field.is_relation:
        return model_field.attname, None if value is None else int(value)
    if value is None and not model_field.null:
        value = ""
    return model_field.attname, model_field.to_python(value)


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
            history_event(
                account=account,
                actor=actor,
                event_type=EventType.REVERT,
                entity_type=record.entity.type,
                entity_id=record.id,
                title=record.title,
                occurred_at=now,
                changes={
                    name: [None, value] for name, value in values.items() if value is not None
                },
                details=details(record, "recreated"),
            )
        )
        # A link it had to a record that is gone, written as the bin writes a link it
        # clears: bringing that record back puts it back (_links_put_back).
        events += [
            history_event(
                account=account,
                actor=actor,
                event_type=EventType.UPDATE,
                entity_type=record.entity.type,
                entity_id=record.id,
                title=record.title,
                occurred_at=now,
                changes={name: [target, None]},
                details={
                    "cause": {
                        "event": EventType.REVERT.value,
                        "entity_type": _type_of(_target(record.entity, name)),
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
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.REVERT,
            entity_type=record.entity.type,
            entity_id=record.id,
            title=record.title,
            occurred_at=now,
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
    attnames = [_field(entity, name).attname for name in entity.value_fields]
    rows = entity.model.objects.filter(account=account, pk=record.id)
    image = entity.image(rows.values(*attnames)[0])
    entry_id = rows.values_list("bin_entry", flat=True)[0]
    rows.delete()
    BinEntry.objects.filter(pk=entry_id).update(item_count=F("item_count") - 1)
    return history_event(
        account=account,
        actor=actor,
        event_type=EventType.REVERT,
        entity_type=entity.type,
        entity_id=record.id,
        title=record.title,
        occurred_at=timezone.now(),
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
                attname = _field(entity, name).attname
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
        attnames = [_field(entity, name).attname for name in names]
        rows = []
        for record, row_values in zip(group, values, strict=True):
            row = entity.model(account=account, updated_at=now)
            row.pk = record.id
            for name in names:
                setattr(row, _field(entity, name).attname, row_values[name])
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
    fields = [_field(entity, name) for name in names]
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
