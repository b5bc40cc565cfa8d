"""Every state change of snapshots: take, verify, delete, expire. The file format is
backups.snapshot_format; the file lives in the ``snapshots`` storage (backups.storage).

Content-addressed files: a nightly snapshot of an account whose data did not change since a
kept snapshot (same ``content_hash``) stores no second copy; its row names the earlier file.
So a file belongs to every row that names it and is deleted only with the last of them.

Two decisions must never cross: "this new row shares file F" (snapshot_take) and "no row names
F any more, delete it" (snapshot_delete, retention, the cleanup of a failed snapshot). Both are
made in one transaction holding the account's file lock (_account_files_lock): a PostgreSQL
advisory transaction lock per account, so two workers expiring at once, or a nightly snapshot
sharing a file while retention removes the row it shares it from, run one after the other. A
file is only ever shared within its account, so one lock per account covers every row that can
name it. The sharer re-reads the row it shares from under the lock (it must still be there,
kept and with its file); the deleter deletes the file under the lock, before its row goes, so
an interrupted delete leaves a row whose file is missing and the next run finishes it. On SQLite
(development, tests) a database has one writer at a time: the lock is the write lock, taken
first thing in the transaction.
"""

import logging
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature, plan_has
from backups.delta import snapshot_reader
from backups.models import Snapshot
from backups.snapshot_format import SnapshotInvalid, WriteResult, snapshot_write
from backups.storage import snapshot_storage

logger = logging.getLogger(__name__)

# A snapshot still "running" after this long was interrupted (its worker died).
STALE_RUNNING = timedelta(hours=6)
# The first key of the advisory locks on an account's snapshot files (the second: its id).
FILES_LOCK_NAMESPACE = 0x534E4150  # "SNAP"
# Kinds whose snapshot shares the file of an earlier one with the same content. A manual or a
# pre-restore snapshot is a deliberate "a copy now" and keeps a file of its own.
SHARED_FILE_KINDS = frozenset({Snapshot.Kind.NIGHTLY})


def snapshot_file_name(snapshot: Snapshot) -> str:
    stamp = f"{snapshot.taken_at:%Y%m%dT%H%M%S}"
    return f"{snapshot.account_id}/{snapshot.pk}-{snapshot.kind}-{stamp}.crmsnap.zst"


def _file_delete(name: str) -> None:
    """Remove a file from the storage; call it only through _file_release."""
    if name:
        storage = snapshot_storage()
        if storage.exists(name):
            storage.delete(name)


def _account_files_lock(account_id: int) -> None:
    """Inside a transaction: hold the account's snapshot-file lock until it ends (see the
    module's docstring)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [FILES_LOCK_NAMESPACE, account_id]
            )
        else:  # SQLite: a write (of nothing) takes the database's one write lock now
            cursor.execute("UPDATE backups_snapshot SET id = id WHERE id = -1")


def _file_release(*, snapshot: Snapshot, delete_row: bool) -> None:
    """The row lets go of its file (and is deleted, or keeps an empty ``storage_name``); the
    file is deleted if no other row of the account names it. Under the account's file lock."""
    name = snapshot.storage_name
    with transaction.atomic():
        _account_files_lock(snapshot.account_id)
        if name and not (
            Snapshot.objects.filter(account_id=snapshot.account_id, storage_name=name)
            .exclude(pk=snapshot.pk)
            .exists()
        ):
            _file_delete(name)
        rows = Snapshot.objects.filter(pk=snapshot.pk)
        if delete_row:
            rows.delete()
        else:
            rows.update(storage_name="")


def _shareable_file(*, account: Account, content_hash: str, now: datetime) -> Snapshot | None:
    """Under the account's file lock: the newest kept snapshot of the account with this
    content whose file is still in the storage, or None."""
    if not content_hash:
        return None
    candidate = (
        Snapshot.objects.usable()
        .for_account(account)
        .filter(content_hash=content_hash, expires_at__gt=now)
        .exclude(storage_name="")
        .exclude(drill_status=Snapshot.Drill.FAILED)  # its file is suspect: a new one
        .order_by("-taken_at", "-id")
        .first()
    )
    if candidate is None or not snapshot_storage().exists(candidate.storage_name):
        return None
    return candidate


