"""The restore engine: an account's CRM data back to a snapshot (DESIGN.md, "Backups").

Kinds (backups.kinds.RestoreKind): ``full`` (the account's CRM data, bin included, becomes
exactly the snapshot's), ``entities`` (the same for the chosen entity types only) and
``recover`` (insert only the rows that are gone; live rows are never changed). ``preview``
counts what a restore would do, changing nothing.

One module per reason to change:

- ``engine``: ``snapshot_restore``, the orchestration (verify, maintenance, safety snapshot,
  apply in one transaction, history);
- ``postgresql`` and ``sqlite``: the two apply paths, writing only what differs
  (PERFORMANCE.md, "Restore");
- ``preview``: what a restore would do, and the records behind its numbers;
- ``scope`` (the tables a kind covers), ``columns`` and ``links`` (a snapshot's columns and
  links against the live tables), ``outcome`` (what a restore reports), ``hooks`` (for tests).

The names other code uses are imported from here: ``from backups.restore import X``."""

from backups.kinds import KINDS, RestoreKind
from backups.restore.engine import snapshot_restore
from backups.restore.hooks import after_table
from backups.restore.outcome import RestoreOutcome, RestoreRefused
from backups.restore.preview import BUCKETS, TITLE_COLUMNS, PreviewRecord, Sampling, preview
from backups.restore.scope import ENTITY_TABLES

__all__ = [
    "BUCKETS",
    "ENTITY_TABLES",
    "KINDS",
    "TITLE_COLUMNS",
    "PreviewRecord",
    "RestoreKind",
    "RestoreOutcome",
    "RestoreRefused",
    "Sampling",
    "after_table",
    "preview",
    "snapshot_restore",
]
