"""What a restore did to each record, in the records' own history (API.md, "Change log").

Besides its account-wide ``rollback`` (``recover``) event, a restore writes one event of the
same type on every CRM record it changed, in its own transaction: ``details.action`` says what
happened to the record (``removed``: gone, or into the bin as it was then; ``brought_back``:
back from nowhere or out of the bin; ``reverted``: fields put back), ``details.state`` where
it was before and after (``[before, after]``, each ``live``, ``bin`` or ``gone``: a record
removed from the bin and one removed while live are both ``removed``) and
``details.snapshot`` from which snapshot; ``changes`` holds, per field, ``[value before the
restore, value after]`` (a record that is gone after it: its whole image, ``[value, null]``;
one that stays: its fields that differ; one back from nowhere: nothing, its values are the
snapshot's).

PostgreSQL writes them set-based, one ``INSERT ... SELECT`` (or a data-modifying ``WITH``) beside
each statement of the apply, so a restore of a million rows runs no Python per row
(backups.restore.postgresql). SQLite, whose apply merges row by row anyway, builds them there
(``events_python``)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.backends.utils import CursorWrapper

from accounts.models import Account, User
from backups.restore.columns import quote
from backups.snapshot_format import Table
from crm.entities import ENTITIES, Entity
from history.models import Event
from history.services import history_changed, history_event

REMOVED = "removed"
BROUGHT_BACK = "brought_back"
REVERTED = "reverted"
LIVE, BIN, GONE = "live", "bin", "gone"  # details.state
ENTITY_BY_TABLE = {entity.table: entity for entity in ENTITIES.values()}


@dataclass(frozen=True)
class RecordLog:
    """Who restored what, for the per-record events."""

    account: Account
    actor: User | None
    event_type: str  # rollback or recover
    snapshot_id: int
    occurred_at: datetime

    def details(self, action: str, before: str, after: str) -> dict[str, Any]:
        return {"snapshot": self.snapshot_id, "action": action, "state": [before, after]}


def _value_columns(entity: Entity, common: list[str]) -> list[tuple[str, models.Field]]:
    """(field name, field) of the values the change log keeps that the snapshot has."""
    fields = {f.name: f for f in entity.model._meta.concrete_fields}
    return [(name, fields[name]) for name in entity.value_fields if fields[name].column in common]


# --- PostgreSQL: SQL beside the apply's statements ---------------------------------------


def _json(field: models.Field, expression: str) -> str:
    """A value as the history's JSON keeps it (decimals as text, as DjangoJSONEncoder)."""
    if isinstance(field, models.DecimalField):
        return f"to_jsonb(({expression})::text)"
    return f"to_jsonb({expression})"


def _empty(expression: str) -> str:
    return f"({expression} IS NULL OR ({expression})::text = '')"


def image_sql(entity: Entity, common: list[str], alias: str, *, gone: bool) -> str:
    """``changes`` of a record's whole image: each set field -> [value, null] (``gone``) or
    [null, value]."""
    pairs = []
    for name, field in _value_columns(entity, common):
        value = f"{alias}.{quote(field.column)}"
        pair = f"{_json(field, value)}, NULL" if gone else f"NULL, {_json(field, value)}"
        pairs.append(
            f"'{name}', CASE WHEN {_empty(value)} THEN NULL ELSE jsonb_build_array({pair}) END"
        )
    return _object(pairs)


def diff_sql(entity: Entity, common: list[str], before: str, after: dict[str, str]) -> str:
    """``changes`` of a reverted record: each field whose value differs -> [before, after]
    (``after``: the SQL of each column's new value)."""
    pairs = []
    for name, field in _value_columns(entity, common):
        old = f"{before}.{quote(field.column)}"
        new = after[field.column]
        pairs.append(
            f"'{name}', CASE WHEN {old} IS DISTINCT FROM {new} "
            f"THEN jsonb_build_array({_json(field, old)}, {_json(field, new)}) END"
        )
    return _object(pairs)


def _object(pairs: list[str]) -> str:
    if not pairs:
        return "'{}'::jsonb"
    # jsonb_build_object takes at most 100 arguments: a few objects merged.
    parts = [
        f"jsonb_build_object({', '.join(pairs[start : start + 40])})"
        for start in range(0, len(pairs), 40)
    ]
    return f"jsonb_strip_nulls({' || '.join(parts)})"


def title_sql(entity: Entity, common: list[str], alias: str) -> str:
    """The record's title as its model's ``title_text`` gives it (its title fields, joined by a
    space, trimmed)."""
    fields = {f.name: f for f in entity.model._meta.concrete_fields}
    columns = [
        f"{alias}.{quote(fields[name].column)}"
        for name in entity.title_fields
        if fields[name].column in common
    ]
    if not columns:
        return "''"
    return f"left(btrim(concat_ws(' ', {', '.join(columns)})), 255)"


def state_sql(bin_entry: str) -> str:
    """``live`` or ``bin``: the state of a row that exists, from its bin entry's SQL."""
    return f"CASE WHEN {bin_entry} IS NULL THEN '{LIVE}' ELSE '{BIN}' END"