def snapshot_take(*, account: Account, kind: str, actor: User | None = None) -> Snapshot:
    """Take a snapshot of the account now and store it. A nightly one the account already has
    today (running or done) is returned as it is: the database allows only one. A nightly one
    whose content a kept snapshot already has shares that snapshot's file (module docstring).

    Never raises for a failure of the snapshot itself: the row is marked ``failed`` with the
    reason and no file is left behind."""
    now = timezone.now()
    row = Snapshot(
        account=account,
        kind=kind,
        status=Snapshot.Status.RUNNING,
        requested_by=actor,
        taken_at=now,
        day=now.date(),
        expires_at=now + timedelta(days=settings.SNAPSHOT_RETENTION_DAYS),
    )
    try:
        if connection.in_atomic_block:  # a savepoint: the caller's transaction survives
            with transaction.atomic():
                row.save(force_insert=True)
        else:  # one INSERT is atomic on its own: one round trip, not three (BEGIN, COMMIT)
            row.save(force_insert=True)
        snapshot = row
    except IntegrityError:
        if kind != Snapshot.Kind.NIGHTLY:
            raise
        existing = (
            Snapshot.objects.exclude(status=Snapshot.Status.FAILED)
            .filter(account=account, kind=Snapshot.Kind.NIGHTLY, day=now.date())
            .first()
        )
        if existing is None:  # it failed (or went) between our insert and this read
            return snapshot_take(account=account, kind=kind, actor=actor)
        return existing

    _snapshot_write_store(snapshot)
    return snapshot


def _snapshot_write_store(snapshot: Snapshot) -> None:
    """Write the running ``snapshot``'s file and record it; a failure marks the row failed
    with the reason and leaves no file behind (never raises for it)."""
    account = snapshot.account
    try:
        with tempfile.TemporaryFile() as spool:
            result = snapshot_write(account=account, out=spool)
            _snapshot_finish(snapshot=snapshot, result=result, spool=spool)
    except Exception as error:
        logger.exception("snapshot %s of account %s failed", snapshot.pk, account.pk)
        # The file this row alone owns, if any (not a shared one, whatever became of the row).
        own_name = "" if snapshot.file_shared else snapshot.storage_name
        # First the row says it failed and names its partial file (the expiry task removes it
        # should this process die now), then the file goes unless another row shares it.
        Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            storage_name=own_name,
            size_bytes=0,
            checksum="",
            content_hash="",
            file_shared=False,
        )
        snapshot.refresh_from_db()
        try:
            _file_release(snapshot=snapshot, delete_row=False)
        except Exception:
            # The name stays in the row, so the expiry task retries the delete.
            logger.exception("snapshot %s: could not delete its partial file", snapshot.pk)
        snapshot.refresh_from_db()


# What _snapshot_finish writes, and nothing else of the row.
FINISHED_FIELDS = (
    *("taken_at", "expires_at", "counts", "format_version", "migration_state", "content_hash"),
    *("status", "storage_name", "size_bytes", "checksum", "file_shared", "digests"),
)


def _snapshot_finish(*, snapshot: Snapshot, result: WriteResult, spool: IO[bytes]) -> None:
    """Record what was written and store the file, in one transaction. A kind that shares
    (SHARED_FILE_KINDS) first looks, under the account's file lock, for a kept snapshot with the
    same content: found, the row names that file and the spool is thrown away; the lock is held
    until the row is committed, so retention cannot delete the file meanwhile."""
    snapshot.taken_at = result.taken_at
    snapshot.expires_at = result.taken_at + timedelta(days=settings.SNAPSHOT_RETENTION_DAYS)
    snapshot.counts = result.counts
    snapshot.format_version = result.format_version
    snapshot.migration_state = result.migration_state
    snapshot.content_hash = result.content_hash
    snapshot.digests = result.digests
    snapshot.status = Snapshot.Status.SUCCEEDED
    with transaction.atomic():
        # Locked and read again: retention may have given up on a snapshot running too long
        # (snapshots_expire); then it stays failed, and snapshot_take releases the file.
        running = Snapshot.objects.select_for_update().filter(
            pk=snapshot.pk, status=Snapshot.Status.RUNNING
        )
        if not running.exists():
            raise RuntimeError("the snapshot was given up while it ran (marked failed)")
        shared = None
        if snapshot.kind in SHARED_FILE_KINDS:
            _account_files_lock(snapshot.account_id)
            shared = _shareable_file(
                account=snapshot.account, content_hash=snapshot.content_hash, now=timezone.now()
            )
        if shared is not None:
            snapshot.storage_name = shared.storage_name
            snapshot.size_bytes = shared.size_bytes
            snapshot.checksum = shared.checksum
            snapshot.file_shared = True
        else:
            # The name holds the row's id: unique, so a save that fails half-way is found (in
            # the row, see snapshot_take) and removed.
            snapshot.storage_name = snapshot_file_name(snapshot)
            spool.seek(0)
            snapshot.storage_name = snapshot_storage().save(snapshot.storage_name, File(spool))
            snapshot.size_bytes = result.size_bytes
            snapshot.checksum = result.checksum
        snapshot.save(update_fields=FINISHED_FIELDS)


