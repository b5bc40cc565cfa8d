"""The PostgreSQL apply path: only what differs is written (PERFORMANCE.md, "Restore").

With deferred constraints, table by table (parents first), the snapshot's COPY text is compared
in the client with the account's live rows, COPYed out window by window of ids with the
snapshot's columns (those the table still has, by name) in its order, so an unchanged row is the
same bytes; only the rows that differ (or are missing) go into a small TEMP table, then: DELETE
the account's rows that are not in the snapshot, UPDATE those that differ, INSERT the missing
ones with their ids, and move the id sequence past the largest id. A table where the account has
no live rows is COPYed straight in (``full``)."""

import io
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from backups.delta import DeltaWriter, Reader
from backups.kinds import RestoreKind
from backups.restore.columns import common_columns, defaults, quote
from backups.restore.hooks import table_applied
from backups.restore.links import dangling_fix, entry_owner_gone_sql, links, parent_columns
from backups.restore.outcome import Applied
from backups.restore.record_log import (
    BROUGHT_BACK,
    ENTITY_BY_TABLE,
    GONE,
    REMOVED,
    REVERTED,
    RecordLog,
    diff_sql,
    image_sql,
    insert_events_sql,
    state_sql,
    title_sql,
)
from backups.snapshot_format import TABLES, TABLES_BY_NAME, Table
from backups.snapshot_reading import Section, copy_in
from crm.entities import Entity
from recyclebin.models import BinEntry

# The snapshot's COPY text is compared with the live rows this much at a time; what differs is
# spooled to disk past SPOOL_BYTES (memory stays flat whatever the account's size).
WINDOW_BYTES = 512 << 10
SPOOL_BYTES = 4 << 20
COPY_CHUNK = 1 << 20
DELETE_CHUNK = 10_000


def apply_postgresql(
    *,
    reader: Reader,
    account_id: int,
    kind: RestoreKind,
    tables: set[str],
    safety: DeltaWriter | None = None,
    log: RecordLog | None = None,
) -> Applied:
    """Table by table in the snapshot's order (parents first, so the links of a written row are
    checked against its parents as restored), in one transaction with deferred constraints:
    only the rows that differ from the snapshot are written (_diff_table). With ``safety``,
    every table is compared (those the restore leaves alone too) and what differs goes into
    that safety copy, a delta on this snapshot (backups.delta); a table the snapshot lacks goes
    into it whole. With ``log``, every CRM record the restore changes gets its event
    (backups.restore.record_log), set-based beside each statement."""
    applied = Applied()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        if safety is not None:
            in_file = {t["name"] for t in reader.header["tables"]}
            for table in TABLES:
                if table.name not in in_file:
                    live_copy(cursor, table, account_id, safety.full(table.name, table.columns))
        for section in reader.sections():
            table = TABLES_BY_NAME[section.table]
            applies = table.name in tables
            if applies or safety is not None:
                _diff_table(
                    cursor,
                    table,
                    section,
                    account_id,
                    kind,
                    applied,
                    applies=applies,
                    safety=safety,
                    log=log,
                )
            if applies:
                _sequence_past_max(cursor, table)
                table_applied(table.name)
        if kind == RestoreKind.ENTITIES:
            dangling_fix(
                cursor=cursor, applied=applied, tables=tables, account_id=account_id, log=log
            )
    return applied


def _exists(column: str, target: str) -> str:
    return f"EXISTS (SELECT 1 FROM {quote(target)} p WHERE p.id = s.{quote(column)})"  # noqa: S608


def _link_sql(table: Table, common: list[str]) -> tuple[dict[str, str], list[str]]:
    """The value written for each column of a staged row ``s`` (a link to a row that does not
    exist becomes NULL) and the conditions for writing the row at all (a required link exists;
    an activity keeps a parent)."""
    table_links = links(table, common)
    values = {c: f"s.{quote(c)}" for c in common}
    keep = []
    for column, target, null in table_links:
        if null:
            values[column] = f"CASE WHEN {_exists(column, target)} THEN s.{quote(column)} END"
        else:
            keep.append(_exists(column, target))
    parent_links = parent_columns(table)
    parents = [
        f"(s.{quote(c)} IS NOT NULL AND {_exists(c, t)})"
        for c, t, _null in table_links
        if c in parent_links
    ]
    if parents:
        keep.append("(" + " OR ".join(parents) + ")")
    return values, keep


