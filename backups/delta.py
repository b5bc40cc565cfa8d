"""Delta snapshots: an account's data as another snapshot (its ``base``) plus what differs.

The safety copy a restore takes first (``pre_restore``) is written this way on PostgreSQL: the
restore already compares every row of the account with the snapshot it restores (the windowed
diff of backups.restore.postgresql), so the rows that differ are exactly what the copy needs;
writing them costs in proportion to the change, not to the account (DESIGN.md, "Restore
drills"; PERFORMANCE.md, "Restore").

The file is a snapshot file (backups.snapshot_format) of format version 2: its header names the
base (``{"snapshot": id, "checksum": ...}``) and the account's rows per table (``counts``); each
section has a ``mode``:

- ``delta``: lines in id order, ``+`` and a COPY line (the row as it was: it replaces the base's
  row of that id, or is added), or ``-`` and an id (the base's row of that id was not there).
  The section's columns are the base's that the table had, in the base's order.
- ``full``: the table's rows whole, as in a plain snapshot (a table the base lacks, or one that
  has columns the base lacks).

``snapshot_reader`` opens any snapshot, plain or delta, and reads a delta merged with its base,
section by section in id order, as if it were plain: the restore, the drills, the export and
``snapshot_verify`` read every snapshot through it. The base is kept as long as a delta needs
it (its ``expires_at`` is pushed to the delta's, and the row is protected)."""

import io
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, BinaryIO, Protocol, cast

import zstandard
from django.utils.translation import gettext as _

from backups.models import Snapshot
from backups.snapshot_format import (
    COMPRESSION_LEVEL,
    END_OF_SECTION,
    JOB_BYTES,
    MAGIC,
    TABLES,
    SnapshotInvalid,
    _HashingSink,
    _json_line,
)
from backups.snapshot_reading import Section, SnapshotReader
from backups.storage import snapshot_storage

DELTA_VERSION = 2
SPOOL_BYTES = 4 << 20


class Reader(Protocol):
    header: dict

    @property
    def counts(self) -> dict[str, int]: ...

    def sections(self) -> Iterator[Section]: ...


@contextmanager
def snapshot_reader(snapshot: Snapshot, *, checked: bool = True) -> Iterator[Reader]:
    """The snapshot's file read back (a delta merged with its base), refusing one that does not
    verify (SnapshotInvalid; FileNotFoundError for a missing file). ``checked``: the file's
    checksum is compared with the row's first (every base's always is)."""
    with ExitStack() as stack:
        fileobj = stack.enter_context(snapshot_storage().open(snapshot.storage_name, "rb"))
        reader = SnapshotReader(
            fileobj,
            account_id=snapshot.account_id,
            checksum=snapshot.checksum if checked else None,
        )
        named = reader.header.get("base")
        if named is None:
            yield reader
            return
        base = Snapshot.objects.filter(
            pk=named.get("snapshot"), account_id=snapshot.account_id
        ).first()
        if base is None or base.checksum != named.get("checksum") or not base.storage_name:
            raise SnapshotInvalid(
                _("The snapshot this safety copy builds on (#%(id)s) is gone or changed.")
                % {"id": named.get("snapshot")}
            )
        yield MergedReader(reader, stack.enter_context(snapshot_reader(base)))


class MergedReader:
    """A delta file's sections merged with its base's, read as one plain snapshot."""

    def __init__(self, delta: SnapshotReader, base: Reader) -> None:
        self.delta = delta
        self.base = base
        counts = delta.header.get("counts", {})
        self.header = {
            **delta.header,
            "tables": [
                {"name": t["name"], "columns": t["columns"], "rows": counts.get(t["name"], 0)}
                for t in delta.header["tables"]
            ],
        }

    @property
    def counts(self) -> dict[str, int]:
        return {t["name"]: t["rows"] for t in self.header["tables"]}

    def sections(self) -> Iterator[Section]:
        modes = {t["name"]: t.get("mode", "full") for t in self.delta.header["tables"]}
        counts = self.counts
        base_sections = self.base.sections()
        for section in self.delta.sections():
            blocks = None
            if modes[section.table] == "full":
                lines, blocks = section.lines, section.blocks
            else:
                base = next((s for s in base_sections if s.table == section.table), None)
                if base is None:
                    raise SnapshotInvalid(
                        _("The snapshot file is damaged (table %(table)s is not where expected).")
                        % {"table": section.table}
                    )
                lines = _merging(base, section)
            yield Section(section.table, section.columns, counts[section.table], lines, blocks)
        for _rest in base_sections:  # the base is read to its end: its trailer is checked
            pass


def _merging(base: Section, delta: Section) -> Any:
    def lines() -> Iterator[bytes]:
        return merged_lines(base.lines(), base.columns, delta.lines(), delta.columns)

    return lines


