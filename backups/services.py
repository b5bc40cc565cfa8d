"""Every state change of snapshots: take, verify, delete, expire. The file format is
backups.snapshot_format; the file lives in the ``snapshots`` storage (backups.storage)."""

import logging
import tempfile
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account, User
from backups.models import Snapshot
from backups.snapshot_format import SnapshotInvalid, SnapshotReader, snapshot_write
from backups.storage import snapshot_storage

logger = logging.getLogger(__name__)

# A snapshot still "running" after this long was interrupted (its worker died).
STALE_RUNNING = timedelta(hours=6)


def _file_name(snapshot: Snapshot) -> str:
    stamp = f"{snapshot.taken_at:%Y%m%dT%H%M%S}"
    return f"{snapshot.account_id}/{snapshot.pk}-{snapshot.kind}-{stamp}.crmsnap.zst"


def _file_delete(name: str) -> None:
    if name:
        storage = snapshot_storage()
        if storage.exists(name):
            storage.delete(name)


def snapshot_take(*, account: Account, kind: str, actor: User | None = None) -> Snapshot:
    """Take a snapshot of the account now and store it. A nightly one the account already has
    today (running or done) is returned as it is: the database allows only one.

    Never raises for a failure of the snapshot itself: the row is marked ``failed`` with the
    reason and no file is left behind."""
    now = timezone.now()
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(
                account=account,
                kind=kind,
                status=Snapshot.Status.RUNNING,
                requested_by=actor,
                taken_at=now,
                day=now.date(),
                expires_at=now + timedelta(days=settings.SNAPSHOT_RETENTION_DAYS),
            )
    except IntegrityError:
        if kind != Snapshot.Kind.NIGHTLY:
            raise
        return Snapshot.objects.exclude(status=Snapshot.Status.FAILED).get(
            account=account, kind=Snapshot.Kind.NIGHTLY, day=now.date()
        )

    # The name holds the row's id: unique, so a save that fails half-way is found and removed.
    stored_name = _file_name(snapshot)
    try:
        with tempfile.TemporaryFile() as spool:
            result = snapshot_write(account=account, out=spool)
            spool.seek(0)
            stored_name = snapshot_storage().save(stored_name, File(spool))
        snapshot.taken_at = result.taken_at
        snapshot.storage_name = stored_name
        snapshot.expires_at = result.taken_at + timedelta(days=settings.SNAPSHOT_RETENTION_DAYS)
        snapshot.size_bytes = result.size_bytes
        snapshot.checksum = result.checksum
        snapshot.counts = result.counts
        snapshot.format_version = result.format_version
        snapshot.migration_state = result.migration_state
        snapshot.status = Snapshot.Status.SUCCEEDED
        snapshot.save()
    except Exception as error:
        logger.exception("snapshot %s of account %s failed", snapshot.pk, account.pk)
        try:
            _file_delete(stored_name)
        except Exception:
            # The name stays in the row, so the expiry task retries the delete.
            logger.exception("snapshot %s: could not delete its partial file", snapshot.pk)
        else:
            stored_name = ""
        Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            storage_name=stored_name,
            size_bytes=0,
            checksum="",
        )
        snapshot.refresh_from_db()
    return snapshot


def snapshot_verify(*, snapshot: Snapshot) -> dict[str, int]:
    """Re-read the whole file: checksum, format, account, every table's rows against the header
    and the row. Returns the rows per table; raises SnapshotInvalid otherwise."""
    if snapshot.status != Snapshot.Status.SUCCEEDED or not snapshot.storage_name:
        raise SnapshotInvalid(f"Snapshot #{snapshot.pk} has no usable file ({snapshot.status}).")
    storage = snapshot_storage()
    if not storage.exists(snapshot.storage_name):
        raise SnapshotInvalid(f"The file of snapshot #{snapshot.pk} is missing.")
    counts = {}
    with storage.open(snapshot.storage_name, "rb") as fileobj:
        reader = SnapshotReader(fileobj, account_id=snapshot.account_id, checksum=snapshot.checksum)
        for section in reader.sections():
            counts[section.table] = sum(1 for _line in section.lines())
    if counts != snapshot.counts:
        raise SnapshotInvalid(
            f"Snapshot #{snapshot.pk}: the file's rows {counts} differ from the record's "
            f"{snapshot.counts}."
        )
    return counts


def snapshot_delete(*, snapshot: Snapshot) -> None:
    """Remove the file, then the row (run again, it finishes what an interrupted run left)."""
    _file_delete(snapshot.storage_name)
    Snapshot.objects.filter(pk=snapshot.pk).delete()


def snapshots_expire(*, now: datetime | None = None) -> int:
    """Retention: remove snapshots (row and file) whose time is up, failed ones included, and
    mark as failed the ones whose worker died mid-way. Safe to run twice. Returns how many
    were removed."""
    now = now or timezone.now()
    Snapshot.objects.filter(
        status__in=[Snapshot.Status.RUNNING, Snapshot.Status.PENDING],
        created_at__lt=now - STALE_RUNNING,
    ).update(status=Snapshot.Status.FAILED, error="Interrupted: the snapshot never finished.")
    removed = 0
    for snapshot in Snapshot.objects.filter(expires_at__lte=now).order_by("pk").iterator():
        snapshot_delete(snapshot=snapshot)
        removed += 1
    for snapshot in Snapshot.objects.filter(status=Snapshot.Status.FAILED).exclude(storage_name=""):
        _file_delete(snapshot.storage_name)
        Snapshot.objects.filter(pk=snapshot.pk).update(storage_name="")
    return removed
