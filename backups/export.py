"""A snapshot as a ZIP of CSV files, one per entity type (activities and bin entries included),
streamed from the snapshot file to the response: memory stays flat however big the account.

Each CSV is UTF-8 (with a byte-order mark, so spreadsheets recognise it), comma-separated, with a
header row of column names, ids and links (``company_id``...) as numbers, times in ISO 8601 with
offset, dates as ``YYYY-MM-DD``, amounts as plain decimals, booleans as ``true``/``false``, and an
empty cell for an empty value. Text starting with = + - @ (or a tab or CR) gets a leading
apostrophe, as in the history's CSV, so a spreadsheet shows it instead of running it.
``snapshot.json`` says what the files are."""

import csv
import json
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from accounts.models import User
from backups.delta import snapshot_reader
from backups.models import Snapshot
from backups.services import snapshot_verify
from core.csv import spreadsheet_safe
from crm.entities import ENTITIES
from history.models import EventType
from history.services import history_record
from recyclebin.models import BinEntry

# The CSV file of each exported table: the bin entries', and each entity type's (the registry's).
FILE_NAMES: dict[str, str] = {
    BinEntry._meta.db_table: "bin_entries.csv",
    **{entity.table: entity.export_file_name for entity in ENTITIES.values()},
}
CHUNK = 64 * 1024


class _Chunks:
    """A write-only file that hands what is written to the response in chunks."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self, *, at_least: int = 0) -> bytes:
        if self.size < at_least or not self.parts:
            return b""
        data = b"".join(self.parts)
        self.parts, self.size = [], 0
        return data


class _Lines:
    """What csv.writer writes, kept as text until the ZIP entry takes it."""

    def __init__(self) -> None:
        self.text: list[str] = []

    def write(self, text: str) -> None:
        self.text.append(text)

    def take(self) -> bytes:
        data = "".join(self.text).encode()
        self.text = []
        return data


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return spreadsheet_safe(value)  # text a person typed: never a formula
    return str(value)


def export_file_name(snapshot: Snapshot) -> str:
    return f"crm-snapshot-{snapshot.pk}-{snapshot.taken_at:%Y-%m-%d}.zip"


def export_check(snapshot: Snapshot) -> None:
    """Raise SnapshotInvalid before a response starts if the snapshot cannot be exported: the
    whole file is verified first, so a download never ends in a broken ZIP."""
    snapshot_verify(snapshot=snapshot)


def snapshot_export(*, snapshot: Snapshot, actor: User | None) -> Iterator[bytes]:
    """Verify the snapshot, write the ``export`` history event, and return the ZIP's stream.
    Raises SnapshotInvalid (nothing written) if the snapshot cannot be exported."""
    export_check(snapshot)
    history_record(
        account=snapshot.account,
        actor=actor,
        event_type=EventType.EXPORT,
        title=f"Snapshot #{snapshot.pk}",
        details={
            "snapshot": snapshot.pk,
            "kind": snapshot.kind,
            "taken_at": snapshot.taken_at.isoformat(),
        },
    )
    return export_stream(snapshot)


def export_stream(snapshot: Snapshot) -> Iterator[bytes]:
    """The ZIP, chunk by chunk (call export_check first). A file damaged since then stops the
    stream with SnapshotInvalid, and the ZIP is incomplete, unreadable as a whole."""
    out = _Chunks()
    with (
        snapshot_reader(snapshot) as reader,
        zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf,
    ):
        manifest = {
            "snapshot": snapshot.pk,
            "account": snapshot.account_id,
            "taken_at": snapshot.taken_at.isoformat(),
            "kind": snapshot.kind,
            "files": {},
        }
        for section in reader.sections():
            name = FILE_NAMES.get(section.table)
            if name is None:
                for _line in section.lines():  # read on: the checksum covers the whole file
                    pass
                continue
            manifest["files"][name] = {"table": section.table, "rows": section.rows_expected}
            with zf.open(name, mode="w", force_zip64=True) as entry:
                lines = _Lines()
                writer = csv.writer(lines, lineterminator="\r\n")
                entry.write("\ufeff".encode())
                writer.writerow(section.columns)
                for row in section.rows():
                    writer.writerow([cell(value) for value in row])
                    if len(lines.text) >= 500:
                        entry.write(lines.take())
                        if chunk := out.take(at_least=CHUNK):
                            yield chunk
                entry.write(lines.take())
            if chunk := out.take():
                yield chunk
        zf.writestr("snapshot.json", json.dumps(manifest, indent=2))
    if chunk := out.take():
        yield chunk