def _ours(table: Table, alias: str) -> str:
    """SQL: ``alias`` is a row of the account as this restore sees it (one %s). A hidden link
    is the account's when its bin entry is, or when its entry is gone (deleted by this restore:
    constraints are deferred, so the link is still there and must go too)."""
    if table.via_entry:
        entry = quote(BinEntry._meta.db_table)
        return (
            f"NOT EXISTS (SELECT 1 FROM {entry} e "  # noqa: S608 - model names
            f"WHERE e.id = {alias}.entry_id AND e.account_id <> %s)"
        )
    return f"{alias}.account_id = %s"


def projected(lines: Iterable[bytes], positions: list[int]) -> Iterator[bytes]:
    """COPY lines cut down to the columns at ``positions`` (fields never hold a raw tab)."""
    for line in lines:
        fields = line.rstrip(b"\n").split(b"\t")
        yield b"\t".join([fields[p] for p in positions]) + b"\n"


def section_blocks(section: Section, common: list[str]) -> Iterator[list[bytes]]:
    """The section's lines in blocks of about WINDOW_BYTES, cut down to the ``common``
    columns (the snapshot's columns the table no longer has are dropped)."""
    blocks = section.blocks(WINDOW_BYTES)
    if common == section.columns:
        return blocks
    positions = [section.columns.index(c) for c in common]
    return (list(projected(block, positions)) for block in blocks)


def _windows(blocks: Iterator[list[bytes]]) -> Iterator[tuple[list[bytes], bool]]:
    """The snapshot's lines in windows of at least WINDOW_BYTES, and whether it is the last
    one (which may be empty)."""
    window: list[bytes] = []
    size = 0
    for block in blocks:
        window += block
        size += sum(map(len, block))
        if size >= WINDOW_BYTES:
            yield window, False
            window, size = [], 0
    yield window, True


@dataclass
class _Diff:
    """What differs between the snapshot's rows of a table and the live ones: the snapshot's
    lines to write (changed or missing rows; COPY text) and the live ids to delete, spooled to
    disk past a few MB, so memory stays flat whatever the account's size."""

    writes: IO[bytes] = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115
    )  # closed by close()
    deletes: "array[int]" = field(default_factory=lambda: array("q"))
    written: int = 0

    def close(self) -> None:
        self.writes.close()


def id_reader(id_at: int) -> Callable[[bytes], bytes]:
    """The id field of a COPY line (without its newline)."""
    if id_at == 0:
        return lambda line: line.partition(b"\t")[0]
    return lambda line: line.split(b"\t")[id_at]


@dataclass
class WindowDiff:
    """One window of ids where the snapshot's rows and the live ones differ: the snapshot's
    lines that are not live as they are (changed or missing rows) and the live lines that are
    not in the snapshot as they are (changed rows, or rows the snapshot lacks). Lines without
    their newline. With ``ids_only`` the live side is ids, ``live_only`` is empty and
    ``snap_only`` holds only the rows whose id is not live."""

    snap_only: set[bytes]
    live_only: set[bytes]


def window_diffs(
    cursor: CursorWrapper,
    table: Table,
    common: list[str],
    blocks: Iterator[list[bytes]],
    account_id: int,
    *,
    ids_only: bool = False,
) -> Iterator[WindowDiff]:
    """Compare the snapshot's rows with the live rows of the account, window by window of ids
    (both in id order): the live rows of a window are COPYed out with the snapshot's columns in
    its order, so an unchanged row is the same bytes (PostgreSQL's text output is exact: 1.0 and
    1.00 differ); a window where nothing differs yields nothing.

    The database's half (COPY out) and ours (reading the file, comparing) take about as long,
    so they overlap: a thread COPYs the next window out while this one is compared and the one
    after it read. Nothing runs on the connection while a difference is yielded."""
    id_of = id_reader(common.index("id"))
    select = "x.id" if ids_only else ", ".join(f"x.{quote(c)}" for c in common)
    query = (
        f"SELECT {select} FROM {quote(table.name)} x WHERE {_ours(table, 'x')} "  # noqa: S608
        "AND x.id > %s AND x.id <= %s ORDER BY x.id"
    )
    windows = _windows(blocks)
    low = -(1 << 63)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="restore-copy") as copier:

        def started(window: list[bytes], last: bool) -> tuple[bytes, Future[bytes]]:
            nonlocal low
            high = (1 << 63) - 1 if last else int(id_of(window[-1].rstrip(b"\n")))
            sql = cursor.mogrify(query, [int(account_id), low, high]).decode()
            low = high
            return b"".join(window), copier.submit(_copied, cursor, f"COPY ({sql}) TO STDOUT")

        current: tuple[bytes, Future[bytes]] | None = started(*next(windows))
        upcoming = next(windows, None)
        while current is not None:
            snap, copying = current
            live = copying.result()
            current = started(*upcoming) if upcoming is not None else None
            upcoming = next(windows, None)
            diff = _window_diff(snap, live, id_of, ids_only=ids_only)
            if diff is not None:
                if current is not None:
                    wait([current[1]])
                yield diff


