"""The safety copy of a restore on PostgreSQL: the account as it was, so the restore can be
undone exactly, at the cost of what the restore changes (issue 17, item 6).

The restore compares every table of the account with the snapshot it restores anyway
(backups.restore.postgresql); with a ``SafetyCopy`` the rows that differ are also kept, as they
are, and the copy is a delta on that snapshot (backups.delta). It is written and recorded inside
the restore's own transaction: the ``pre_restore`` snapshot exists exactly when the restore
happened, holds the account as it was the instant before (maintenance keeps every writer out),
with the digests of those rows (read before anything is written) for its drill, and its base is
kept as long as it is."""

import tempfile
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from backups.delta import DELTA_VERSION, DeltaWriter
from backups.digests import database_digests
from backups.models import Snapshot
from backups.restore.outcome import RestoreRefused
from backups.services import snapshot_file_name
from backups.snapshot_format import _counts, migration_state
from backups.storage import snapshot_storage


def safety_delta_possible(snapshot: Snapshot) -> bool:
    """A delta on ``snapshot`` is written by the PostgreSQL restore, for a plain snapshot (a
    delta's base is never itself a delta: reading one opens two files, never a chain)."""
    return connection.vendor == "postgresql" and snapshot.base_id is None


class SafetyCopy:
    """``begin()`` inside the restore's transaction before it writes anything, hand
    ``writer`` to the apply, ``store()`` after it (still inside); ``discard()`` if the
    transaction does not commit, ``close()`` in any case."""

    def __init__(self, *, base: Snapshot, account: Account, actor: User | None) -> None:
        self.base = base
        self.account = account
        self.actor = actor
        self.writer = DeltaWriter(base=base)
        self.stored = ""

    def begin(self) -> DeltaWriter:
        with connection.cursor() as cursor:
            self.taken_at = timezone.now()
            self.counts = _counts(cursor, connection, self.account.pk)
            self.digests = database_digests(cursor, connection, self.account.pk, self.counts)
        self.migration_state = migration_state(connection)
        return self.writer

    def store(self) -> Snapshot:
        """Write the file and record the ``pre_restore`` snapshot; the base is kept as long."""
        base = Snapshot.objects.select_for_update().filter(pk=self.base.pk).first()
        if base is None:
            raise RestoreRefused(_("The snapshot was removed while it was being restored."))
        row = Snapshot(
            account=self.account,
            kind=Snapshot.Kind.PRE_RESTORE,
            status=Snapshot.Status.RUNNING,
            requested_by=self.actor,
            taken_at=self.taken_at,
            day=self.taken_at.date(),
            expires_at=self.taken_at + timedelta(days=settings.SNAPSHOT_RETENTION_DAYS),
            base=base,
        )
        row.save(force_insert=True)
        try:
            with tempfile.TemporaryFile() as spool:
                row.size_bytes, row.checksum = self.writer.write(
                    spool,
                    account={"id": self.account.pk, "name": self.account.name},
                    taken_at=self.taken_at,
                    migration_state=self.migration_state,
                    counts=self.counts,
                )
                spool.seek(0)
                self.stored = snapshot_storage().save(snapshot_file_name(row), File(spool))
        except OSError as error:  # the disk or the object store: the restore does not happen
            raise RestoreRefused(
                _("The safety snapshot before the restore failed: %(error)s")
                % {"error": f"{type(error).__name__}: {error}"}
            ) from error
        row.storage_name = self.stored
        row.counts = self.counts
        row.digests = self.digests
        row.migration_state = self.migration_state
        row.format_version = DELTA_VERSION
        row.status = Snapshot.Status.SUCCEEDED
        row.save(
            update_fields=[
                *("storage_name", "size_bytes", "checksum", "counts", "digests"),
                *("migration_state", "format_version", "status"),
            ]
        )
        Snapshot.objects.filter(pk=base.pk, expires_at__lt=row.expires_at).update(
            expires_at=row.expires_at
        )
        return row

    def discard(self) -> None:
        """The restore did not commit: its copy's file goes (the row went with the rollback)."""
        if self.stored:
            storage = snapshot_storage()
            if storage.exists(self.stored):
                storage.delete(self.stored)
            self.stored = ""

    def close(self) -> None:
        self.writer.close()
