"""What a restore of each kind covers: every table of the snapshot, or the chosen entity types'
tables only (``entities``). The entity types and their tables come from crm's registry."""

from collections.abc import Iterable

from django.utils.translation import gettext as _

from backups.kinds import RestoreKind
from backups.restore.outcome import RestoreRefused
from backups.snapshot_format import TABLES
from crm.entities import ENTITIES

# The entity types a restore or a preview can choose, and their tables, in the registry's order.
ENTITY_TABLES: dict[str, str] = {key: entity.table for key, entity in ENTITIES.items()}


def restore_kind(kind: str) -> RestoreKind:
    """``kind`` as a RestoreKind; RestoreRefused for a kind there is no such restore of."""
    try:
        return RestoreKind(kind)
    except ValueError:
        raise RestoreRefused(
            _("This kind of restore is not available: %(kind)s.") % {"kind": kind}
        ) from None


def tables_for(*, kind: RestoreKind | str, entity_types: Iterable[str] | None) -> set[str]:
    """The tables a restore of ``kind`` writes; RestoreRefused for an unknown kind or types."""
    if restore_kind(kind) != RestoreKind.ENTITIES:
        return {t.name for t in TABLES}
    chosen = set(entity_types or [])
    if not chosen or not chosen <= set(ENTITY_TABLES):
        raise RestoreRefused(
            _("Choose the entity types to restore among: %(types)s.")
            % {"types": ", ".join(ENTITY_TABLES)}
        )
    return {ENTITY_TABLES[e] for e in chosen}
