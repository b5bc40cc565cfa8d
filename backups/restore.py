"""The restore engine: an account's CRM data back to a snapshot (DESIGN.md, "Backups").

``snapshot_restore`` verifies the snapshot, puts the account in maintenance (its own committed
transaction: every write answers 503 ``maintenance`` meanwhile; a second restore is refused),
takes a ``pre_restore`` snapshot (so the restore can be undone exactly), applies everything in
ONE transaction and lifts maintenance whatever happens. History is never restored; one
``rollback`` (``recover``) event with the counts is written in the restore's transaction.

Kinds: ``full`` (the account's CRM data, bin included, becomes exactly the snapshot's),
``entities`` (the same for the chosen entity types only; links to records that do not exist
become NULL, activities left without a parent are skipped or removed, all reported) and
``recover`` (insert only the rows that are gone; live rows are never changed). ``preview``
counts what a restore would do, changing nothing.

Only what differs is written (PERFORMANCE.md, "Restore"):

- PostgreSQL: every section of the snapshot is COPYed into a TEMP table (only the columns the
  table still has, by name), then with deferred constraints, per table: DELETE the account's rows
  that are not in the snapshot (children first), UPDATE the rows whose text image differs, INSERT
  the missing ones with their ids, and move the id sequence past the largest id.
- SQLite: the snapshot's rows and the live rows, both sorted by id, are merged in one pass per
  table (flat memory); deletes, updates and inserts go in chunks, foreign keys checked at commit.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils.translation import gettext as _

from accounts.models import Account, User
from backups.models import Snapshot
from backups.services import snapshot_take, snapshot_verify
from backups.snapshot_format import (
    TABLES,
    TABLES_BY_NAME,
    SnapshotInvalid,
    SnapshotReader,
    Table,
    _copy_text,
    copy_fields,
)
from backups.storage import snapshot_storage
from crm.models import Activity
from history.models import EventType
from history.services import history_record
from recyclebin.models import BinEntry

KINDS = ("full", "entities", "recover")
ENTITY_TABLES = {
    "company": "crm_company",
    "contact": "crm_contact",
    "lead": "crm_lead",
    "deal": "crm_deal",
    "activity": "crm_activity",
}
ACTIVITY_PARENTS = ("lead_id", "deal_id", "contact_id", "company_id")
CHUNK = 1000


class RestoreRefused(Exception):
    """The restore was refused before anything changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class RestoreOutcome:
    kind: str
    snapshot_id: int
    pre_restore_snapshot_id: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # recover: links of recovered rows to records that no longer exist, set to NULL, per table
    # and column; rows that could not come back (an activity without any parent left, a hidden
    # link whose bin entry is gone), per table.
    links_nulled: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class _Applied:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    links_nulled: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def ordered(self) -> "_Applied":
        names = [t.name for t in TABLES]
        return _Applied(
            counts={n: self.counts[n] for n in names if n in self.counts},
            links_nulled={n: self.links_nulled[n] for n in names if self.links_nulled.get(n)},
            skipped={n: self.skipped[n] for n in names if self.skipped.get(n)},
        )


def after_table(table_name: str) -> None:
    """Called after each table is applied, inside the restore transaction (a hook for tests)."""


# --- Entry point ----------------------------------------------------------------------------


