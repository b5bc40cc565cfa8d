"""Thin Celery tasks over backups.services; scheduled in config/schedule.py.

Every task has soft and hard time limits: the project's defaults (CELERY_TASK_SOFT_TIME_LIMIT,
CELERY_TASK_TIME_LIMIT), or for the snapshots and their retention, which grow with the accounts,
the long pair (LONG_TASK_SOFT_TIME_LIMIT, LONG_TASK_TIME_LIMIT). At the soft limit the snapshot
in progress fails cleanly (its row says why, no file is left) and is tried again later."""

from celery import Task, shared_task
from django.conf import settings

from accounts.models import Account
from backups import drill, on_demand, services
from backups.integrity import integrity_check_report
from backups.models import Snapshot

LONG = {
    "soft_time_limit": settings.LONG_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.LONG_TASK_TIME_LIMIT,
}


@shared_task
def nightly_snapshots() -> int:
    """Beat, nightly: send the snapshots of the accounts whose plan has them, in batches
    (``snapshot_nightly_batch``). Returns how many accounts were queued."""
    return services.snapshots_nightly_fan_out()


# acks_late + reject_on_worker_lost: a worker killed mid-snapshot leaves the message to be
# delivered again, which is safe: the database allows one nightly snapshot per account and day
# (the accounts a batch already did find theirs and move on).
@shared_task(acks_late=True, reject_on_worker_lost=True, **LONG)
def snapshot_nightly_batch(account_ids: list[int]) -> int:
    """Tonight's snapshots of a batch of accounts; one that fails is retried on its own
    (``snapshot_nightly``). Returns how many snapshots the batch has."""
    return services.snapshots_nightly_batch_take(account_ids=account_ids)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, **LONG)
def snapshot_nightly(self: Task, account_id: int) -> int | None:
    """Tonight's snapshot of one account. Run twice (a second beat, a message delivered twice),
    the second finds the first and does nothing: the database allows one nightly snapshot per
    account and day. A failed one (its row says why, and does not count against that rule) is
    tried again later, up to NIGHTLY_SNAPSHOT_RETRIES times; other accounts are not touched."""
    snapshot = services.snapshot_nightly_take(account_id=account_id)
    if snapshot is None:
        return None
    if snapshot.status == Snapshot.Status.FAILED:
        if self.request.retries < settings.NIGHTLY_SNAPSHOT_RETRIES:
            raise self.retry(
                countdown=settings.NIGHTLY_SNAPSHOT_RETRY_SECONDS,
                max_retries=settings.NIGHTLY_SNAPSHOT_RETRIES,
            )
        services.snapshot_nightly_give_up(
            account_id=account_id, attempts=self.request.retries + 1, error=snapshot.error
        )
    return snapshot.pk


@shared_task(**LONG)
def snapshots_expire() -> int:
    """Daily: remove snapshots older than the retention (row and file)."""
    return services.snapshots_expire()


@shared_task(**LONG)
def integrity_check_nightly() -> int:
    """Beat, nightly after the snapshots: check every account's invariants; breaches are
    logged at ERROR and mailed to the operators (ADMINS). Returns how many there are."""
    return integrity_check_report(accounts=Account.objects.order_by("pk"))


@shared_task
def drills_sweep() -> int:
    """Beat, every DRILL_SWEEP_MINUTES: send the drills due, DRILL_BATCH to a task (each
    claims its snapshots, so a sweep that overlaps a slow batch sends nothing twice), and again
    the snapshots on demand whose task was lost. Returns how many drills were sent."""
    for snapshot_id in on_demand.on_demand_lost():
        snapshot_pending_take.delay(snapshot_id)
    due = drill.drills_due()
    size = max(1, settings.DRILL_BATCH)
    for start in range(0, len(due), size):
        snapshot_drill_batch.delay(due[start : start + size])
    return len(due)


@shared_task(acks_late=True, reject_on_worker_lost=True, **LONG)
def snapshot_drill_batch(snapshot_ids: list[int]) -> dict[str, int]:
    """Drill these snapshots; returns how many passed, failed, were skipped or could not run."""
    results: dict[str, int] = {}
    for snapshot_id in snapshot_ids:
        result = drill.drill_run(snapshot_id=snapshot_id)
        results[result] = results.get(result, 0) + 1
    return results


@shared_task(acks_late=True, reject_on_worker_lost=True, **LONG)
def snapshot_pending_take(snapshot_id: int) -> int | None:
    """Take a snapshot asked for on demand; a second delivery finds it claimed and does
    nothing. Returns its id, or None."""
    snapshot = services.snapshot_pending_take(snapshot_id=snapshot_id)
    return None if snapshot is None else snapshot.pk