def _copied(cursor: CursorWrapper, sql: str) -> bytes:
    out = io.BytesIO()
    cursor.copy_expert(sql, out, COPY_CHUNK)
    return out.getvalue()


def _window_diff(
    snap: bytes, live: bytes, id_of: Callable[[bytes], bytes], *, ids_only: bool
) -> WindowDiff | None:
    if live == snap:
        return None
    snap_lines = snap.split(b"\n")
    snap_lines.pop()  # after the last newline
    live_lines = live.split(b"\n")
    live_lines.pop()
    if ids_only:
        present = set(live_lines)
        gone = {line for line in snap_lines if id_of(line) not in present}
        return WindowDiff(gone, set()) if gone else None
    live_set, snap_set = set(live_lines), set(snap_lines)
    return WindowDiff(snap_set - live_set, live_set - snap_set)


def _differences(
    cursor: CursorWrapper,
    table: Table,
    common: list[str],
    blocks: Iterator[list[bytes]],
    account_id: int,
    kind: RestoreKind,
    *,
    applies: bool,
    safety: DeltaWriter | None,
) -> _Diff:
    """What the restore writes (``applies``): the snapshot's lines of the rows that differ or
    are missing (``recover``: missing only) and the live ids to delete (not ``recover``). And
    what the safety copy keeps (``safety``): every live row that differs from the snapshot, as
    it is, and the ids of the snapshot's rows that are not live."""
    diff = _Diff()
    id_of = id_reader(common.index("id"))
    for window in window_diffs(cursor, table, common, blocks, account_id):
        live = {id_of(line): line for line in window.live_only}
        snap_ids = {id_of(line) for line in window.snap_only}
        if safety is not None:
            safety.window(
                table.name,
                [
                    *((int(i), b"+" + line + b"\n") for i, line in live.items()),
                    *((int(i), b"-" + i + b"\n") for i in snap_ids if i not in live),
                ],
            )
        if not applies:
            continue
        if kind == RestoreKind.RECOVER:
            _spool(diff, (line for line in window.snap_only if id_of(line) not in live))
            continue
        _spool(diff, window.snap_only)
        diff.deletes.extend(int(i) for i in live if i not in snap_ids)
    return diff


def _spool(diff: _Diff, lines: Iterable[bytes]) -> None:
    for line in lines:
        diff.writes.write(line + b"\n")
        diff.written += 1


