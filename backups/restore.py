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

- PostgreSQL: with deferred constraints, table by table (parents first), the snapshot's COPY
  text is compared in the client with the account's live rows, COPYed out window by window of
  ids with the snapshot's columns (those the table still has, by name) in its order, so an
  unchanged row is the same bytes; only the rows that differ (or are missing) go into a small
  TEMP table, then: DELETE the account's rows that are not in the snapshot, UPDATE those that
  differ, INSERT the missing ones with their ids, and move the id sequence past the largest id.
  A table where the account has no live rows is COPYed straight in (``full``).
- SQLite: the snapshot's rows and the live rows, both sorted by id, are merged in one pass per
  table (flat memory); deletes, updates and inserts go in chunks, foreign keys checked at commit.
"""

import io
import tempfile
from array import array
from collections.abc import Callable, Iterator
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
# PostgreSQL: the snapshot's COPY text is compared with the live rows this much at a time; what
# differs is spooled to disk past SPOOL_BYTES (memory stays flat whatever the account's size).
WINDOW_BYTES = 2 << 20
SPOOL_BYTES = 4 << 20
COPY_CHUNK = 1 << 20
DELETE_CHUNK = 10_000


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
    progress: Callable[[int, str], None] | None = None,
) -> RestoreOutcome:
    """Reset the snapshot's account to the snapshot (``full``) or bring back only the rows
    that are in the snapshot and gone now (``recover``: live rows are never changed; links to
    records that no longer exist become NULL). ``account``, when
    given, must be the snapshot's. Raises RestoreRefused (nothing changed) for a snapshot that is
    not usable; any other error rolls the whole restore back, maintenance lifted.

    ``progress(percent, step)`` is called between the steps, outside the restore's
    transaction (so what it writes is seen at once): ``verify``, ``safety_snapshot``,
    ``apply``, ``done``."""
    report = progress or (lambda percent, step: None)
    tables = _tables_for(kind, entity_types)
    if account is not None and account.pk != snapshot.account_id:
        raise RestoreRefused(_("The snapshot belongs to another account."))
    if snapshot.status != Snapshot.Status.SUCCEEDED:
        raise RestoreRefused(_("Only a finished snapshot can be restored."))
    if connection.in_atomic_block:
        raise RestoreRefused("A restore runs its own transactions; do not call it inside one.")
    report(5, "verify")
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
        report(15, "safety_snapshot")
        pre = snapshot_take(account=target, kind=Snapshot.Kind.PRE_RESTORE, actor=actor)
        if pre.status != Snapshot.Status.SUCCEEDED:
            raise RestoreRefused(
                _("The safety snapshot before the restore failed: %(error)s") % {"error": pre.error}
            )
        report(40, "apply")
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
    report(100, "done")
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
            applied = _apply_postgresql(reader, account_id, kind, tables)
        else:
            applied = _apply_sqlite(reader, account_id, kind, tables)
    if kind == "entities":
        _empty_entries_remove(applied, account_id)
    return applied


def _empty_entries_remove(applied: _Applied, account_id: int) -> None:
    """entities: a bin entry whose rows all came back live (they were live in the snapshot)
    holds nothing any more; it leaves the bin, with its hidden links."""
    empty = BinEntry.objects.filter(account_id=account_id)
    for table in TABLES:
        if any(f.column == "bin_entry_id" for f in table.fields) and not table.via_entry:
            empty = empty.exclude(
                pk__in=table.model._base_manager.filter(
                    account_id=account_id, bin_entry__isnull=False
                ).values("bin_entry_id")
            )
    _total, per_model = empty.delete()
    removed = per_model.get(BinEntry._meta.label, 0)
    if removed:
        counts = applied.counts.setdefault(
            BinEntry._meta.db_table, {"deleted": 0, "updated": 0, "inserted": 0}
        )
        counts["deleted"] += removed


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
    """A read()-able file over an iterator of COPY lines, for copy_expert: each read() returns
    whole lines, about ``size`` bytes (psycopg2 sends whatever it gets), b"" at the end."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines = lines

    def read(self, size: int = -1) -> bytes:
        parts = []
        length = 0
        for line in self.lines:
            parts.append(line)
            length += len(line)
            if 0 <= size <= length:
                break
        return b"".join(parts)

    readline = read


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


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
    """Table by table in the snapshot's order (parents first, so the links of a written row are
    checked against its parents as restored), in one transaction with deferred constraints:
    only the rows that differ from the snapshot are written (_diff_table)."""
    applied = _Applied()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for section in reader.sections():
            table = TABLES_BY_NAME[section.table]
            if table.name not in tables:
                continue  # the reader skips the section
            _diff_table(cursor, table, section, account_id, kind, applied)
            _sequence_past_max(cursor, table)
            after_table(table.name)
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