def snapshot_drill_require(*, snapshot: Snapshot) -> None:
    """A snapshot whose drill failed is never used: restores, previews and exports refuse it
    (SnapshotInvalid, the API's ``409 snapshot_invalid``)."""
    if snapshot.drill_status == Snapshot.Drill.FAILED:
        raise SnapshotInvalid(
            _("Snapshot #%(id)s failed its restore drill (%(error)s): it is not used.")
            % {"id": snapshot.pk, "error": snapshot.drill_error}
        )


def snapshot_check(*, snapshot: Snapshot) -> None:
    """What a restore checks before it changes anything, without reading the rows: a finished
    snapshot whose drill did not fail, its file (and a delta's base) there and matching its
    checksum, its header's rows per table the row's. The rows are read once, by the restore
    itself, in its transaction: a section that does not read back (SnapshotInvalid) rolls it
    back whole."""
    if snapshot.status != Snapshot.Status.SUCCEEDED or not snapshot.storage_name:
        raise SnapshotInvalid(f"Snapshot #{snapshot.pk} has no usable file ({snapshot.status}).")
    snapshot_drill_require(snapshot=snapshot)
    if not snapshot_storage().exists(snapshot.storage_name):
        raise SnapshotInvalid(f"The file of snapshot #{snapshot.pk} is missing.")
    with snapshot_reader(snapshot) as reader:
        if reader.counts != snapshot.counts:
            raise SnapshotInvalid(
                f"Snapshot #{snapshot.pk}: the file's rows {reader.counts} differ from the "
                f"record's {snapshot.counts}."
            )


def snapshot_verify(*, snapshot: Snapshot) -> dict[str, int]:
    """Re-read the whole file: checksum, format, account, every table's rows against the header
    and the row. Returns the rows per table; raises SnapshotInvalid otherwise."""
    if snapshot.status != Snapshot.Status.SUCCEEDED or not snapshot.storage_name:
        raise SnapshotInvalid(f"Snapshot #{snapshot.pk} has no usable file ({snapshot.status}).")
    snapshot_drill_require(snapshot=snapshot)
    storage = snapshot_storage()
    if not storage.exists(snapshot.storage_name):
        raise SnapshotInvalid(f"The file of snapshot #{snapshot.pk} is missing.")
    counts = {}
    with snapshot_reader(snapshot) as reader:
        for section in reader.sections():
            counts[section.table] = sum(1 for _line in section.lines())
    if counts != snapshot.counts:
        raise SnapshotInvalid(
            f"Snapshot #{snapshot.pk}: the file's rows {counts} differ from the record's "
            f"{snapshot.counts}."
        )
    return counts


def snapshot_pending_take(*, snapshot_id: int) -> Snapshot | None:
    """Take a snapshot asked for on demand (backups.on_demand), as its task: claimed first
    (pending -> running, one conditional UPDATE), so a second delivery does nothing. None when
    there was nothing to take."""
    claimed = Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.PENDING).update(
        status=Snapshot.Status.RUNNING, taken_at=timezone.now()
    )
    if not claimed:
        return None
    snapshot = Snapshot.objects.select_related("account").get(pk=snapshot_id)
    _snapshot_write_store(snapshot)
    return snapshot


