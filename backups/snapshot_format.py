"""The snapshot file: one zstandard frame holding an account's CRM data at one instant.

Layout of the decompressed stream (UTF-8, one ``\\n``-terminated line per item)::

    CRMSNAPSHOT                         magic
    {header JSON}                       format_version, account {id, name}, taken_at,
                                        migration_state {app: latest applied migration},
                                        tables [{name, columns, rows}]
    then for every table, in the header's order:
    {"table": ..., "columns": [...], "rows": n}     the section header
    n lines of PostgreSQL COPY text                 tab-separated, \\N for NULL, backslash escapes
    \\.                                             end of the section (COPY's own end marker)
    {"end": true, "tables": k}                      trailer: a truncated file is detected

Integrity: the Snapshot row keeps the SHA-256 of the compressed file's bytes (``checksum``); the
reader checks it before reading anything, then the format version, the account, every section's
name and row count and the trailer. The zstandard frame also carries its own content checksum,
so a damaged file is caught even without the row.

Writing streams: PostgreSQL COPYs each table straight into a multi-threaded zstandard compressor
(compression runs beside the reading), SQLite reads 2,000-row chunks and writes the same COPY
text, so one reader serves both. Memory stays flat whatever the account's size.

Reading it back, with every check above: backups.snapshot_reading.

Consistency: PostgreSQL reads every table in one ``REPEATABLE READ, READ ONLY`` transaction;
SQLite in one deferred transaction (WAL: a reader sees one instant while writers carry on).
"""

import hashlib
import io
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

import zstandard
from django.db import connection as default_connection
from django.db import models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from accounts.models import Account
from crm.entities import ENTITIES
from recyclebin.models import BinEntry, HiddenLink

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1, 2})  # 2: a delta (backups.delta)
MAGIC = b"CRMSNAPSHOT\n"
END_OF_SECTION = b"\\.\n"
COMPRESSION_LEVEL = 3
CHUNK_BYTES = 1 << 20  # COPY rows are gathered into ~1 MB pieces for the compressor
JOB_BYTES = 1 << 20  # what each compression thread takes at a time
# Below this many rows the compressor runs in the calling thread (-1 threads: "auto"): a
# nightly snapshot of a small account took 0.6 ms just to start and stop the threads.
SINGLE_THREAD_ROWS = 20_000


class SnapshotInvalid(Exception):
    """A snapshot file that must not be used: damaged, another format, another account."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SnapshotWriteError(Exception):
    """Writing a snapshot went wrong (the data changed under a transaction that should have
    prevented it, or the database refused)."""


@dataclass(frozen=True)
class Table:
    """One table of an account's snapshot. ``via_entry``: rows belong to the account through
    their bin entry (hidden links have no account column)."""

    model: type[models.Model]
    entity_type: str | None = None
    via_entry: bool = False

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def fields(self) -> list[models.Field]:
        """The columns a snapshot holds: not those the database computes (a contact's search
        column), which a restore could not write and the other columns give back."""
        return [f for f in self.model._meta.concrete_fields if not f.generated]

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]

    def queryset(self, account_id: int) -> models.QuerySet:
        manager = self.model._base_manager
        if self.via_entry:
            return manager.filter(entry__account_id=account_id)
        return manager.filter(account_id=account_id)


# Parents before children, so a later restore can load them in this order: the bin entries
# (every record may name one), the CRM's entity types in the registry's order (parents first),
# the hidden links (they name an entry and records). Every file written so far has its sections
# in this order (crm/tests/test_entities_registry.py pins it).
TABLES: tuple[Table, ...] = (
    Table(BinEntry, entity_type="bin_entry"),
    *(Table(entity.model, entity_type=entity.type.value) for entity in ENTITIES.values()),
    Table(HiddenLink, via_entry=True),
)
TABLES_BY_NAME = {table.name: table for table in TABLES}


@dataclass
class WriteResult:
    taken_at: datetime
    counts: dict[str, int]
    migration_state: dict[str, str]
    size_bytes: int
    checksum: str
    format_version: int = FORMAT_VERSION
    # SHA-256 of what the file says, not of its bytes (see _content_hash_start): equal for an
    # account whose data did not change, so its file can be shared (backups.services).
    content_hash: str = ""
    # The rows' digests, read from the database in the snapshot's transaction (backups.digests):
    # the drill compares them with what the file holds.
    digests: dict = field(default_factory=dict)


def migration_state(connection=default_connection) -> dict[str, str]:
    """The latest applied migration of every app, as the database records it."""
    state: dict[str, str] = {}
    # One plain query (the recorder's applied_migrations() first introspects the table list:
    # most of a small account's snapshot time).
    table = connection.ops.quote_name(MigrationRecorder.Migration._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT app, name FROM {table}")  # noqa: S608 - Django's own table
        applied = cursor.fetchall()
    for app, name in applied:
        if name > state.get(app, ""):
            state[app] = name
    return dict(sorted(state.items()))


# --- Writing --------------------------------------------------------------------------------


class _HashingSink:
    """Where the compressor's output goes: the file, with its SHA-256 and size kept."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