def _ours(table: Table, alias: str) -> str:
    """SQL: ``alias`` is a row of the account as this restore sees it (one %s). A hidden link
    is the account's when its bin entry is, or when its entry is gone (deleted by this restore:
    constraints are deferred, so the link is still there and must go too)."""
    if table.via_entry:
        entry = _q(BinEntry._meta.db_table)
        return (
            f"NOT EXISTS (SELECT 1 FROM {entry} e "  # noqa: S608 - model names
            f"WHERE e.id = {alias}.entry_id AND e.account_id <> %s)"
        )
    return f"{alias}.account_id = %s"


def _projected(lines: Iterator[bytes], positions: list[int]) -> Iterator[bytes]:
    """COPY lines cut down to the columns at ``positions`` (fields never hold a raw tab)."""
    for line in lines:
        fields = line.rstrip(b"\n").split(b"\t")
        yield b"\t".join([fields[p] for p in positions]) + b"\n"


def _windows(lines: Iterator[bytes]) -> Iterator[tuple[list[bytes], bool]]:
    """The snapshot's lines in windows of about WINDOW_BYTES, and whether it is the last one
    (which may be empty)."""
    window: list[bytes] = []
    size = 0
    for line in lines:
        window.append(line)
        size += len(line)
        if size >= WINDOW_BYTES:
            yield window, False
            window, size = [], 0
    yield window, True


@dataclass
class _Diff:
    """What differs between the snapshot's rows of a table and the live ones: the snapshot's
    lines to write (changed or missing rows; COPY text) and the live ids to delete, spooled to
    disk past a few MB, so memory stays flat whatever the account's size."""

    writes: tempfile.SpooledTemporaryFile = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115
    )  # closed by close()
    deletes: array = field(default_factory=lambda: array("q"))
    written: int = 0

    def close(self) -> None:
        self.writes.close()


def _id_of(id_at: int) -> Callable[[bytes], bytes]:
    """The id field of a COPY line (without its newline)."""
    if id_at == 0:
        return lambda line: line.partition(b"\t")[0]
    return lambda line: line.split(b"\t")[id_at]


def _differences(
    cursor, table: Table, common: list[str], lines: Iterator[bytes], account_id: int, kind: str
) -> _Diff:
    """Compare the snapshot's rows with the live rows of the account, window by window of ids
    (both in id order): the live rows of a window are COPYed out with the snapshot's columns in
    its order, so an unchanged row is the same bytes (PostgreSQL's text output is exact: 1.0 and
    1.00 differ), and only what differs is kept. ``recover`` compares ids only."""
    diff = _Diff()
    id_of = _id_of(common.index("id"))
    recover = kind == "recover"
    select = "x.id" if recover else ", ".join(f"x.{_q(c)}" for c in common)
    query = (
        f"SELECT {select} FROM {_q(table.name)} x WHERE {_ours(table, 'x')} "  # noqa: S608
        "AND x.id > %s AND x.id <= %s ORDER BY x.id"
    )
    low = -(1 << 63)
    for window, last in _windows(lines):
        high = (1 << 63) - 1 if last else int(id_of(window[-1].rstrip(b"\n")))
        live = io.BytesIO()
        sql = cursor.mogrify(query, [int(account_id), low, high]).decode()
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT", live, COPY_CHUNK)
        low = high
        snap = b"".join(window)
        del window
        live_text = live.getvalue()
        del live
        if live_text == snap:
            continue
        snap_lines = snap.split(b"\n")
        snap_lines.pop()  # after the last newline
        live_lines = live_text.split(b"\n")
        live_lines.pop()
        if recover:
            present = set(live_lines)
            missing = [line for line in snap_lines if id_of(line) not in present]
            _spool(diff, missing)
            continue
        live_set, snap_set = set(live_lines), set(snap_lines)
        snap_only = snap_set - live_set  # changed or missing rows
        live_only = live_set - snap_set  # changed rows, or rows to delete
        del live_set, snap_set
        _spool(diff, snap_only)
        if live_only:
            kept = {id_of(line) for line in snap_only}
            diff.deletes.extend(int(i) for i in map(id_of, live_only) if i not in kept)
    return diff