def snapshot_restore(
    *,
    snapshot: Snapshot,
    kind: str,
    entity_types: list[str] | None = None,
    actor: User | None = None,
    account: Account | None = None,
) -> RestoreOutcome:
    """Reset the snapshot's account to the snapshot (``full``) or bring back only the rows
    that are in the snapshot and gone now (``recover``: live rows are never changed; links to
    records that no longer exist become NULL). ``account``, when
    given, must be the snapshot's. Raises RestoreRefused (nothing changed) for a snapshot that is
    not usable; any other error rolls the whole restore back, maintenance lifted."""
    tables = _tables_for(kind, entity_types)
    if account is not None and account.pk != snapshot.account_id:
        raise RestoreRefused(_("The snapshot belongs to another account."))
    if snapshot.status != Snapshot.Status.SUCCEEDED:
        raise RestoreRefused(_("Only a finished snapshot can be restored."))
    if connection.in_atomic_block:
        raise RestoreRefused("A restore runs its own transactions; do not call it inside one.")
    try:
        snapshot_verify(snapshot=snapshot)
    except SnapshotInvalid as error:
        raise RestoreRefused(error.message) from error

    target = Account.objects.get(pk=snapshot.account_id)
    # Maintenance first, claimed atomically: a second restore of the account is refused, and
    # no write slips in between the safety snapshot and the restore (so it undoes exactly).
    with transaction.atomic():
        claimed = Account.objects.filter(pk=target.pk, maintenance=False).update(maintenance=True)
    if not claimed:
        raise RestoreRefused(_("The account is already being restored; try again later."))
    target.maintenance = True
    try:
        pre = snapshot_take(account=target, kind=Snapshot.Kind.PRE_RESTORE, actor=actor)
        if pre.status != Snapshot.Status.SUCCEEDED:
            raise RestoreRefused(
                _("The safety snapshot before the restore failed: %(error)s") % {"error": pre.error}
            )
        with transaction.atomic():
            applied = _apply(
                snapshot=snapshot, account_id=target.pk, kind=kind, tables=tables
            ).ordered()
            history_record(
                account=target,
                actor=actor,
                event_type=EventType.RECOVER if kind == "recover" else EventType.ROLLBACK,
                title=f"Snapshot #{snapshot.pk}",
                details={
                    "kind": kind,
                    "entity_types": sorted(entity_types or []) if kind == "entities" else [],
                    "snapshot": snapshot.pk,
                    "pre_restore_snapshot": pre.pk,
                    "counts": applied.counts,
                    "links_nulled": applied.links_nulled,
                    "skipped": applied.skipped,
                },
            )
    finally:
        _maintenance_set(target, False)
    return RestoreOutcome(
        kind=kind,
        snapshot_id=snapshot.pk,
        pre_restore_snapshot_id=pre.pk,
        counts=applied.counts,
        links_nulled=applied.links_nulled,
        skipped=applied.skipped,
    )


def _tables_for(kind: str, entity_types) -> set[str]:
    """The tables a restore of ``kind`` writes; RestoreRefused for an unknown kind or types."""
    if kind not in KINDS:
        raise RestoreRefused(_("This kind of restore is not available: %(kind)s.") % {"kind": kind})
    if kind != "entities":
        return {t.name for t in TABLES}
    chosen = set(entity_types or [])
    if not chosen or not chosen <= set(ENTITY_TABLES):
        raise RestoreRefused(
            _("Choose the entity types to restore among: %(types)s.")
            % {"types": ", ".join(ENTITY_TABLES)}
        )
    return {ENTITY_TABLES[e] for e in chosen}


def _maintenance_set(account: Account, value: bool) -> None:
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).update(maintenance=value)
    account.maintenance = value


def _apply(*, snapshot: Snapshot, account_id: int, kind: str, tables: set[str]) -> _Applied:
    with snapshot_storage().open(snapshot.storage_name, "rb") as fileobj:
        reader = SnapshotReader(fileobj, account_id=account_id, checksum=snapshot.checksum)
        if connection.vendor == "postgresql":
            return _apply_postgresql(reader, account_id, kind, tables)
        return _apply_sqlite(reader, account_id, kind, tables)


def _defaults(table: Table, common: list[str]) -> tuple[list[str], list]:
    """Columns the table has and the (older) snapshot lacks, with the values an inserted row
    gets: the field's default. Existing rows keep theirs."""
    missing = [f for f in table.fields if f.column not in common]
    return (
        [f.column for f in missing],
        [f.get_db_prep_save(f.get_default(), connection) for f in missing],
    )


def _links(table: Table, common: list[str]) -> list[tuple[str, str, bool]]:
    """The snapshot's link columns other than the account: (column, target table, nullable)."""
    return [
        (f.column, f.related_model._meta.db_table, f.null)
        for f in table.fields
        if f.is_relation and f.column != "account_id" and f.column in common
    ]


def _common_columns(table: Table, columns: list[str]) -> list[str]:
    """The snapshot's columns the table still has (by name; new columns keep their defaults)."""
    current = set(table.columns)
    common = [c for c in columns if c in current]
    if "id" not in common:
        raise SnapshotInvalid(f"{table.name}: the snapshot has no id column.")
    return common


