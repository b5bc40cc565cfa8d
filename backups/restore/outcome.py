"""What a restore reports: refused before anything changed, or what it changed."""

from dataclasses import dataclass, field

from backups.kinds import RestoreKind
from backups.snapshot_format import TABLES


class RestoreRefused(Exception):
    """The restore was refused before anything changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class RestoreOutcome:
    kind: RestoreKind
    snapshot_id: int
    pre_restore_snapshot_id: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # recover: links of recovered rows to records that no longer exist, set to NULL, per table
    # and column; rows that could not come back (an activity without any parent left, a hidden
    # link whose bin entry is gone), per table.
    links_nulled: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class Applied:
    """What the apply paths (postgresql, sqlite) did, per table, as they go."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    links_nulled: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def ordered(self) -> "Applied":
        names = [t.name for t in TABLES]
        return Applied(
            counts={n: self.counts[n] for n in names if n in self.counts},
            links_nulled={n: self.links_nulled[n] for n in names if self.links_nulled.get(n)},
            skipped={n: self.skipped[n] for n in names if self.skipped.get(n)},
        )

    def deleted_add(self, table_name: str, count: int) -> None:
        """Rows deleted after the table's own pass (a fix-up of the ``entities`` kind)."""
        counts = self.counts.setdefault(table_name, {"deleted": 0, "updated": 0, "inserted": 0})
        counts["deleted"] += count