def _diff_table(
    cursor: CursorWrapper,
    table: Table,
    section: Section,
    account_id: int,
    kind: RestoreKind,
    applied: Applied,
    *,
    applies: bool = True,
    safety: DeltaWriter | None = None,
    log: RecordLog | None = None,
) -> None:
    """One table back to the snapshot (``applies``): ``full``/``entities`` delete the
    account's rows that are not in the snapshot, update those that differ, insert those that
    are missing (ids kept); ``recover`` only inserts the missing ones. ``entities`` and
    ``recover`` check the links of what they write (_link_sql). A table where the account has
    no live rows is COPYed straight in (``full``). The ``safety`` copy gets what differs (or
    the live rows whole, when the table has columns the snapshot lacks)."""
    common = common_columns(table, section.columns)
    new_columns, new_values = defaults(table, common)
    blocks = section_blocks(section, common)
    name = quote(table.name)
    columns = ", ".join(quote(c) for c in common)
    entity = ENTITY_BY_TABLE.get(table.name)
    logged = _Logged(log, entity, common) if log is not None and entity is not None else None
    if (
        applies
        and kind == RestoreKind.FULL
        and not new_columns
        and not _has_live(cursor, table, account_id)
    ):
        if safety is not None:
            safety.full(table.name, table.columns)  # nothing live: an empty section
        # Nothing to compare with or delete. (An id another account's row holds fails the
        # restore on the primary key, rather than leaving the row out.)
        copy_in(cursor, f"COPY {name} ({columns}) FROM STDIN", blocks, COPY_CHUNK)
        applied.counts[table.name] = {"deleted": 0, "updated": 0, "inserted": cursor.rowcount}
        if logged is not None:  # every row of the account here came back
            sql, params = logged.insert(
                source=f"{name} x WHERE x.account_id = %s",
                title=logged.title("x"),
                changes="'{}'::jsonb",
                action=f"'{BROUGHT_BACK}'",
                before=f"'{GONE}'",
                after=state_sql("x.bin_entry_id"),
            )
            cursor.execute(sql, [*params, account_id])
        return
    if safety is not None:
        if new_columns:  # the live rows have values the snapshot has no column for
            live_copy(cursor, table, account_id, safety.full(table.name, table.columns))
            safety = None
        else:
            safety.delta(table.name, common)
    if not applies and safety is None:
        return  # copied whole above: nothing to compare (the reader skips the rest)
    diff = _differences(
        cursor, table, common, blocks, account_id, kind, applies=applies, safety=safety
    )
    if not applies:
        diff.close()
        return
    try:
        deleted = _delete_ids(cursor, table, diff.deletes, account_id, logged)
        if kind == RestoreKind.RECOVER:
            applied.counts[table.name] = {"inserted": 0}
            applied.links_nulled[table.name] = {}
        else:
            applied.counts[table.name] = {"deleted": deleted, "updated": 0, "inserted": 0}
            if kind == RestoreKind.ENTITIES:
                applied.links_nulled[table.name] = {}
        if not diff.written:
            return
        stage = quote(f"stg_{table.name}")
        cursor.execute(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS "  # noqa: S608 - model names
            f"SELECT {columns} FROM {name} WITH NO DATA"
        )
        diff.writes.seek(0)
        cursor.copy_expert(f"COPY {stage} ({columns}) FROM STDIN", diff.writes, COPY_CHUNK)
        cursor.execute(f"ANALYZE {stage}")  # no statistics otherwise: joins planned blind
        _write_staged(
            cursor, table, common, account_id, kind, applied, new_columns, new_values, logged
        )
        cursor.execute(f"DROP TABLE {stage}")
    finally:
        diff.close()


def live_copy(cursor: CursorWrapper, table: Table, account_id: int, out: IO[bytes]) -> None:
    """The account's live rows of ``table``, every column, in id order, COPYed into ``out``."""
    columns = ", ".join(f"x.{quote(c)}" for c in table.columns)
    sql = cursor.mogrify(
        f"SELECT {columns} FROM {quote(table.name)} x WHERE {_ours(table, 'x')} "  # noqa: S608
        "ORDER BY x.id",
        [int(account_id)],
    ).decode()
    cursor.copy_expert(f"COPY ({sql}) TO STDOUT", out, COPY_CHUNK)


def _has_live(cursor: CursorWrapper, table: Table, account_id: int) -> bool:
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {quote(table.name)} x WHERE {_ours(table, 'x')})",  # noqa: S608
        [account_id],
    )
    return cursor.fetchone()[0]


def _delete_ids(
    cursor: CursorWrapper,
    table: Table,
    ids: "array[int]",
    account_id: int,
    logged: "_Logged | None",
) -> int:
    deleted = 0
    for start in range(0, len(ids), DELETE_CHUNK):
        sql = (
            f"DELETE FROM {quote(table.name)} x WHERE {_ours(table, 'x')} "  # noqa: S608
            "AND x.id = ANY(%s)"
        )
        params: list[Any] = [account_id, ids[start : start + DELETE_CHUNK].tolist()]
        if logged is not None:  # each deleted row's event, with its last image
            events, event_params = logged.insert(
                source="gone x",
                title=logged.title("x"),
                changes=logged.image("x", gone=True),
                action=f"'{REMOVED}'",
                before=state_sql("x.bin_entry_id"),
                after=f"'{GONE}'",
            )
            sql = f"WITH gone AS ({sql} RETURNING x.*) {events}"
            params += event_params
        cursor.execute(sql, params)
        deleted += cursor.rowcount
    return deleted


@dataclass
class _Logged:
    """The per-record events of one CRM table's restore (backups.restore.record_log)."""

    log: RecordLog
    entity: Entity
    common: list[str]

    def insert(self, **parts: str) -> tuple[str, list[Any]]:
        return insert_events_sql(log=self.log, entity=self.entity, **parts)

    def title(self, alias: str) -> str:
        return title_sql(self.entity, self.common, alias)

    def image(self, alias: str, *, gone: bool) -> str:
        return image_sql(self.entity, self.common, alias, gone=gone)

    def diff(self, before: str, after: dict[str, str]) -> str:
        return diff_sql(self.entity, self.common, before, after)