# --- PostgreSQL: TEMP tables and set-based diff ---------------------------------------------


class _LinesFile:
    """A read()-able file over an iterator of COPY lines, for copy_expert."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines = lines
        self.buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            line = next(self.lines, None)
            if line is None:
                break
            self.buffer += line
        if size < 0:
            size = len(self.buffer)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    readline = read


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _scope(table: Table, alias: str) -> str:
    """SQL restricting ``alias`` (a live row of ``table``) to the account (one %s)."""
    if table.via_entry:
        entry = _q(BinEntry._meta.db_table)
        return (
            f"EXISTS (SELECT 1 FROM {entry} e "  # noqa: S608 - model names
            f"WHERE e.id = {alias}.entry_id AND e.account_id = %s)"
        )
    return f"{alias}.account_id = %s"


def _stage(cursor, reader: SnapshotReader, tables: set[str]) -> dict[str, list[str]]:
    """COPY the sections of ``tables`` into TEMP tables ``stg_<table>`` (dropped at the end of
    the transaction). Returns the columns of each that the live table has."""
    staged: dict[str, list[str]] = {}
    for section in reader.sections():
        table = TABLES_BY_NAME[section.table]
        if table.name not in tables:
            continue  # the reader skips the section
        common = _common_columns(table, section.columns)
        stage = _q(f"stg_{table.name}")
        # Snapshot columns the table no longer has are loaded as text and ignored.
        select = ", ".join(
            _q(c) if c in common else f"NULL::text AS {_q(c)}" for c in section.columns
        )
        cursor.execute(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS "  # noqa: S608 - model names
            f"SELECT {select} FROM {_q(table.name)} WITH NO DATA"
        )
        columns = ", ".join(_q(c) for c in section.columns)
        cursor.copy_expert(
            f"COPY {stage} ({columns}) FROM STDIN", _LinesFile(section.lines()), 1 << 20
        )
        cursor.execute(f"CREATE UNIQUE INDEX ON {stage} (id)")
        cursor.execute(f"ANALYZE {stage}")
        staged[table.name] = common
    return staged


def _apply_postgresql(
    reader: SnapshotReader, account_id: int, kind: str, tables: set[str]
) -> _Applied:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        staged = _stage(cursor, reader, tables)
        if kind == "recover":
            return _recover_postgresql(cursor, staged)
        applied = _full_postgresql(cursor, staged, account_id, tables, kind == "entities")
        if kind == "entities":
            _dangling_fix(cursor, applied, tables, account_id)
        return applied


def _exists(column: str, target: str) -> str:
    return f"EXISTS (SELECT 1 FROM {_q(target)} p WHERE p.id = s.{_q(column)})"  # noqa: S608


def _link_sql(table: Table, common: list[str]) -> tuple[dict[str, str], list[str]]:
    """The value written for each column of a staged row ``s`` (a link to a row that does not
    exist becomes NULL) and the conditions for writing the row at all (a required link exists;
    an activity keeps a parent)."""
    links = _links(table, common)
    values = {c: f"s.{_q(c)}" for c in common}
    keep = []
    for column, target, null in links:
        if null:
            values[column] = f"CASE WHEN {_exists(column, target)} THEN s.{_q(column)} END"
        else:
            keep.append(_exists(column, target))
    parents = [
        f"(s.{_q(c)} IS NOT NULL AND {_exists(c, t)})"
        for c, t, _null in links
        if table.model is Activity and c in ACTIVITY_PARENTS
    ]
    if parents:
        keep.append("(" + " OR ".join(parents) + ")")
    return values, keep


def _dangling_fix(cursor, applied: _Applied, tables: set[str], account_id: int) -> None:
    """entities: live rows of the account that link to a row this restore removed. A nullable
    link becomes NULL; an activity whose parent is gone is deleted (it cannot exist alone)."""
    for table in TABLES:
        if table.via_entry:
            continue
        name = _q(table.name)
        links = [
            (f.column, f.related_model._meta.db_table)
            for f in table.fields
            if f.is_relation and f.null and f.related_model._meta.db_table in tables
        ]
        if not links:
            continue
        if table.model is Activity:
            parents = [
                f"({name}.{_q(c)} IS NOT NULL AND EXISTS "  # noqa: S608 - model names
                f"(SELECT 1 FROM {_q(t)} p WHERE p.id = {name}.{_q(c)}))"
                for c, t in (
                    (f.column, f.related_model._meta.db_table)
                    for f in table.fields
                    if f.column in ACTIVITY_PARENTS
                )
            ]
            cursor.execute(
                f"DELETE FROM {name} WHERE account_id = %s "  # noqa: S608
                f"AND NOT ({' OR '.join(parents)})",
                [account_id],
            )
            counts = applied.counts.setdefault(
                table.name, {"deleted": 0, "updated": 0, "inserted": 0}
            )
            counts["deleted"] += cursor.rowcount
            links = [(c, t) for c, t in links if c not in ACTIVITY_PARENTS]
        for column, target in links:
            cursor.execute(
                f"UPDATE {name} SET {_q(column)} = NULL WHERE account_id = %s "  # noqa: S608
                f"AND {_q(column)} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {_q(target)} p WHERE p.id = {name}.{_q(column)})",
                [account_id],
            )
            if cursor.rowcount:
                nulled = applied.links_nulled.setdefault(table.name, {})
                nulled[column] = nulled.get(column, 0) + cursor.rowcount


def _full_postgresql(
    cursor, staged: dict[str, list[str]], account_id: int, tables: set[str], checked: bool
) -> _Applied:
    """Full semantics for ``tables``; ``checked`` (entities): links of the written rows to rows
    that do not exist become NULL, activities without a parent are skipped."""
    applied = _Applied()
    counts = applied.counts
    for table in reversed(TABLES):
        if table.name not in tables:
            continue
        stage = _q(f"stg_{table.name}")
        cursor.execute(
            f"DELETE FROM {_q(table.name)} x WHERE {_scope(table, 'x')} "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.id = x.id)",
            [account_id],
        )
        counts[table.name] = {"deleted": cursor.rowcount}
    for table in TABLES:
        if table.name not in tables:
            continue
        common = staged[table.name]
        stage = _q(f"stg_{table.name}")
        if checked:
            values, keep = _link_sql(table, common)
        else:
            values, keep = {c: f"s.{_q(c)}" for c in common}, []
        kept = " AND ".join(keep) or "TRUE"
        if checked:
            nulled = {}
            if keep:
                cursor.execute(f"SELECT count(*) FROM {stage} s WHERE NOT ({kept})")  # noqa: S608
                applied.skipped[table.name] = cursor.fetchone()[0]
            for column, target, null in _links(table, common):
                if null:
                    cursor.execute(
                        f"SELECT count(*) FROM {stage} s WHERE {kept} "  # noqa: S608
                        f"AND s.{_q(column)} IS NOT NULL AND NOT {_exists(column, target)}"
                    )
                    if count := cursor.fetchone()[0]:
                        nulled[column] = count
            applied.links_nulled[table.name] = nulled
        rest = [c for c in common if c != "id"]
        sets = ", ".join(f"{_q(c)} = {values[c]}" for c in rest)
        live = ", ".join(f"x.{_q(c)}" for c in common)
        snap = ", ".join(values[c] for c in common)
        updated = 0
        if rest:
            cursor.execute(
                f"UPDATE {_q(table.name)} x SET {sets} FROM {stage} s "  # noqa: S608
                f"WHERE x.id = s.id AND {_scope(table, 'x')} AND {kept} "
                f"AND ROW({live})::text IS DISTINCT FROM ROW({snap})::text",
                [account_id],
            )
            updated = cursor.rowcount
        new_columns, new_values = _defaults(table, common)
        cursor.execute(
            f"INSERT INTO {_q(table.name)} "  # noqa: S608
            f"({', '.join(_q(c) for c in [*common, *new_columns])}) "
            f"SELECT {', '.join([snap, *('%s' for _v in new_values)])} FROM {stage} s "
            f"WHERE {kept} "
            f"AND NOT EXISTS (SELECT 1 FROM {_q(table.name)} x WHERE x.id = s.id)",
            new_values,
        )
        counts[table.name].update(updated=updated, inserted=cursor.rowcount)
        _sequence_past_max(cursor, table)
        after_table(table.name)
    return applied


def _recover_postgresql(cursor, staged: dict[str, list[str]]) -> _Applied:
    """Insert-only, parents first: the snapshot rows whose id is gone. A link to a row that
    does not exist now (after the parents' inserts) becomes NULL; a row that needs the link
    (a hidden link's entry, an activity's only parent) is skipped."""
    applied = _Applied()
    for table in TABLES:
        common = staged[table.name]
        stage = _q(f"stg_{table.name}")
        name = _q(table.name)

        def exists(column: str, target: str) -> str:
            return f"EXISTS (SELECT 1 FROM {_q(target)} p WHERE p.id = s.{_q(column)})"  # noqa: S608

        links = _links(table, common)
        keep = [exists(c, t) for c, t, null in links if not null]
        parents = [
            f"(s.{_q(c)} IS NOT NULL AND {exists(c, t)})"
            for c, t, _null in links
            if table.model is Activity and c in ACTIVITY_PARENTS
        ]
        if parents:
            keep.append("(" + " OR ".join(parents) + ")")
        missing = f"NOT EXISTS (SELECT 1 FROM {name} x WHERE x.id = s.id)"  # noqa: S608
        kept = " AND ".join([missing, *keep])
        if keep:
            cursor.execute(
                f"SELECT count(*) FROM {stage} s WHERE {missing} "  # noqa: S608
                f"AND NOT ({' AND '.join(keep)})"
            )
            applied.skipped[table.name] = cursor.fetchone()[0]
        nulled = {}
        for column, target, null in links:
            if null:
                cursor.execute(
                    f"SELECT count(*) FROM {stage} s WHERE {kept} "  # noqa: S608
                    f"AND s.{_q(column)} IS NOT NULL AND NOT {exists(column, target)}"
                )
                if count := cursor.fetchone()[0]:
                    nulled[column] = count
        applied.links_nulled[table.name] = nulled
        nullable = {c: t for c, t, null in links if null}
        values = ", ".join(
            f"CASE WHEN {exists(c, nullable[c])} THEN s.{_q(c)} END"
            if c in nullable
            else f"s.{_q(c)}"
            for c in common
        )
        new_columns, new_values = _defaults(table, common)
        cursor.execute(
            f"INSERT INTO {name} ({', '.join(_q(c) for c in [*common, *new_columns])}) "  # noqa: S608
            f"SELECT {', '.join([values, *('%s' for _v in new_values)])} FROM {stage} s "
            f"WHERE {kept}",
            new_values,
        )
        applied.counts[table.name] = {"inserted": cursor.rowcount}
        _sequence_past_max(cursor, table)
        after_table(table.name)
    return applied


def _sequence_past_max(cursor, table: Table) -> None:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
    sequence = cursor.fetchone()[0]
    if not sequence:
        return
    cursor.execute(
        f"SELECT setval(%s, m) FROM (SELECT max(id) AS m FROM {_q(table.name)}) t, "  # noqa: S608
        f"{sequence} q WHERE m > q.last_value",
        [sequence],
    )


# --- SQLite: merge by id in one pass ----------------------------------------------------------


def _canonical(row: tuple) -> list[str | None]:
    """A live row as the snapshot's COPY text would hold it, field by field."""
    return copy_fields(("\t".join(map(_copy_text, row)) + "\n").encode())


def _apply_sqlite(reader: SnapshotReader, account_id: int, kind: str, tables: set[str]) -> _Applied:
    applied = _Applied()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA defer_foreign_keys = ON")
        for section in reader.sections():
            table = TABLES_BY_NAME[section.table]
            if table.name in tables:
                _sqlite_table(cursor, table, section, account_id, kind, applied)
                after_table(table.name)
        if kind == "entities":
            _dangling_fix(cursor, applied, tables, account_id)
    return applied


def _existing_ids(cursor, target: str, ids: set[int]) -> set[int]:
    found: set[int] = set()
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        marks = ", ".join("%s" for _i in chunk)
        cursor.execute(f"SELECT id FROM {_q(target)} WHERE id IN ({marks})", chunk)  # noqa: S608
        found.update(row[0] for row in cursor.fetchall())
    return found


def _sqlite_table(
    cursor, table: Table, section, account_id: int, kind: str, applied: _Applied
) -> None:
    """Merge the snapshot's rows with the live ones, both by id. ``full``/``entities`` delete,
    update and insert; ``recover`` only inserts. ``entities`` and ``recover`` check the links of
    the rows they write (see _links_check)."""
    recover = kind == "recover"
    checked = kind in ("recover", "entities")
    common = _common_columns(table, section.columns)
    links = [(common.index(c), c, t, null) for c, t, null in _links(table, common)]
    nulled: dict[str, int] = {}
    skipped = 0
    by_column = {f.column: f for f in table.fields}
    fields = [by_column[c] for c in common]
    positions = [section.columns.index(c) for c in common]
    id_at = common.index("id")
    rest = [i for i, c in enumerate(common) if c != "id"]
    name = _q(table.name)
    new_columns, new_values = _defaults(table, common)
    insert_sql = (
        f"INSERT INTO {name} ({', '.join(_q(c) for c in [*common, *new_columns])}) "  # noqa: S608
        f"VALUES ({', '.join('%s' for _c in [*common, *new_columns])})"
    )
    update_sql = (
        f"UPDATE {name} SET {', '.join(f'{_q(common[i])} = %s' for i in rest)} "  # noqa: S608
        "WHERE id = %s"
    )
    inserts: list[list] = []
    updates: list[tuple[list, list]] = []
    deletes: list[int] = []
    counts = {"deleted": 0, "updated": 0, "inserted": 0}

    def prepared(values: list[str | None]) -> list:
        return [
            None if v is None else f.get_db_prep_save(f.to_python(v), connection)
            for f, v in zip(fields, values, strict=True)
        ]

    def links_check(rows: list[list]) -> list[bool]:
        """Links to rows that do not exist now become NULL (in place); a row that needs one
        (a hidden link's entry, an activity's only parent) is not written (False)."""
        nonlocal skipped
        existing = {
            at: _existing_ids(cursor, target, {int(r[at]) for r in rows if r[at] is not None})
            for at, _column, target, _null in links
        }
        keep = []
        for row in rows:
            dropped = [
                (at, c, null)
                for at, c, _t, null in links
                if row[at] is not None and int(row[at]) not in existing[at]
            ]
            parents = [
                at
                for at, c, _t, _n in links
                if table.model is Activity and c in ACTIVITY_PARENTS and row[at] is not None
            ]
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
            deletes.clear()
        if updates and (force or len(updates) >= CHUNK):
            keep = links_check([snap for _live, snap in updates]) if checked else None
            rows = []
            for index, (live, snap) in enumerate(updates):
                if (keep is None or keep[index]) and live != snap:
                    values = prepared(snap)
                    rows.append([values[i] for i in rest] + [values[id_at]])
            cursor.executemany(update_sql, rows)
            counts["updated"] += len(rows)
            updates.clear()
        if inserts and (force or len(inserts) >= CHUNK):
            keep = links_check(inserts) if checked else [True] * len(inserts)
            rows = [
                prepared(snap) + new_values
                for snap, kept in zip(inserts, keep, strict=True)
                if kept
            ]
            cursor.executemany(insert_sql, rows)
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
        _canonical(row)
        for row in queryset.order_by("pk").values_list(*attnames).iterator(chunk_size=2000)
    )
    snap_rows = ([values[p] for p in positions] for values in map(copy_fields, section.lines()))
    live = next(live_rows, None)
    snap = next(snap_rows, None)
    while live is not None or snap is not None:
        live_id = int(live[id_at]) if live is not None else None
        snap_id = int(snap[id_at]) if snap is not None else None
        if snap is None or (live is not None and live_id < snap_id):
            if not recover:
                deletes.append(live_id)
            live = next(live_rows, None)
        elif live is None or snap_id < live_id:
            inserts.append(snap)
            snap = next(snap_rows, None)
        else:
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