def snapshot_delete(*, snapshot: Snapshot) -> None:
    """Remove the file unless another snapshot shares it, then the row (run again, it finishes
    what an interrupted run left)."""
    _file_release(snapshot=snapshot, delete_row=True)


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
    # Newest first, so a delta goes before its base (kept as long: backups.delta); a base that
    # a kept delta still needs stays.
    needed = Snapshot.objects.filter(base_id=OuterRef("pk"), expires_at__gt=now)
    expired = Snapshot.objects.filter(expires_at__lte=now).exclude(Exists(needed))
    for snapshot in expired.order_by("-pk").iterator():
        snapshot_delete(snapshot=snapshot)
        removed += 1
    for snapshot in Snapshot.objects.filter(status=Snapshot.Status.FAILED).exclude(storage_name=""):
        _file_release(snapshot=snapshot, delete_row=False)
    return removed


# --- Nightly snapshots (the tasks in backups.tasks call these) ------------------------------


def _nightly_account_ids() -> list[int]:
    """Every account whose plan has nightly snapshots, by id."""
    return [
        account_id
        for account_id, plan in Account.objects.order_by("pk").values_list("pk", "plan")
        if plan_has(plan, Feature.NIGHTLY_SNAPSHOTS)
    ]


def snapshots_nightly_fan_out() -> int:
    """Send tonight's snapshots: the accounts whose plan has them, in batches of
    NIGHTLY_SNAPSHOT_BATCH per task, so they spread over every worker while a small account
    does not pay a whole task's round trip for a few milliseconds of work. Returns how many
    accounts were queued."""
    from backups.tasks import snapshot_nightly_batch  # the tasks module imports this one

    account_ids = _nightly_account_ids()
    size = max(1, settings.NIGHTLY_SNAPSHOT_BATCH)
    # One producer (one broker connection) for every message.
    with snapshot_nightly_batch.app.producer_or_acquire() as producer:
        for start in range(0, len(account_ids), size):
            snapshot_nightly_batch.apply_async(
                (account_ids[start : start + size],), producer=producer
            )
    return len(account_ids)


def snapshot_nightly_take(*, account_id: int) -> Snapshot | None:
    """Tonight's snapshot of one account (taken now, or the one it already has today); None
    for an account deleted since the fan-out."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return None
    return snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)


def snapshots_nightly_batch_take(*, account_ids: Sequence[int]) -> int:
    """Tonight's snapshots of a batch of accounts, one after the other. An account that fails
    (or raises) does not stop the batch: it is handed to the ``snapshot_nightly`` task to be
    tried again on its own later, as its first retry; the others are not redone. Returns how
    many snapshots the batch has (taken now or found taken)."""
    done = 0
    for account_id in account_ids:
        snapshot: Snapshot | None
        try:
            snapshot = snapshot_nightly_take(account_id=account_id)
        except Exception:
            logger.exception("nightly snapshot of account %s raised", account_id)
            close_old_connections()  # a connection the error broke is not reused
            snapshot = None
            failed = True
        else:
            failed = snapshot is not None and snapshot.status == Snapshot.Status.FAILED
        if failed:
            _snapshot_nightly_retry_send(
                account_id=account_id, attempts=1, error=snapshot.error if snapshot else ""
            )
        elif snapshot is not None:
            done += 1
    return done


def _snapshot_nightly_retry_send(*, account_id: int, attempts: int, error: str) -> None:
    """After a batch's attempt: the ``snapshot_nightly`` task alone, later, counted as a
    retry."""
    from backups.tasks import snapshot_nightly  # the tasks module imports this one

    if attempts > settings.NIGHTLY_SNAPSHOT_RETRIES:
        snapshot_nightly_give_up(account_id=account_id, attempts=attempts, error=error)
        return
    snapshot_nightly.apply_async(
        (account_id,), countdown=settings.NIGHTLY_SNAPSHOT_RETRY_SECONDS, retries=attempts
    )


def snapshot_nightly_give_up(*, account_id: int, attempts: int, error: str) -> None:
    """No more retries today for the account's nightly snapshot: logged as an error."""
    logger.error(
        "nightly snapshot of account %s failed %s times, giving up for today: %s",
        account_id,
        attempts,
        error,
    )