def _write_staged(
    cursor: CursorWrapper,
    table: Table,
    common: list[str],
    account_id: int,
    kind: RestoreKind,
    applied: Applied,
    new_columns: list[str],
    new_values: list[Any],
    logged: _Logged | None = None,
) -> None:
    """Write the staged rows ``s`` (the snapshot's rows that differ from the live ones or are
    missing): update the account's rows of the same id (not ``recover``), insert those whose id
    does not exist. ``entities``/``recover``: a link to a row that does not exist now becomes
    NULL, a row that needs one (a hidden link's entry, an activity's only parent) is skipped;
    both counted."""
    name, stage = quote(table.name), quote(f"stg_{table.name}")
    checked = kind != RestoreKind.FULL
    if checked:
        values, keep = _link_sql(table, common)
    else:
        values, keep = {c: f"s.{quote(c)}" for c in common}, []
    missing = f"NOT EXISTS (SELECT 1 FROM {name} x WHERE x.id = s.id)"  # noqa: S608
    if kind == RestoreKind.RECOVER:
        keep = [missing, *keep]
        owner_gone = entry_owner_gone_sql(table, "s")
        if owner_gone is not None:
            keep.append(owner_gone)
    kept = " AND ".join(keep) or "TRUE"
    if checked:
        # What will be skipped and which links become NULL, counted in one pass.
        required = " AND ".join(k for k in keep if k != missing) or "TRUE"
        nullable = [(c, t) for c, t, null in links(table, common) if null]
        counts_sql = ", ".join(
            [
                f"count(*) FILTER (WHERE NOT ({required}))",
                *(
                    f"count(*) FILTER (WHERE s.{quote(c)} IS NOT NULL AND NOT {_exists(c, t)} "
                    f"AND {required})"
                    for c, t in nullable
                ),
            ]
        )
        scope = missing if kind == RestoreKind.RECOVER else "TRUE"
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
    if kind != RestoreKind.RECOVER and rest:
        sets = ", ".join(f"{quote(c)} = {values[c]}" for c in rest)
        live = ", ".join(f"x.{quote(c)}" for c in common)
        changed = (
            f"{stage} s JOIN {name} x ON x.id = s.id "  # noqa: S608
            f"WHERE {_ours(table, 'x')} AND {kept} "
            f"AND ROW({live})::text IS DISTINCT FROM ROW({snap})::text"
        )
        if logged is not None:  # first the events, from the rows as they are before
            binned = values["bin_entry_id"]
            sql, params = logged.insert(
                source=changed,
                title=logged.title("s"),
                changes=logged.diff("x", values),
                action=(
                    f"CASE WHEN x.bin_entry_id IS NOT NULL AND {binned} IS NULL "
                    f"THEN '{BROUGHT_BACK}' WHEN x.bin_entry_id IS NULL AND {binned} IS NOT NULL "
                    f"THEN '{REMOVED}' ELSE '{REVERTED}' END"
                ),
                before=state_sql("x.bin_entry_id"),
                after=state_sql(binned),
            )
            cursor.execute(sql, [*params, account_id])
        cursor.execute(
            f"UPDATE {name} x SET {sets} FROM {stage} s "  # noqa: S608
            f"WHERE x.id = s.id AND {_ours(table, 'x')} AND {kept} "
            f"AND ROW({live})::text IS DISTINCT FROM ROW({snap})::text",
            [account_id],
        )
        counts["updated"] = cursor.rowcount
    insert = (
        f"INSERT INTO {name} "  # noqa: S608
        f"({', '.join(quote(c) for c in [*common, *new_columns])}) "
        f"SELECT {', '.join([snap, *('%s' for _v in new_values)])} FROM {stage} s "
        f"WHERE {kept}{'' if kind == RestoreKind.RECOVER else f' AND {missing}'}"
    )
    params = list(new_values)
    if logged is not None:  # each row brought back gets its event
        events, event_params = logged.insert(
            source="back x",
            title=logged.title("x"),
            changes="'{}'::jsonb",
            action=f"'{BROUGHT_BACK}'",
            before=f"'{GONE}'",
            after=state_sql("x.bin_entry_id"),
        )
        insert = f"WITH back AS ({insert} RETURNING *) {events}"
        params += event_params
    cursor.execute(insert, params)
    counts["inserted"] = cursor.rowcount


def _sequence_past_max(cursor: CursorWrapper, table: Table) -> None:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
    sequence = cursor.fetchone()[0]
    if not sequence:
        return
    cursor.execute(
        f"SELECT setval(%s, m) FROM (SELECT max(id) AS m FROM {quote(table.name)}) t, "  # noqa: S608
        f"{sequence} q WHERE m > q.last_value",
        [sequence],
    )