# --- Preview ----------------------------------------------------------------------------------


def preview(
    *, snapshot: Snapshot, kind: str, entity_types: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """What a restore of ``kind`` would do now, per entity type, changing nothing:
    ``removed`` (exists now, not in the snapshot), ``restored`` (in the snapshot, gone or in
    the bin now), ``reverted`` (in both, different now). ``recover`` only restores rows that
    are gone. Raises RestoreRefused like the restore."""
    tables = _tables_for(kind, entity_types) & set(ENTITY_TABLES.values())
    if snapshot.status != Snapshot.Status.SUCCEEDED or not snapshot.storage_name:
        raise RestoreRefused(_("Only a finished snapshot can be restored."))
    result: dict[str, dict[str, int]] = {}
    try:
        with snapshot_storage().open(snapshot.storage_name, "rb") as fileobj:
            reader = SnapshotReader(
                fileobj, account_id=snapshot.account_id, checksum=snapshot.checksum
            )
            if connection.vendor == "postgresql":
                with transaction.atomic(), connection.cursor() as cursor:
                    staged = _stage(cursor, reader, tables)
                    for table in TABLES:
                        if table.name in staged:
                            result[table.name] = _preview_postgresql(
                                cursor, table, staged[table.name], snapshot.account_id
                            )
                    transaction.set_rollback(True)
            else:
                for section in reader.sections():
                    if section.table in tables:
                        table = TABLES_BY_NAME[section.table]
                        result[table.name] = _preview_sqlite(table, section, snapshot.account_id)
    except SnapshotInvalid as error:
        raise RestoreRefused(error.message) from error
    if kind == "recover":
        for counts in result.values():
            counts["removed"] = counts["reverted"] = 0
            counts["restored"] -= counts.pop("binned")
    else:
        for counts in result.values():
            counts.pop("binned")
    names = {v: k for k, v in ENTITY_TABLES.items()}
    return {names[t.name]: result[t.name] for t in TABLES if t.name in result}


def _preview_postgresql(cursor, table: Table, common: list[str], account_id: int) -> dict:
    name, stage = _q(table.name), _q(f"stg_{table.name}")
    live = ", ".join(f"x.{_q(c)}" for c in common)
    snap = ", ".join(f"s.{_q(c)}" for c in common)
    binned = "(x.bin_entry_id IS NOT NULL AND s.bin_entry_id IS NULL)"
    cursor.execute(
        f"SELECT count(*) FROM {name} x WHERE x.account_id = %s "  # noqa: S608 - model names
        f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.id = x.id)",
        [account_id],
    )
    removed = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT count(*) FROM {stage} s "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {name} x WHERE x.id = s.id)"
    )
    gone = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT count(*) FILTER (WHERE {binned}), "  # noqa: S608
        f"count(*) FILTER (WHERE NOT {binned} "
        f"AND ROW({live})::text IS DISTINCT FROM ROW({snap})::text) "
        f"FROM {stage} s JOIN {name} x ON x.id = s.id AND x.account_id = %s",
        [account_id],
    )
    binned_count, reverted = cursor.fetchone()
    return {
        "removed": removed,
        "restored": gone + binned_count,
        "reverted": reverted,
        "binned": binned_count,
    }