def _spool(diff: _Diff, lines) -> None:
    for line in lines:
        diff.writes.write(line + b"\n")
        diff.written += 1


def _diff_table(cursor, table: Table, section, account_id: int, kind: str, applied: _Applied):
    """One table back to the snapshot: ``full``/``entities`` delete the account's rows that
    are not in the snapshot, update those that differ, insert those that are missing (ids
    kept); ``recover`` only inserts the missing ones. ``entities`` and ``recover`` check the
    links of what they write (_link_sql). A table where the account has no live rows is
    COPYed straight in (``full``)."""
    common = _common_columns(table, section.columns)
    new_columns, new_values = _defaults(table, common)
    lines = section.lines()
    if common != section.columns:  # snapshot columns the table no longer has are dropped
        lines = _projected(lines, [section.columns.index(c) for c in common])
    name = _q(table.name)
    columns = ", ".join(_q(c) for c in common)
    if kind == "full" and not new_columns and not _has_live(cursor, table, account_id):
        # Nothing to compare with or delete. (An id another account's row holds fails the
        # restore on the primary key, rather than leaving the row out.)
        cursor.copy_expert(f"COPY {name} ({columns}) FROM STDIN", _LinesFile(lines), COPY_CHUNK)
        applied.counts[table.name] = {"deleted": 0, "updated": 0, "inserted": cursor.rowcount}
        return
    diff = _differences(cursor, table, common, lines, account_id, kind)
    try:
        deleted = _delete_ids(cursor, table, diff.deletes, account_id)
        if kind == "recover":
            applied.counts[table.name] = {"inserted": 0}
            applied.links_nulled[table.name] = {}
        else:
            applied.counts[table.name] = {"deleted": deleted, "updated": 0, "inserted": 0}
            if kind == "entities":
                applied.links_nulled[table.name] = {}
        if not diff.written:
            return
        stage = _q(f"stg_{table.name}")
        cursor.execute(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS "  # noqa: S608 - model names
            f"SELECT {columns} FROM {name} WITH NO DATA"
        )
        diff.writes.seek(0)
        cursor.copy_expert(f"COPY {stage} ({columns}) FROM STDIN", diff.writes, COPY_CHUNK)
        cursor.execute(f"ANALYZE {stage}")  # no statistics otherwise: joins planned blind
        _write_staged(cursor, table, common, account_id, kind, applied, new_columns, new_values)
        cursor.execute(f"DROP TABLE {stage}")
    finally:
        diff.close()


def _has_live(cursor, table: Table, account_id: int) -> bool:
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {_q(table.name)} x WHERE {_ours(table, 'x')})",  # noqa: S608
        [account_id],
    )
    return cursor.fetchone()[0]


def _delete_ids(cursor, table: Table, ids: array, account_id: int) -> int:
    deleted = 0
    for start in range(0, len(ids), DELETE_CHUNK):
        cursor.execute(
            f"DELETE FROM {_q(table.name)} x WHERE {_ours(table, 'x')} "  # noqa: S608
            "AND x.id = ANY(%s)",
            [account_id, ids[start : start + DELETE_CHUNK].tolist()],
        )
        deleted += cursor.rowcount
    return deleted