def insert_events_sql(
    *,
    log: RecordLog,
    entity: Entity,
    source: str,
    title: str,
    changes: str,
    action: str,
    before: str,
    after: str,
) -> tuple[str, list[Any]]:
    """``INSERT INTO <events> ... SELECT`` one event per row ``x`` of ``source`` (a FROM clause
    and its conditions; their parameters follow this statement's, which it returns). ``title``,
    ``changes``, ``action`` and the states ``before`` and ``after`` are SQL over ``x`` (and
    whatever ``source`` joins)."""
    history_changed(log.account.pk)  # written in SQL: marked here (history.selectors)
    event = Event._meta
    by_name = {f.name: f.column for f in event.concrete_fields}
    columns = [
        by_name[name]
        for name in (
            *("account", "occurred_at", "event_type", "entity_type", "entity_id"),
            *("entity_title", "actor", "actor_username", "changes", "details"),
        )
    ]
    sql = (
        f"INSERT INTO {quote(event.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT %s, %s, %s, %s, x.id, {title}, %s, %s, {changes}, "
        f"jsonb_build_object('snapshot', %s::bigint, 'action', {action}::text, "
        f"'state', jsonb_build_array(({before})::text, ({after})::text)) FROM {source}"
    )
    params: list[Any] = [
        log.account.pk,
        log.occurred_at,
        log.event_type,
        entity.type.value,
        log.actor.pk if log.actor else None,
        log.actor.username if log.actor else "",
        log.snapshot_id,
    ]
    return sql, params


# --- SQLite: Python beside its row-by-row merge -------------------------------------------


def events_python(
    *,
    log: RecordLog,
    entity: Entity,
    common: list[str],
    removed: list[list[str | None]] = (),  # type: ignore[assignment]
    reverted: list[tuple[list[str | None], list[str | None]]] = (),  # type: ignore[assignment]
    brought_back: list[list[str | None]] = (),  # type: ignore[assignment]
) -> list[Event]:
    """The events of rows the SQLite apply removed, reverted ((before, after)) or brought back,
    as COPY-text values in ``common`` order."""
    at = {column: index for index, column in enumerate(common)}
    values = _value_columns(entity, common)
    id_at = at["id"]
    bin_at = at.get("bin_entry_id")
    fields = {f.name: f for f in entity.model._meta.concrete_fields}

    def typed(field: models.Field, raw: str | None) -> Any:
        return None if raw is None else field.to_python(raw)

    def title(row: list[str | None]) -> str:
        parts = [
            row[at[fields[name].column]] or ""
            for name in entity.title_fields
            if fields[name].column in at
        ]
        return " ".join(p for p in parts if p).strip()

    def state(row: list[str | None]) -> str:
        return LIVE if bin_at is None or row[bin_at] is None else BIN

    def event(
        row: list[str | None], action: str, changes: dict[str, list[Any]], before: str, after: str
    ) -> Event:
        return history_event(
            account=log.account,
            actor=log.actor,
            event_type=log.event_type,
            entity_type=entity.type.value,
            entity_id=int(row[id_at] or 0),
            title=title(row),
            changes=changes,
            details=log.details(action, before, after),
            occurred_at=log.occurred_at,
        )

    events = []
    for row in removed:
        image = {
            name: [typed(field, row[at[field.column]]), None]
            for name, field in values
            if row[at[field.column]] not in (None, "")
        }
        events.append(event(row, REMOVED, image, state(row), GONE))
    for before, after in reverted:
        changes = {
            name: [typed(field, before[at[field.column]]), typed(field, after[at[field.column]])]
            for name, field in values
            if before[at[field.column]] != after[at[field.column]]
        }
        action = REVERTED
        if bin_at is not None and before[bin_at] is not None and after[bin_at] is None:
            action = BROUGHT_BACK
        elif bin_at is not None and before[bin_at] is None and after[bin_at] is not None:
            action = REMOVED
        events.append(event(after, action, changes, state(before), state(after)))
    events += [event(row, BROUGHT_BACK, {}, GONE, state(row)) for row in brought_back]
    return events


# --- Both: the ``entities`` fix-up of dangling links ---------------------------------------


def dangling_log(
    *,
    cursor: CursorWrapper,
    log: RecordLog,
    table: Table,
    where: str,
    account_id: int,
    column: str | None = None,
) -> None:
    """The events of the live records the ``entities`` fix-up is about to change: the rows
    matching ``where`` (SQL over the table, one ``%s``: the account), removed (``column``
    None: an activity left without a parent) or with ``column`` cleared. Read by the ORM, so
    values are typed as everywhere else; these are the few records that linked to a record
    the restore removed."""
    entity = ENTITY_BY_TABLE.get(table.name)
    if entity is None:
        return
    cursor.execute(f"SELECT id FROM {quote(table.name)} WHERE {where}", [account_id])  # noqa: S608
    ids = [row[0] for row in cursor.fetchall()]
    by_column = {f.column: f for f in entity.model._meta.concrete_fields}
    events = []
    for start in range(0, len(ids), 1000):
        rows = entity.model._base_manager.filter(
            account_id=account_id, pk__in=ids[start : start + 1000]
        ).values("id", "bin_entry_id", *entity.value_fields)
        for row in rows:
            title = entity.model(**{name: row[name] for name in entity.title_fields}).title_text
            was = LIVE if row["bin_entry_id"] is None else BIN
            if column is None:
                changes = {name: [value, None] for name, value in entity.image(row).items()}
                action, now = REMOVED, GONE
            else:
                name = by_column[column].name
                changes = {name: [row[name], None]}
                action, now = REVERTED, was
            events.append(
                history_event(
                    account=log.account,
                    actor=log.actor,
                    event_type=log.event_type,
                    entity_type=entity.type.value,
                    entity_id=row["id"],
                    title=title,
                    changes=changes,
                    details=log.details(action, was, now),
                    occurred_at=log.occurred_at,
                )
            )
    Event.objects.bulk_create(events, batch_size=1000)
    history_changed(log.account.pk)