def merged_lines(
    base: Iterable[bytes],
    base_columns: list[str],
    delta: Iterable[bytes],
    columns: list[str],
) -> Iterator[bytes]:
    """The base's COPY lines (cut to ``columns``) with the delta's ``+``/``-`` lines applied,
    in id order; both inputs are in id order."""
    base_id = _id_reader(base_columns.index("id"))
    positions = [base_columns.index(c) for c in columns]
    projected = positions != list(range(len(base_columns)))
    base_iter = iter(base)
    changes = iter(delta)
    change = next(changes, None)
    change_id = _change_id(change, columns) if change is not None else 0
    for line in base_iter:
        if change is None:
            yield _project(line, positions) if projected else line
            for rest in base_iter:
                yield _project(rest, positions) if projected else rest
            return
        row_id = base_id(line)
        while change is not None and change_id < row_id:  # rows the base lacks
            if change[:1] != b"+":
                raise SnapshotInvalid(_("The snapshot file is damaged (a delta removes no row)."))
            yield change[1:]
            change = next(changes, None)
            change_id = _change_id(change, columns) if change is not None else 0
        if change is not None and change_id == row_id:
            if change[:1] == b"+":
                yield change[1:]
            change = next(changes, None)
            change_id = _change_id(change, columns) if change is not None else 0
            continue
        yield _project(line, positions) if projected else line
    while change is not None:
        if change[:1] != b"+":
            raise SnapshotInvalid(_("The snapshot file is damaged (a delta removes no row)."))
        yield change[1:]
        change = next(changes, None)


def _id_reader(at: int) -> Any:
    if at == 0:
        return lambda line: int(line.partition(b"\t")[0])
    return lambda line: int(line.split(b"\t")[at])


def _change_id(change: bytes, columns: list[str]) -> int:
    if change[:1] == b"-":
        return int(change[1:])
    at = columns.index("id")
    return int(change[1:].split(b"\t", at + 1)[at])


def _project(line: bytes, positions: list[int]) -> bytes:
    fields = line.rstrip(b"\n").split(b"\t")
    return b"\t".join([fields[p] for p in positions]) + b"\n"


# --- Writing ----------------------------------------------------------------------------------


@dataclass
class _Part:
    mode: str
    columns: list[str]
    spool: IO[bytes] = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115
    )  # closed by DeltaWriter.close()
    lines: int = 0


class DeltaWriter:
    """Collects a delta's sections while the restore compares (``full``/``window``), then
    writes the file (``write``): sections are spooled first, as the header counts their lines
    before any of them."""

    def __init__(self, *, base: Snapshot) -> None:
        self.base = base
        self.parts: dict[str, _Part] = {}

    def full(self, table: str, columns: list[str]) -> IO[bytes]:
        """Where the table's rows go whole (COPY text): the spool of a ``full`` section."""
        part = self.parts[table] = _Part("full", columns)
        return part.spool

    def delta(self, table: str, columns: list[str]) -> None:
        self.parts[table] = _Part("delta", columns)

    def window(self, table: str, changed: Iterable[tuple[int, bytes]]) -> None:
        """One window's differences, ``(id, line)``: a ``+`` line (the live row) or ``-``
        (only the id); written in id order (windows come in id order)."""
        part = self.parts[table]
        for _id, line in sorted(changed, key=lambda pair: pair[0]):
            part.spool.write(line)
            part.lines += 1

    def close(self) -> None:
        for part in self.parts.values():
            part.spool.close()

    def write(
        self,
        out: BinaryIO,
        *,
        account: dict[str, Any],
        taken_at: datetime,
        migration_state: dict[str, str],
        counts: dict[str, int],
    ) -> tuple[int, str]:
        """Write the file into ``out``; returns its size and SHA-256."""
        from backups import encryption  # imports snapshot_format, which this module imports

        for part in self.parts.values():  # a "full" spool was written by COPY: count its lines
            if part.mode == "full":
                part.spool.seek(0)
                part.lines = sum(chunk.count(b"\n") for chunk in _chunks(part.spool))
        sink = _HashingSink(out)
        header: dict[str, Any] = {
            "format_version": DELTA_VERSION,
            "account": account,
            "taken_at": taken_at.isoformat(),
            "migration_state": migration_state,
            "base": {"snapshot": self.base.pk, "checksum": self.base.checksum},
            "counts": counts,
            "tables": [
                {
                    "name": t.name,
                    "columns": self.parts[t.name].columns,
                    "rows": self.parts[t.name].lines,
                    "mode": self.parts[t.name].mode,
                }
                for t in TABLES
            ],
        }
        params = zstandard.ZstdCompressionParameters.from_level(
            COMPRESSION_LEVEL, threads=0, job_size=JOB_BYTES, write_checksum=True
        )
        compressor = zstandard.ZstdCompressor(compression_params=params)
        with (
            encryption.encrypting(cast(BinaryIO, sink)) as target,
            compressor.stream_writer(target, closefd=False) as stream,
        ):
            stream.write(MAGIC)
            stream.write(_json_line(header))
            for table in header["tables"]:
                part = self.parts[table["name"]]
                stream.write(
                    _json_line(
                        {"table": table["name"], "columns": part.columns, "rows": part.lines}
                    )
                )
                part.spool.seek(0)
                for chunk in _chunks(part.spool):
                    stream.write(chunk)
                stream.write(END_OF_SECTION)
            stream.write(_json_line({"end": True, "tables": len(TABLES)}))
        sink.flush()
        return sink.size, sink.sha256.hexdigest()


def _chunks(fileobj: IO[bytes]) -> Iterator[bytes]:
    while chunk := fileobj.read(io.DEFAULT_BUFFER_SIZE * 128):
        yield chunk