def _preview_sqlite(table: Table, section, account_id: int) -> dict:
    common = _common_columns(table, section.columns)
    by_column = {f.column: f for f in table.fields}
    positions = [section.columns.index(c) for c in common]
    id_at, bin_at = common.index("id"), common.index("bin_entry_id")
    attnames = [by_column[c].attname for c in common]
    live_rows = (
        _canonical(row)
        for row in table.queryset(account_id)
        .order_by("pk")
        .values_list(*attnames)
        .iterator(chunk_size=2000)
    )
    snap_rows = ([values[p] for p in positions] for values in map(copy_fields, section.lines()))
    counts = {"removed": 0, "restored": 0, "reverted": 0, "binned": 0}
    live, snap = next(live_rows, None), next(snap_rows, None)
    while live is not None or snap is not None:
        live_id = int(live[id_at]) if live is not None else None
        snap_id = int(snap[id_at]) if snap is not None else None
        if snap is None or (live is not None and live_id < snap_id):
            counts["removed"] += 1
            live = next(live_rows, None)
        elif live is None or snap_id < live_id:
            counts["restored"] += 1
            snap = next(snap_rows, None)
        else:
            if live[bin_at] is not None and snap[bin_at] is None:
                counts["restored"] += 1
                counts["binned"] += 1
            elif live != snap:
                counts["reverted"] += 1
            live, snap = next(live_rows, None), next(snap_rows, None)
    return counts
