"""The preview of a restore: what it would do now, per entity type, changing nothing, and the
records behind each number (sampled by id, keyset-paged). PostgreSQL compares the snapshot's
rows staged in TEMP tables with the live ones in SQL; SQLite merges both by id in one pass."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils.translation import gettext as _

from backups.kinds import RestoreKind
from backups.models import Snapshot
from backups.restore.columns import canonical, common_columns, quote, row_id
from backups.restore.outcome import RestoreRefused
from backups.restore.postgresql import sections_stage
from backups.restore.scope import ENTITY_TABLES, restore_kind, tables_for
from backups.services import snapshot_drill_require
from backups.snapshot_format import (
    TABLES,
    TABLES_BY_NAME,
    Section,
    SnapshotInvalid,
    SnapshotReader,
    Table,
    copy_fields,
)
from backups.storage import snapshot_storage
from crm.entities import ENTITIES

BUCKETS = ("removed", "restored", "reverted")
# The columns a record's title is made of (its model's ``title_text``), per entity table.
TITLE_COLUMNS: dict[str, tuple[str, ...]] = {
    entity.table: entity.title_columns for entity in ENTITIES.values()
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
    kind: RestoreKind | str,
    entity_types: list[str] | None = None,
    sampling: Sampling | None = None,
) -> dict[str, dict[str, Any]]:
    """What a restore of ``kind`` would do now, per entity type, changing nothing:
    ``removed`` (exists now, not in the snapshot), ``restored`` (in the snapshot, gone or in
    the bin now), ``reverted`` (in both, different now). ``recover`` only restores rows that
    are gone. Raises RestoreRefused like the restore.

    With ``sampling`` (size above 0) each entity type's numbers also carry ``samples``:
    ``{bucket: [PreviewRecord, ...]}`` for the buckets it asks, the records counted there,
    by id. Without it only counting queries run."""
    kind = restore_kind(kind)
    tables = tables_for(kind=kind, entity_types=entity_types) & set(ENTITY_TABLES.values())
    if sampling is not None and not sampling.size:
        sampling = None
    if sampling is not None and sampling.entity_type is not None:
        tables &= {ENTITY_TABLES[sampling.entity_type]}
    if snapshot.status != Snapshot.Status.SUCCEEDED or not snapshot.storage_name:
        raise RestoreRefused(_("Only a finished snapshot can be restored."))
    try:
        snapshot_drill_require(snapshot=snapshot)
    except SnapshotInvalid as error:
        raise RestoreRefused(error.message) from error
    result: dict[str, dict[str, Any]] = {}
    try:
        with snapshot_storage().open(snapshot.storage_name, "rb") as fileobj:
            reader = SnapshotReader(
                fileobj, account_id=snapshot.account_id, checksum=snapshot.checksum
            )
            if connection.vendor == "postgresql":
                with transaction.atomic(), connection.cursor() as cursor:
                    staged = sections_stage(cursor=cursor, reader=reader, tables=tables)
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
    if kind == RestoreKind.RECOVER:
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
        "name": quote(table.name),
        "stage": quote(f"stg_{table.name}"),
        "live": ", ".join(f"x.{quote(c)}" for c in common),
        "snap": ", ".join(f"s.{quote(c)}" for c in common),
        "binned": "(x.bin_entry_id IS NOT NULL AND s.bin_entry_id IS NULL)",
    }


def _preview_postgresql(
    cursor: CursorWrapper,
    table: Table,
    common: list[str],
    account_id: int,
    *,
    kind: RestoreKind,
    sampling: Sampling | None,
) -> dict[str, Any]:
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
    counts: dict[str, Any] = {
        "removed": removed,
        "restored": gone + binned_count,
        "reverted": reverted,
        "binned": binned_count,
    }
    if sampling is not None:
        counted = {
            "removed": removed,
            "restored": gone if kind == RestoreKind.RECOVER else gone + binned_count,
            "reverted": reverted,
        }
        counts["samples"] = _samples_postgresql(
            cursor, table, common, account_id, kind=kind, sampling=sampling, counted=counted
        )
    return counts


def _samples_postgresql(
    cursor: CursorWrapper,
    table: Table,
    common: list[str],
    account_id: int,
    *,
    kind: RestoreKind,
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
    live_title = ", ".join(f"x.{quote(c)}" for c in titles)
    # A title column the (older) snapshot lacks is empty.
    snap_title = ", ".join(f"s.{quote(c)}" if c in common else "NULL" for c in titles)
    restored = "x.id IS NULL"
    if kind != RestoreKind.RECOVER:
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
        if kind == RestoreKind.RECOVER and bucket != "restored":
            continue  # recover removes and reverts nothing
        if not counted[bucket]:
            continue
        cursor.execute(queries[bucket], params)
        samples[bucket] = [
            PreviewRecord(id=row[0], title=_title(table, row[1:])) for row in cursor.fetchall()
        ]
    return samples


def _title(table: Table, values: Sequence[Any]) -> str:
    """A record's title from its TITLE_COLUMNS values, as the CRM shows it (the model's own
    ``title_text``; a missing value counts as empty)."""
    fields = dict(zip(TITLE_COLUMNS[table.name], values, strict=True))
    return str(table.model(**{k: v or "" for k, v in fields.items()}))


def _preview_sqlite(
    table: Table, section: Section, account_id: int, *, kind: RestoreKind, sampling: Sampling | None
) -> dict[str, Any]:
    """Counts (and samples) in one merge of the snapshot's rows and the live ones, by id."""
    common = common_columns(table, section.columns)
    by_column = {f.column: f for f in table.fields}
    positions = [section.columns.index(c) for c in common]
    id_at, bin_at = common.index("id"), common.index("bin_entry_id")
    attnames = [by_column[c].attname for c in common]
    live_rows = (
        canonical(row)
        for row in table.queryset(account_id)
        .order_by("pk")
        .values_list(*attnames)
        .iterator(chunk_size=2000)
    )
    snap_rows = ([values[p] for p in positions] for values in map(copy_fields, section.lines()))
    counts: dict[str, Any] = {"removed": 0, "restored": 0, "reverted": 0, "binned": 0}
    samples, take = _sampler(table, common, kind, sampling) if sampling else ({}, None)
    live, snap = next(live_rows, None), next(snap_rows, None)
    while live is not None or snap is not None:
        if live is not None and (snap is None or row_id(live, id_at) < row_id(snap, id_at)):
            counts["removed"] += 1
            if take:
                take("removed", row_id(live, id_at), live)
            live = next(live_rows, None)
        elif snap is not None and (live is None or row_id(snap, id_at) < row_id(live, id_at)):
            counts["restored"] += 1
            if take:
                take("restored", row_id(snap, id_at), snap)
            snap = next(snap_rows, None)
        elif live is not None and snap is not None:  # the same id in both
            if live[bin_at] is not None and snap[bin_at] is None:
                counts["restored"] += 1
                counts["binned"] += 1
                if take and kind != RestoreKind.RECOVER:  # recover only restores what is gone
                    take("restored", row_id(snap, id_at), snap)
            elif live != snap:
                counts["reverted"] += 1
                if take:
                    take("reverted", row_id(live, id_at), live)
            live, snap = next(live_rows, None), next(snap_rows, None)
    if sampling:
        counts["samples"] = samples
    return counts


def _sampler(
    table: Table, common: list[str], kind: RestoreKind, sampling: Sampling
) -> tuple[dict[str, list[PreviewRecord]], Callable[[str, int, list[Any]], None]]:
    """The samples of _preview_sqlite's buckets, and ``take(bucket, id, row)`` that the merge
    calls for every record it counts (rows in id order: the first ones after
    ``sampling.after`` are kept)."""
    samples: dict[str, list[PreviewRecord]] = {bucket: [] for bucket in sampling.buckets}
    filled = {
        bucket: records
        for bucket, records in samples.items()
        if kind != RestoreKind.RECOVER
        or bucket == "restored"  # recover removes and reverts nothing
    }
    title_at = [common.index(c) if c in common else None for c in TITLE_COLUMNS[table.name]]

    def take(bucket: str, record_id: int, row: list[Any]) -> None:
        records = filled.get(bucket)
        if records is not None and record_id > sampling.after and len(records) < sampling.size:
            values = [None if at is None else row[at] for at in title_at]
            records.append(PreviewRecord(id=record_id, title=_title(table, values)))

    return samples, take