class _SectionBuffer(io.RawIOBase):
    """Where a section's COPY text goes, in big pieces (see _section_writer): counted (rows)
    and handed to the compressor."""

    def __init__(self, out, content=None) -> None:
        super().__init__()
        self.out = out
        self.lines = 0
        self.content = content  # the snapshot's content hash, fed every COPY byte

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)  # the buffered writer hands a memoryview of its buffer
        self.lines += data.count(b"\n")
        if self.content is not None:
            self.content.update(data)
        self.out.write(data)
        return len(data)


def _content_hash_start(header: dict):
    """The content hash before the rows: everything of the header but the time it was taken,
    and the encryption key in use (a file written under an old key is never shared after a key
    rotation). The rows follow, section after section: the header's row counts mark where one
    table ends, so two different contents never feed the same bytes."""
    try:
        from backups.encryption import current_key_id
    except ImportError:  # pragma: no cover - before encryption exists
        key_id = ""
    else:
        key_id = current_key_id()
    content = hashlib.sha256()
    content.update(_json_line({"key_id": key_id}))
    content.update(_json_line({k: v for k, v in header.items() if k != "taken_at"}))
    return content


def _section_writer(section: _SectionBuffer) -> io.BufferedWriter:
    """A buffered (C) writer in front of ``section``: psycopg2 writes one row per call, so the
    per-row cost must be C's, and the compressor gets ~1 MB at a time."""
    return io.BufferedWriter(section, CHUNK_BYTES)


_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
)


