"""The SQLite apply path (development, tests): the snapshot's rows and the live rows, both
sorted by id, are merged in one pass per table (flat memory); deletes, updates and inserts go in
chunks, foreign keys checked at commit."""

from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from backups.delta import Reader
from backups.kinds import RestoreKind
from backups.restore.columns import canonical, common_columns, defaults, quote, row_id
from backups.restore.hooks import table_applied
from backups.restore.links import dangling_fix, links, parent_columns
from backups.restore.outcome import Applied
from backups.restore.record_log import ENTITY_BY_TABLE, RecordLog, events_python
from backups.snapshot_format import TABLES_BY_NAME, Table
from backups.snapshot_reading import Section, copy_fields
from crm.entities import ENTITIES
from history.models import Event
from history.services import history_changed
from recyclebin.models import BinEntry

CHUNK = 1000


def apply_sqlite(
    *,
    reader: Reader,
    account_id: int,
    kind: RestoreKind,
    tables: set[str],
    log: RecordLog | None = None,
) -> Applied:
    """With ``log``, every CRM record the restore changes gets its event
    (backups.restore.record_log)."""
    applied = Applied()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA defer_foreign_keys = ON")
        for section in reader.sections():
            table = TABLES_BY_NAME[section.table]
            if table.name in tables:
                _sqlite_table(cursor, table, section, account_id, kind, applied, log)
                table_applied(table.name)
        if kind == RestoreKind.ENTITIES:
            dangling_fix(
                cursor=cursor, applied=applied, tables=tables, account_id=account_id, log=log
            )
    return applied


def _existing_ids(cursor: CursorWrapper, target: str, ids: set[int]) -> set[int]:
    found: set[int] = set()
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        marks = ", ".join("%s" for _i in chunk)
        cursor.execute(f"SELECT id FROM {quote(target)} WHERE id IN ({marks})", chunk)  # noqa: S608
        found.update(row[0] for row in cursor.fetchall())
    return found


def _entries_owner_gone(
    cursor: CursorWrapper, table: Table, common: list[str], rows: list[list[Any]]
) -> list[bool] | None:
    """``recover``, bin entries: whether each comes back, which it does only with the record
    it was made for, gone now (links.entry_owner_gone_sql); None for the other tables."""
    if table.model is not BinEntry:
        return None
    type_at, id_at = common.index("entity_type"), common.index("entity_id")
    here = {
        key: _existing_ids(cursor, entity.table, {int(r[id_at]) for r in rows if r[type_at] == key})
        for key, entity in ENTITIES.items()
    }
    return [int(row[id_at]) not in here.get(row[type_at], set()) for row in rows]


