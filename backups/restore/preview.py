"""The preview of a restore: what it would do now, per entity type, changing nothing, and the
records behind each number (sampled by id, keyset-paged). PostgreSQL compares them with the
restore's own windowed diff (backups.restore.postgresql.window_diffs: the live rows COPYed out
window by window of ids, only what differs kept), so the preview costs what the restore's
comparison costs and no more; SQLite merges both by id in one pass."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from backups.delta import snapshot_reader
from backups.kinds import RestoreKind
from backups.models import Snapshot
from backups.restore.columns import canonical, common_columns, row_id
from backups.restore.outcome import RestoreRefused
from backups.restore.postgresql import WindowDiff, id_reader, section_blocks, window_diffs
from backups.restore.scope import ENTITY_TABLES, restore_kind, tables_for
from backups.services import snapshot_drill_require
from backups.snapshot_format import TABLES, TABLES_BY_NAME, SnapshotInvalid, Table
from backups.snapshot_reading import Section, copy_fields
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
    # For ``reverted``: the fields that differ, ``(label, now, back to)`` as text, so the
    # preview says what goes back (Amount: 99999.00 -> 2300.00).
    changes: tuple[tuple[str, str | None, str | None], ...] = ()

    def __str__(self) -> str:
        return self.title


# Bookkeeping columns a preview does not list as a change of a record.
UNLISTED_COLUMNS = frozenset({"id", "account_id", "bin_entry_id", "created_at", "updated_at"})


def field_changes(
    table: Table, common: list[str], now: Sequence[Any], then: Sequence[Any]
) -> tuple[tuple[str, str | None, str | None], ...]:
    """The columns where a live row (``now``) and the snapshot's (``then``), both as COPY text
    values in ``common``'s order, differ: ``(the field's label, now, then)``."""
    labels = {field.column: str(field.verbose_name) for field in table.fields}
    return tuple(
        (capfirst(labels.get(column, column)), now[at], then[at])
        for at, column in enumerate(common)
        if column not in UNLISTED_COLUMNS and now[at] != then[at]
    )


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
        with snapshot_reader(snapshot) as reader:
            if connection.vendor == "postgresql":
                with transaction.atomic(), connection.cursor() as cursor:
                    for section in reader.sections():
                        if section.table in tables:
                            table = TABLES_BY_NAME[section.table]
                            result[table.name] = _preview_postgresql(
                                cursor,
                                table,
                                section,
                                snapshot.account_id,
                                kind=kind,
                                sampling=sampling,
                            )
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


def _preview_postgresql(
    cursor: CursorWrapper,
    table: Table,
    section: Section,
    account_id: int,
    *,
    kind: RestoreKind,
    sampling: Sampling | None,
) -> dict[str, Any]:
    """Counts (and samples) from the windows where the snapshot and the live rows differ: a
    snapshot row not live as it is was changed (``reverted``), or is gone or in the bin now
    (``restored``); a live row not in the snapshot as it is and not changed is ``removed``.
    ``recover`` compares ids only: what is gone."""
    common = common_columns(table, section.columns)
    blocks = section_blocks(section, common)
    id_of = id_reader(common.index("id"))
    bin_at = common.index("bin_entry_id")
    counts: dict[str, Any] = {"removed": 0, "restored": 0, "reverted": 0, "binned": 0}
    samples = _Samples(table, common, sampling) if sampling else None
    recover = kind == RestoreKind.RECOVER
    for window in window_diffs(cursor, table, common, blocks, account_id, ids_only=recover):
        found = _classified(window, id_of, bin_at, recover=recover)
        counts["binned"] += len(found.pop("binned"))
        for bucket, rows in found.items():
            counts[bucket] += len(rows)
            if samples is not None:
                samples.take(bucket, rows)
    if samples is not None:
        counts["samples"] = samples.records
    return counts


def _classified(
    window: WindowDiff, id_of: Callable[[bytes], bytes], bin_at: int, *, recover: bool
) -> dict[str, list[tuple[Any, ...]]]:
    """A window's differing rows by bucket, ``(id, line)``, the line a title is read from
    (the live row's, or the snapshot's for a record that comes back); ``reverted`` rows carry
    the snapshot's line too (``(id, live, snapshot)``). ``binned``: in the bin now, not then
    (also in ``restored``, except for ``recover``)."""
    found: dict[str, list[tuple[Any, ...]]] = {
        "removed": [],
        "restored": [],
        "reverted": [],
        "binned": [],
    }
    if recover:
        found["restored"] = [(int(id_of(line)), line) for line in window.snap_only]
        return found
    live = {id_of(line): line for line in window.live_only}
    for line in window.snap_only:
        key = id_of(line)
        now = live.pop(key, None)
        if now is None:
            found["restored"].append((int(key), line))
        elif now.split(b"\t")[bin_at] != b"\\N" and line.split(b"\t")[bin_at] == b"\\N":
            found["restored"].append((int(key), line))
            found["binned"].append((int(key), line))
        else:
            found["reverted"].append((int(key), now, line))
    found["removed"] = [(int(key), line) for key, line in live.items()]
    return found


class _Samples:
    """The first ``sampling.size`` records of each bucket after ``sampling.after``, by id,
    from windows that come in id order."""

    def __init__(self, table: Table, common: list[str], sampling: Sampling) -> None:
        self.table = table
        self.sampling = sampling
        self.records: dict[str, list[PreviewRecord]] = {b: [] for b in sampling.buckets}
        self.common = common
        self.title_at = [
            common.index(c) if c in common else None for c in TITLE_COLUMNS[table.name]
        ]

    def take(self, bucket: str, rows: list[tuple[Any, ...]]) -> None:
        records = self.records.get(bucket)
        if records is None or len(records) >= self.sampling.size:
            return
        for record_id, line, *then in sorted(r for r in rows if r[0] > self.sampling.after):
            fields = copy_fields(line)
            values = [None if at is None else fields[at] for at in self.title_at]
            changes = (
                field_changes(self.table, self.common, fields, copy_fields(then[0])) if then else ()
            )
            records.append(
                PreviewRecord(id=record_id, title=_title(self.table, values), changes=changes)
            )
            if len(records) >= self.sampling.size:
                return


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
                    take("reverted", row_id(live, id_at), live, snap)
            live, snap = next(live_rows, None), next(snap_rows, None)
    if sampling:
        counts["samples"] = samples
    return counts


def _sampler(
    table: Table, common: list[str], kind: RestoreKind, sampling: Sampling
) -> tuple[dict[str, list[PreviewRecord]], Callable[..., None]]:
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

    def take(bucket: str, record_id: int, row: list[Any], then: list[Any] | None = None) -> None:
        records = filled.get(bucket)
        if records is not None and record_id > sampling.after and len(records) < sampling.size:
            values = [None if at is None else row[at] for at in title_at]
            changes = field_changes(table, common, row, then) if then is not None else ()
            records.append(
                PreviewRecord(id=record_id, title=_title(table, values), changes=changes)
            )

    return samples, take
