"""Links between the restored rows: which ones a written row has, which of them it cannot do
without (an activity's parents, from crm's registry), and the ``entities`` fix-up of live
rows left pointing at a row the restore removed. Shared by both apply paths."""

from typing import cast

from django.db import models
from django.db.backends.utils import CursorWrapper

from backups.restore.columns import quote
from backups.restore.outcome import Applied
from backups.restore.record_log import RecordLog, dangling_log
from backups.snapshot_format import TABLES, Table
from crm.entities import ENTITIES, entity_for_table
from recyclebin.models import BinEntry


def target_table(field: models.Field) -> str:
    """The table a link column points at."""
    return cast(type[models.Model], field.related_model)._meta.db_table


def links(table: Table, common: list[str]) -> list[tuple[str, str, bool]]:
    """The snapshot's link columns other than the account: (column, target table, nullable)."""
    return [
        (f.column, target_table(f), f.null)
        for f in table.fields
        if f.is_relation and f.column != "account_id" and f.column in common
    ]


def parent_columns(table: Table) -> tuple[str, ...]:
    """The columns of which a row needs one (an activity's lead, deal, contact or company)."""
    entity = entity_for_table(table.name)
    return entity.parent_columns if entity is not None else ()


def entry_owner_gone_sql(table: Table, alias: str) -> str | None:
    """``recover``: a bin entry comes back only with the record it was made for, gone now (so
    that the record comes back into it). An entry whose record is here now, live or in
    another entry, would list a record it does not hold; its other rows come back without it
    (their bin link becomes NULL, its hidden links are skipped). SQL over the staged entry
    ``alias``, or None for the other tables."""
    if table.model is not BinEntry:
        return None
    gone = " ".join(
        f"WHEN '{key}' THEN NOT EXISTS (SELECT 1 FROM {quote(entity.table)} r "  # noqa: S608
        f"WHERE r.id = {alias}.entity_id)"
        for key, entity in ENTITIES.items()
    )
    return f"(CASE {alias}.entity_type {gone} ELSE TRUE END)"


def dangling_fix(
    *,
    cursor: CursorWrapper,
    applied: Applied,
    tables: set[str],
    account_id: int,
    log: RecordLog | None = None,
) -> None:
    """entities: live rows of the account that link to a row this restore removed. A nullable
    link becomes NULL; an activity whose parent is gone is deleted (it cannot exist alone).
    With ``log``, each of those records gets its event (backups.restore.record_log)."""
    for table in TABLES:
        if table.via_entry:
            continue
        name = quote(table.name)
        nullable = [
            (f.column, target_table(f))
            for f in table.fields
            if f.is_relation and f.null and target_table(f) in tables
        ]
        if not nullable:
            continue
        parents = parent_columns(table)
        if parents:
            alive = [
                f"({name}.{quote(c)} IS NOT NULL AND EXISTS "  # noqa: S608 - model names
                f"(SELECT 1 FROM {quote(t)} p WHERE p.id = {name}.{quote(c)}))"
                for c, t in (
                    (f.column, target_table(f)) for f in table.fields if f.column in parents
                )
            ]
            orphaned = f"account_id = %s AND NOT ({' OR '.join(alive)})"
            if log is not None:
                dangling_log(
                    cursor=cursor, log=log, table=table, where=orphaned, account_id=account_id
                )
            cursor.execute(f"DELETE FROM {name} WHERE {orphaned}", [account_id])  # noqa: S608
            applied.deleted_add(table.name, cursor.rowcount)
            nullable = [(c, t) for c, t in nullable if c not in parents]
        for column, target in nullable:
            dangling = (
                f"account_id = %s AND {quote(column)} IS NOT NULL AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {quote(target)} p WHERE p.id = {name}.{quote(column)})"
            )
            if log is not None:
                dangling_log(
                    cursor=cursor,
                    log=log,
                    table=table,
                    where=dangling,
                    account_id=account_id,
                    column=column,
                )
            cursor.execute(
                f"UPDATE {name} SET {quote(column)} = NULL WHERE {dangling}",  # noqa: S608
                [account_id],
            )
            if cursor.rowcount:
                nulled = applied.links_nulled.setdefault(table.name, {})
                nulled[column] = nulled.get(column, 0) + cursor.rowcount