def _sqlite_table(
    cursor: CursorWrapper,
    table: Table,
    section: Section,
    account_id: int,
    kind: RestoreKind,
    applied: Applied,
    log: RecordLog | None = None,
) -> None:
    """Merge the snapshot's rows with the live ones, both by id. ``full``/``entities`` delete,
    update and insert; ``recover`` only inserts. ``entities`` and ``recover`` check the links of
    the rows they write (see links_check)."""
    recover = kind == RestoreKind.RECOVER
    checked = kind in (RestoreKind.RECOVER, RestoreKind.ENTITIES)
    common = common_columns(table, section.columns)
    checks = [(common.index(c), c, t, null) for c, t, null in links(table, common)]
    parent_links = parent_columns(table)
    nulled: dict[str, int] = {}
    skipped = 0
    by_column = {f.column: f for f in table.fields}
    fields = [by_column[c] for c in common]
    positions = [section.columns.index(c) for c in common]
    id_at = common.index("id")
    rest = [i for i, c in enumerate(common) if c != "id"]
    name = quote(table.name)
    new_columns, new_values = defaults(table, common)
    insert_sql = (
        f"INSERT INTO {name} ({', '.join(quote(c) for c in [*common, *new_columns])}) "  # noqa: S608
        f"VALUES ({', '.join('%s' for _c in [*common, *new_columns])})"
    )
    update_sql = (
        f"UPDATE {name} SET {', '.join(f'{quote(common[i])} = %s' for i in rest)} "  # noqa: S608
        "WHERE id = %s"
    )
    inserts: list[list[Any]] = []
    updates: list[tuple[list[Any], list[Any]]] = []
    deletes: list[int] = []
    deleted_rows: list[list[str | None]] = []  # for their events
    counts = {"deleted": 0, "updated": 0, "inserted": 0}
    entity = ENTITY_BY_TABLE.get(table.name)
    logged = log if entity is not None else None

    def logged_events(**rows: Any) -> None:
        if logged is not None and entity is not None:
            Event.objects.bulk_create(
                events_python(log=logged, entity=entity, common=common, **rows)
            )
            history_changed(logged.account.pk)

    def prepared(values: list[str | None]) -> list[Any]:
        return [
            None if v is None else f.get_db_prep_save(f.to_python(v), connection)
            for f, v in zip(fields, values, strict=True)
        ]

    def links_check(rows: list[list[Any]]) -> list[bool]:
        """Links to rows that do not exist now become NULL (in place); a row that needs one
        (a hidden link's entry, an activity's only parent) is not written (False)."""
        nonlocal skipped
        existing = {
            at: _existing_ids(cursor, target, {int(r[at]) for r in rows if r[at] is not None})
            for at, _column, target, _null in checks
        }
        owned = _entries_owner_gone(cursor, table, common, rows) if recover else None
        keep = []
        for index, row in enumerate(rows):
            if owned is not None and not owned[index]:
                skipped += 1
                keep.append(False)
                continue
            dropped = [
                (at, c, null)
                for at, c, _t, null in checks
                if row[at] is not None and int(row[at]) not in existing[at]
            ]
            parents = [at for at, c, _t, _n in checks if c in parent_links and row[at] is not None]
            dropped_at = {at for at, _c, _n in dropped}
            required = any(not null for _at, _c, null in dropped)
            if required or (parents and all(at in dropped_at for at in parents)):
                skipped += 1
                keep.append(False)
                continue
            for at, column, _null in dropped:
                row[at] = None
                nulled[column] = nulled.get(column, 0) + 1
            keep.append(True)
        return keep

    def flush(force: bool = False) -> None:
        if deletes and (force or len(deletes) >= CHUNK):
            marks = ", ".join("%s" for _d in deletes)
            cursor.execute(f"DELETE FROM {name} WHERE id IN ({marks})", deletes)  # noqa: S608
            counts["deleted"] += len(deletes)
            logged_events(removed=deleted_rows)
            deletes.clear()
            deleted_rows.clear()
        if updates and (force or len(updates) >= CHUNK):
            keep = links_check([snap for _live, snap in updates]) if checked else None
            rows = []
            reverted = []
            for index, (live, snap) in enumerate(updates):
                if (keep is None or keep[index]) and live != snap:
                    values = prepared(snap)
                    rows.append([values[i] for i in rest] + [values[id_at]])
                    reverted.append((live, snap))
            logged_events(reverted=reverted)
            cursor.executemany(update_sql, rows)
            counts["updated"] += len(rows)
            updates.clear()
        if inserts and (force or len(inserts) >= CHUNK):
            keep = links_check(inserts) if checked else [True] * len(inserts)
            back = [snap for snap, kept in zip(inserts, keep, strict=True) if kept]
            rows = [prepared(snap) + new_values for snap in back]
            cursor.executemany(insert_sql, rows)
            logged_events(brought_back=back)
            counts["inserted"] += len(rows)
            inserts.clear()

    attnames = [f.attname for f in fields]
    if table.via_entry:
        # Ours, or whose entry this restore has just deleted (parents go first here).
        others = BinEntry._base_manager.exclude(account_id=account_id).values("id")
        queryset = table.model._base_manager.exclude(entry_id__in=others)
    else:
        queryset = table.queryset(account_id)
    live_rows = (
        canonical(row)
        for row in queryset.order_by("pk").values_list(*attnames).iterator(chunk_size=2000)
    )
    snap_rows = ([values[p] for p in positions] for values in map(copy_fields, section.lines()))
    live = next(live_rows, None)
    snap = next(snap_rows, None)
    while live is not None or snap is not None:
        if live is not None and (snap is None or row_id(live, id_at) < row_id(snap, id_at)):
            if not recover:
                deletes.append(row_id(live, id_at))
                if logged is not None:
                    deleted_rows.append(live)
            live = next(live_rows, None)
        elif snap is not None and (live is None or row_id(snap, id_at) < row_id(live, id_at)):
            inserts.append(snap)
            snap = next(snap_rows, None)
        elif live is not None and snap is not None:  # the same id in both
            if live != snap and not recover:
                updates.append((live, snap))
            live = next(live_rows, None)
            snap = next(snap_rows, None)
        flush()
    flush(force=True)
    if recover:
        applied.counts[table.name] = {"inserted": counts["inserted"]}
    else:
        applied.counts[table.name] = counts
    if checked:
        applied.links_nulled[table.name] = nulled
        applied.skipped[table.name] = skipped