def _write_staged(
    cursor,
    table: Table,
    common: list[str],
    account_id: int,
    kind: str,
    applied: _Applied,
    new_columns: list[str],
    new_values: list,
) -> None:
    """Write the staged rows ``s`` (the snapshot's rows that differ from the live ones or are
    missing): update the account's rows of the same id (not ``recover``), insert those whose id
    does not exist. ``entities``/``recover``: a link to a row that does not exist now becomes
    NULL, a row that needs one (a hidden link's entry, an activity's only parent) is skipped;
    both counted."""
    name, stage = _q(table.name), _q(f"stg_{table.name}")
    checked = kind != "full"
    if checked:
        values, keep = _link_sql(table, common)
    else:
        values, keep = {c: f"s.{_q(c)}" for c in common}, []
    missing = f"NOT EXISTS (SELECT 1 FROM {name} x WHERE x.id = s.id)"  # noqa: S608
    if kind == "recover":
        keep = [missing, *keep]
    kept = " AND ".join(keep) or "TRUE"
    if checked:
        # What will be skipped and which links become NULL, counted in one pass.
        required = " AND ".join(k for k in keep if k != missing) or "TRUE"
        nullable = [(c, t) for c, t, null in _links(table, common) if null]
        counts_sql = ", ".join(
            [
                f"count(*) FILTER (WHERE NOT ({required}))",
                *(
                    f"count(*) FILTER (WHERE s.{_q(c)} IS NOT NULL AND NOT {_exists(c, t)} "
                    f"AND {required})"
                    for c, t in nullable
                ),
            ]
        )
        scope = missing if kind == "recover" else "TRUE"
        cursor.execute(f"SELECT {counts_sql} FROM {stage} s WHERE {scope}")  # noqa: S608
        skipped, *nulled = cursor.fetchone()
        if skipped:
            applied.skipped[table.name] = skipped
        applied.links_nulled[table.name] = {
            c: count for (c, _t), count in zip(nullable, nulled, strict=True) if count
        }
    counts = applied.counts[table.name]
    snap = ", ".join(values[c] for c in common)
    rest = [c for c in common if c != "id"]
    if kind != "recover" and rest:
        sets = ", ".join(f"{_q(c)} = {values[c]}" for c in rest)
        live = ", ".join(f"x.{_q(c)}" for c in common)
        cursor.execute(
            f"UPDATE {name} x SET {sets} FROM {stage} s "  # noqa: S608
            f"WHERE x.id = s.id AND {_ours(table, 'x')} AND {kept} "
            f"AND ROW({live})::text IS DISTINCT FROM ROW({snap})::text",
            [account_id],
        )
        counts["updated"] = cursor.rowcount
    cursor.execute(
        f"INSERT INTO {name} "  # noqa: S608
        f"({', '.join(_q(c) for c in [*common, *new_columns])}) "
        f"SELECT {', '.join([snap, *('%s' for _v in new_values)])} FROM {stage} s "
        f"WHERE {kept}{'' if kind == 'recover' else f' AND {missing}'}",
        new_values,
    )
    counts["inserted"] = cursor.rowcount


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


BUCKETS = ("removed", "restored", "reverted")
# The columns a record's title is made of (its model's ``title_text``), per entity table.
TITLE_COLUMNS = {
    "crm_company": ("title",),
    "crm_contact": ("first_name", "last_name"),
    "crm_lead": ("title",),
    "crm_deal": ("title",),
    "crm_activity": ("subject",),
}


@dataclass(frozen=True)
class PreviewRecord:
    """A record behind a preview's number: the live record's title for ``removed`` and
    ``reverted``, the snapshot's for ``restored`` (it may exist nowhere else)."""

    id: int
    title: str

    def __str__(self) -> str:
        return self.title


@dataclass(frozen=True)
class Sampling:
    """Which records a preview names behind its numbers: up to ``size`` per bucket, by id,
    ids above ``after`` only (keyset: pass the last id seen to page on). ``entity_type`` (and
    ``bucket``) narrow the preview to one entity type (and one bucket): only that type's
    table is read."""

    size: int
    entity_type: str | None = None
    bucket: str | None = None
    after: int = 0

    def __post_init__(self) -> None:
        if (
            self.size < 0
            or self.after < 0
            or self.entity_type not in (None, *ENTITY_TABLES)
            or self.bucket not in (None, *BUCKETS)
        ):
            raise ValueError(f"Not a sampling: {self!r}")

    @property
    def buckets(self) -> tuple[str, ...]:
        return BUCKETS if self.bucket is None else (self.bucket,)