def _copy_text(value) -> str:
    """A Python value as PostgreSQL's COPY text output writes it."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | Decimal | int):
        return value.isoformat() if isinstance(value, date) else str(value)
    return json.dumps(value).translate(_ESCAPES)


def _json_line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def after_section(table: Table) -> None:
    """Called between tables while the snapshot transaction is open (a hook for tests)."""


@contextmanager
def _consistent_point(connection):
    """One transaction in which every table is read at the same instant."""
    if connection.vendor == "postgresql":
        if connection.in_atomic_block:
            raise SnapshotWriteError(
                "A snapshot opens its own REPEATABLE READ transaction; "
                "do not take one inside another transaction."
            )
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor
        return
    if connection.in_atomic_block:  # SQLite inside a caller's transaction: that is the point
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            yield cursor
        return
    # SQLite on its own: a deferred transaction takes no write lock, so writers carry on (WAL).
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
        try:
            yield cursor
        finally:
            cursor.execute("COMMIT")  # read only: nothing to commit, just ends the snapshot


def _counts(cursor, connection, account_id: int) -> dict[str, int]:
    if connection.vendor == "postgresql":
        # Not a count over _select_sql: its ORDER BY would walk the primary key for nothing.
        # All tables in one query: one round trip, not seven (a small account's snapshot is
        # mostly round trips).
        counts_sql = ", ".join(f"({_select_sql(table, count=True)})" for table in TABLES)
        cursor.execute(f"SELECT {counts_sql}", [account_id] * len(TABLES))
        return dict(zip((t.name for t in TABLES), cursor.fetchone(), strict=True))
    return {table.name: table.queryset(account_id).count() for table in TABLES}


def _select_sql(table: Table, *, count: bool = False) -> str:
    """The account's rows of ``table`` by id (``count``: how many); names come from the models,
    never from input."""
    quote = default_connection.ops.quote_name
    if table.via_entry:
        entry = BinEntry._meta.db_table
        columns = "count(*)" if count else ", ".join(f"r.{quote(c)}" for c in table.columns)
        source = f"{quote(table.name)} r JOIN {quote(entry)} e ON e.id = r.entry_id"
        order = "" if count else " ORDER BY r.id"
        return f"SELECT {columns} FROM {source} WHERE e.account_id = %s{order}"  # noqa: S608
    columns = "count(*)" if count else ", ".join(quote(c) for c in table.columns)
    order = "" if count else " ORDER BY id"
    return f"SELECT {columns} FROM {quote(table.name)} WHERE account_id = %s{order}"  # noqa: S608


def _write_rows(cursor, connection, table: Table, account_id: int, out: BinaryIO) -> None:
    if connection.vendor == "postgresql":
        # COPY takes no parameters: the id is an int, formatted by psycopg2's own quoting.
        query = cursor.mogrify(_select_sql(table), [int(account_id)]).decode()
        # size positionally: Django's debug cursor wrapper takes no keywords
        cursor.copy_expert(f"COPY ({query}) TO STDOUT", out, CHUNK_BYTES)
        return
    attnames = [f.attname for f in table.fields]
    rows = table.queryset(account_id).order_by("id").values_list(*attnames)
    for row in rows.iterator(chunk_size=2000):
        out.write(("\t".join(map(_copy_text, row)) + "\n").encode())


def snapshot_write(
    *,
    account: Account,
    out: BinaryIO,
    connection=default_connection,
    threads: int = -1,
) -> WriteResult:
    """Write the account's snapshot into ``out`` (a binary file), streaming."""
    from backups import encryption  # imports this module's SnapshotInvalid
    from backups.digests import database_digests  # imports this module

    sink = _HashingSink(out)
    with _consistent_point(connection) as cursor:
        taken_at = timezone.now()
        counts = _counts(cursor, connection, account.pk)
        digests = database_digests(cursor, connection, account.pk, counts)
        if threads == -1 and sum(counts.values()) < SINGLE_THREAD_ROWS:
            threads = 0  # starting the threads would cost more than they save
        # Small jobs for the compressor's threads: its default (several MB each, times the
        # threads, in and out) made the process's memory grow with the account, no faster.
        params = zstandard.ZstdCompressionParameters.from_level(
            COMPRESSION_LEVEL, threads=threads, job_size=JOB_BYTES, write_checksum=True
        )
        compressor = zstandard.ZstdCompressor(compression_params=params)
        state = migration_state(connection)
        header = {
            "format_version": FORMAT_VERSION,
            "account": {"id": account.pk, "name": account.name},
            "taken_at": taken_at.isoformat(),
            "migration_state": state,
            "tables": [
                {"name": t.name, "columns": t.columns, "rows": counts[t.name]} for t in TABLES
            ],
        }
        content = _content_hash_start(header)
        with (
            encryption.encrypting(sink) as target,  # sink itself without SNAPSHOT_ENCRYPTION_KEY
            compressor.stream_writer(target, closefd=False) as stream,
        ):
            stream.write(MAGIC)
            stream.write(_json_line(header))
            for table in TABLES:
                stream.write(
                    _json_line(
                        {"table": table.name, "columns": table.columns, "rows": counts[table.name]}
                    )
                )
                section = _SectionBuffer(stream, content)
                writer = _section_writer(section)
                if counts[table.name]:  # none counted, none to copy: one round trip saved
                    _write_rows(cursor, connection, table, account.pk, writer)
                writer.flush()
                writer.detach()  # the section stays open: the compressor is the stream's
                if section.lines != counts[table.name]:
                    raise SnapshotWriteError(
                        f"{table.name}: counted {counts[table.name]} rows, copied {section.lines}"
                    )
                stream.write(END_OF_SECTION)
                after_section(table)
            stream.write(_json_line({"end": True, "tables": len(TABLES)}))
    sink.flush()
    return WriteResult(
        taken_at=taken_at,
        counts=counts,
        migration_state=state,
        size_bytes=sink.size,
        checksum=sink.sha256.hexdigest(),
        content_hash=content.hexdigest(),
        digests=digests,
    )
