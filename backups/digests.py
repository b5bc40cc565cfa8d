"""Row digests of a snapshot, for its drill (backups.drill): taken from the database inside the
snapshot's own transaction, and again from what the file holds, then compared. They prove the
file holds exactly the rows that were read, not only that its bytes match a checksum written
from those bytes.

A table's digest is ``"rows:sum"``: the row count and the sum of a 64-bit hash of each row, so
it does not depend on the order of the rows, and one changed, missing or extra row changes it
(two different sets of rows agree by chance with odds of about 2^-64).

- PostgreSQL (``METHOD_ROWS``): ``hash_record_extended(ROW(...), 0)``, the database's own hash of
  the typed values (no text formatting: 0.4 s per million rows, where the MD5 of the printed row
  took 2.1 s). The drill copies the file's rows back into a temporary table of the same column
  types, so PostgreSQL parses every value again, and runs the same aggregate.
- SQLite (``METHOD_LINES``): the MD5 of the row's COPY text line, from a second read of the
  rows (not the one that wrote the file), against the file's lines.
"""

import hashlib
from collections.abc import Iterable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from backups.snapshot_format import TABLES, Table, _copy_text
from backups.snapshot_reading import Section, copy_in
from recyclebin.models import BinEntry

METHOD_ROWS = "postgresql-record-hash"
METHOD_LINES = "copy-line-md5"
EMPTY = "0:0"
COPY_BLOCK = 1 << 20  # the file's lines handed to COPY this much at a time


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _aggregate_sql(source: str, columns: Iterable[str]) -> str:
    record = ", ".join(columns)
    return (
        "SELECT count(*)::text || ':' || coalesce(sum(hash_record_extended(ROW("  # noqa: S608
        f"{record}), 0)), 0)::text FROM {source}"
    )


def _table_sql(table: Table) -> str:
    """The digest of the account's rows of ``table`` (one ``%s``: the account id)."""
    if table.via_entry:
        columns = [f"r.{_quote(c)}" for c in table.columns]
        source = (
            f"{_quote(table.name)} r JOIN {_quote(BinEntry._meta.db_table)} e "
            "ON e.id = r.entry_id WHERE e.account_id = %s"
        )
        return _aggregate_sql(source, columns)
    columns = [_quote(c) for c in table.columns]
    return _aggregate_sql(f"{_quote(table.name)} WHERE account_id = %s", columns)


def line_digest(lines: Iterable[bytes]) -> str:
    rows = total = 0
    for line in lines:
        rows += 1
        total += int(hashlib.md5(line, usedforsecurity=False).hexdigest()[:16], 16)
    return f"{rows}:{total}"


def database_digests(
    cursor: Any, connection: BaseDatabaseWrapper, account_id: int, counts: dict[str, int]
) -> dict:
    """The digests of every table, read inside the snapshot's transaction (``cursor``)."""
    tables = {table.name: EMPTY for table in TABLES}
    present = [table for table in TABLES if counts[table.name]]
    if connection.vendor == "postgresql":
        if present:  # one round trip for all tables
            selects = ", ".join(f"({_table_sql(table)})" for table in present)
            cursor.execute(f"SELECT {selects}", [account_id] * len(present))  # noqa: S608
            tables.update(zip((t.name for t in present), cursor.fetchone(), strict=True))
        return {"method": METHOD_ROWS, "tables": tables}
    for table in present:
        attnames = [f.attname for f in table.fields]
        rows = table.queryset(account_id).order_by("id").values_list(*attnames)
        tables[table.name] = line_digest(
            ("\t".join(map(_copy_text, row)) + "\n").encode()
            for row in rows.iterator(chunk_size=2000)
        )
    return {"method": METHOD_LINES, "tables": tables}


def section_digest(section: Section, *, method: str, connection: BaseDatabaseWrapper) -> str:
    """The digest of what one section of the file holds, computed as ``method`` says."""
    if method == METHOD_LINES:
        return line_digest(section.lines())
    if connection.vendor != "postgresql":
        raise ValueError(f"a {method} digest needs PostgreSQL")
    name = "drill_rows"
    columns = [_quote(column) for column in section.columns]
    table = _quote(section.table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        # The live table's column types (no rows): the file's values are parsed as they were.
        cursor.execute(
            f"CREATE TEMP TABLE {name} ON COMMIT DROP AS "  # noqa: S608 - names from the file's
            f"SELECT {', '.join(columns)} FROM {table} WITH NO DATA"  # header, quoted
        )
        copy_in(cursor, f"COPY {name} FROM STDIN", section.blocks(COPY_BLOCK), COPY_BLOCK)
        cursor.execute(_aggregate_sql(name, columns))
        (digest,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {name}")
    return digest