def preview(
    *,
    snapshot: Snapshot,
    kind: str,
    entity_types: list[str] | None = None,
    sampling: Sampling | None = None,
) -> dict[str, dict]:
    """What a restore of ``kind`` would do now, per entity type, changing nothing:
    ``removed`` (exists now, not in the snapshot), ``restored`` (in the snapshot, gone or in
    the bin now), ``reverted`` (in both, different now). ``recover`` only restores rows that
    are gone. Raises RestoreRefused like the restore.

    With ``sampling`` (size above 0) each entity type's numbers also carry ``samples``:
    ``{bucket: [PreviewRecord, ...]}`` for the buckets it asks, the records counted there,
    by id. Without it only counting queries run."""
    tables = _tables_for(kind, entity_types) & set(ENTITY_TABLES.values())
    if sampling is not None and not sampling.size:
        sampling = None
    if sampling is not None and sampling.entity_type is not None:
        tables &= {ENTITY_TABLES[sampling.entity_type]}
    if snapshot.status != Snapshot.Status.SUCCEEDED or not snapshot.storage_name:
        raise RestoreRefused(_("Only a finished snapshot can be restored."))
    result: dict[str, dict] = {}
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
                                cursor,
                                table,
                                staged[table.name],
                                snapshot.account_id,
                                kind=kind,
                                sampling=sampling,
                            )
                    transaction.set_rollback(True)
            else:
                for section in reader.sections():
                    if section.table in tables:
                        table = TABLES_BY_NAME[section.table]
                        result[table.name] = _preview_sqlite(
                            table, section, snapshot.account_id, kind=kind, sampling=sampling
                        )
    except SnapshotInvalid as error:
        raise RestoreRefused(error.message) from error
    except FileNotFoundError as error:
        raise RestoreRefused(_("The snapshot's file is missing.")) from error
    if kind == "recover":
        for counts in result.values():
            counts["removed"] = counts["reverted"] = 0
            counts["restored"] -= counts.pop("binned")
    else:
        for counts in result.values():
            counts.pop("binned")
    names = {v: k for k, v in ENTITY_TABLES.items()}
    return {names[t.name]: result[t.name] for t in TABLES if t.name in result}


def _preview_sql(table: Table, common: list[str]) -> dict[str, str]:
    """SQL pieces of the preview over the staged snapshot rows ``s`` and the live rows ``x``:
    the tables, both rows as text (to compare them) and "in the bin now, not then"."""
    return {
        "name": _q(table.name),
        "stage": _q(f"stg_{table.name}"),
        "live": ", ".join(f"x.{_q(c)}" for c in common),
        "snap": ", ".join(f"s.{_q(c)}" for c in common),
        "binned": "(x.bin_entry_id IS NOT NULL AND s.bin_entry_id IS NULL)",
    }


def _preview_postgresql(
    cursor,
    table: Table,
    common: list[str],
    account_id: int,
    *,
    kind: str,
    sampling: Sampling | None,
) -> dict:
    sql = _preview_sql(table, common)
    name, stage, binned = sql["name"], sql["stage"], sql["binned"]
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
        f"AND ROW({sql['live']})::text IS DISTINCT FROM ROW({sql['snap']})::text) "
        f"FROM {stage} s JOIN {name} x ON x.id = s.id AND x.account_id = %s",
        [account_id],
    )
    binned_count, reverted = cursor.fetchone()
    counts: dict = {
        "removed": removed,
        "restored": gone + binned_count,
        "reverted": reverted,
        "binned": binned_count,
    }
    if sampling is not None:
        counted = {
            "removed": removed,
            "restored": gone if kind == "recover" else gone + binned_count,
            "reverted": reverted,
        }
        counts["samples"] = _samples_postgresql(
            cursor, table, common, account_id, kind=kind, sampling=sampling, counted=counted
        )
    return counts


