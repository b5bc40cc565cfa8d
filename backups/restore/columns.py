"""A snapshot's columns against the live table, shared by both apply paths and the preview:
the snapshot is read by column name, so an older snapshot (a column added since) restores."""

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection

from backups.snapshot_format import SnapshotInvalid, Table, _copy_text
from backups.snapshot_reading import copy_fields


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def common_columns(table: Table, columns: list[str]) -> list[str]:
    """The snapshot's columns the table still has (by name; new columns keep their defaults)."""
    current = set(table.columns)
    common = [c for c in columns if c in current]
    if "id" not in common:
        raise SnapshotInvalid(f"{table.name}: the snapshot has no id column.")
    return common


def defaults(table: Table, common: list[str]) -> tuple[list[str], list[Any]]:
    """Columns the table has and the (older) snapshot lacks, with the values an inserted row
    gets: the field's default. Existing rows keep theirs."""
    missing = [f for f in table.fields if f.column not in common]
    return (
        [f.column for f in missing],
        [f.get_db_prep_save(f.get_default(), connection) for f in missing],
    )


def canonical(row: tuple[Any, ...]) -> list[str | None]:
    """A live row as the snapshot's COPY text would hold it, field by field."""
    return copy_fields(("\t".join(map(_copy_text, row)) + "\n").encode())


def row_id(row: Sequence[str | None], id_at: int) -> int:
    """The id of a row as COPY text values (an id is never NULL)."""
    return int(cast(str, row[id_at]))