def _samples_postgresql(
    cursor,
    table: Table,
    common: list[str],
    account_id: int,
    *,
    kind: str,
    sampling: Sampling,
    counted: dict[str, int],
) -> dict[str, list[PreviewRecord]]:
    """The records _preview_postgresql counts (``counted``), per bucket: one query each, in
    id order from ``sampling.after`` with a LIMIT (the primary keys serve the order, nothing
    is sorted whole); none for an empty bucket, which would read the whole table to find
    nothing. ``recover`` only restores what is gone."""
    sql = _preview_sql(table, common)
    name, stage, binned = sql["name"], sql["stage"], sql["binned"]
    titles = TITLE_COLUMNS[table.name]
    live_title = ", ".join(f"x.{_q(c)}" for c in titles)
    # A title column the (older) snapshot lacks is empty.
    snap_title = ", ".join(f"s.{_q(c)}" if c in common else "NULL" for c in titles)
    restored = "x.id IS NULL"
    if kind != "recover":
        restored = f"({restored} OR (x.account_id = %(account)s AND {binned}))"
    queries = {
        "removed": (
            f"SELECT x.id, {live_title} FROM {name} x "  # noqa: S608 - model names
            f"WHERE x.account_id = %(account)s AND x.id > %(after)s "
            f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.id = x.id) "
            "ORDER BY x.id LIMIT %(limit)s"
        ),
        "restored": (
            f"SELECT s.id, {snap_title} FROM {stage} s "  # noqa: S608
            f"LEFT JOIN {name} x ON x.id = s.id "
            f"WHERE s.id > %(after)s AND {restored} ORDER BY s.id LIMIT %(limit)s"
        ),
        "reverted": (
            f"SELECT x.id, {live_title} FROM {stage} s "  # noqa: S608
            f"JOIN {name} x ON x.id = s.id AND x.account_id = %(account)s "
            f"WHERE x.id > %(after)s AND NOT {binned} "
            f"AND ROW({sql['live']})::text IS DISTINCT FROM ROW({sql['snap']})::text "
            "ORDER BY x.id LIMIT %(limit)s"
        ),
    }
    params = {"account": account_id, "after": sampling.after, "limit": sampling.size}
    samples: dict[str, list[PreviewRecord]] = {}
    for bucket in sampling.buckets:
        samples[bucket] = []
        if kind == "recover" and bucket != "restored":
            continue  # recover removes and reverts nothing
        if not counted[bucket]:
            continue
        cursor.execute(queries[bucket], params)
        samples[bucket] = [
            PreviewRecord(id=row[0], title=_title(table, row[1:])) for row in cursor.fetchall()
        ]
    return samples


def _title(table: Table, values) -> str:
    """A record's title from its TITLE_COLUMNS values, as the CRM shows it (the model's own
    ``title_text``; a missing value counts as empty)."""
    fields = dict(zip(TITLE_COLUMNS[table.name], values, strict=True))
    return str(table.model(**{k: v or "" for k, v in fields.items()}))


def _preview_sqlite(
    table: Table, section, account_id: int, *, kind: str, sampling: Sampling | None
) -> dict:
    """Counts (and samples) in one merge of the snapshot's rows and the live ones, by id."""
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
    counts: dict = {"removed": 0, "restored": 0, "reverted": 0, "binned": 0}
    samples, take = _sampler(table, common, kind, sampling) if sampling else ({}, None)
    live, snap = next(live_rows, None), next(snap_rows, None)
    while live is not None or snap is not None:
        live_id = int(live[id_at]) if live is not None else None
        snap_id = int(snap[id_at]) if snap is not None else None
        if snap is None or (live is not None and live_id < snap_id):
            counts["removed"] += 1
            if take:
                take("removed", live_id, live)
            live = next(live_rows, None)
        elif live is None or snap_id < live_id:
            counts["restored"] += 1
            if take:
                take("restored", snap_id, snap)
            snap = next(snap_rows, None)
        else:
            if live[bin_at] is not None and snap[bin_at] is None:
                counts["restored"] += 1
                counts["binned"] += 1
                if take and kind != "recover":  # recover only restores what is gone
                    take("restored", snap_id, snap)
            elif live != snap:
                counts["reverted"] += 1
                if take:
                    take("reverted", live_id, live)
            live, snap = next(live_rows, None), next(snap_rows, None)
    if sampling:
        counts["samples"] = samples
    return counts


def _sampler(
    table: Table, common: list[str], kind: str, sampling: Sampling
) -> tuple[dict[str, list[PreviewRecord]], Callable[[str, int, list], None]]:
    """The samples of _preview_sqlite's buckets, and ``take(bucket, id, row)`` that the merge
    calls for every record it counts (rows in id order: the first ones after
    ``sampling.after`` are kept)."""
    samples: dict[str, list[PreviewRecord]] = {bucket: [] for bucket in sampling.buckets}
    filled = {
        bucket: records
        for bucket, records in samples.items()
        if kind != "recover" or bucket == "restored"  # recover removes and reverts nothing
    }
    title_at = [common.index(c) if c in common else None for c in TITLE_COLUMNS[table.name]]

    def take(bucket: str, record_id: int, row: list) -> None:
        records = filled.get(bucket)
        if records is not None and record_id > sampling.after and len(records) < sampling.size:
            values = [None if at is None else row[at] for at in title_at]
            records.append(PreviewRecord(id=record_id, title=_title(table, values)))

    return samples, take
