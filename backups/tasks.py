"""Thin Celery tasks over backups.services; scheduled in config/schedule.py."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from accounts.models import Account
from accounts.plans import Feature, plan_has
from backups import services
from backups.models import Snapshot

logger = logging.getLogger(__name__)


@shared_task
def nightly_snapshots() -> int:
    """Beat, nightly: the accounts whose plan has nightly snapshots, in batches of
    NIGHTLY_SNAPSHOT_BATCH per task (fan-out), so they spread over every worker while a small
    account does not pay a whole task's round trip for a few milliseconds of work. Returns how
    many accounts were queued."""
    account_ids = [
        account_id
        for account_id, plan in Account.objects.order_by("pk").values_list("pk", "plan")
        if plan_has(plan, Feature.NIGHTLY_SNAPSHOTS)
    ]
    size = max(1, settings.NIGHTLY_SNAPSHOT_BATCH)
    # One producer (one broker connection) for every message.
    with snapshot_nightly_batch.app.producer_or_acquire() as producer:
        for start in range(0, len(account_ids), size):
            snapshot_nightly_batch.apply_async(
                (account_ids[start : start + size],), producer=producer
            )
    return len(account_ids)


# acks_late + reject_on_worker_lost: a worker killed mid-snapshot leaves the message to be
# delivered again, which is safe: the database allows one nightly snapshot per account and day
# (the accounts a batch already did find theirs and move on).
@shared_task(acks_late=True, reject_on_worker_lost=True)
def snapshot_nightly_batch(account_ids: list[int]) -> int:
    """Tonight's snapshots of a batch of accounts, one after the other. An account that fails
    (or raises) does not stop the batch: it is handed to ``snapshot_nightly`` to be tried again
    on its own later, as its first retry; the others are not redone. Returns how many
    snapshots the batch has (taken now or found taken)."""
    done = 0
    for account_id in account_ids:
        try:
            snapshot = _nightly_take(account_id)
        except Exception:
            logger.exception("nightly snapshot of account %s raised", account_id)
            close_old_connections()  # a connection the error broke is not reused
            snapshot = None
            failed = True
        else:
            failed = snapshot is not None and snapshot.status == Snapshot.Status.FAILED
        if failed:
            _nightly_retry_later(account_id, attempts=1, error=snapshot.error if snapshot else "")
        elif snapshot is not None:
            done += 1
    return done


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def snapshot_nightly(self, account_id: int) -> int | None:
    """Tonight's snapshot of one account. Run twice (a second beat, a message delivered twice),
    the second finds the first and does nothing: the database allows one nightly snapshot per
    account and day. A failed one (its row says why, and does not count against that rule) is
    tried again later, up to NIGHTLY_SNAPSHOT_RETRIES times; other accounts are not touched."""
    snapshot = _nightly_take(account_id)
    if snapshot is None:
        return None
    if snapshot.status == Snapshot.Status.FAILED:
        if self.request.retries < settings.NIGHTLY_SNAPSHOT_RETRIES:
            raise self.retry(
                countdown=settings.NIGHTLY_SNAPSHOT_RETRY_SECONDS,
                max_retries=settings.NIGHTLY_SNAPSHOT_RETRIES,
            )
        _nightly_give_up(account_id, attempts=self.request.retries + 1, error=snapshot.error)
    return snapshot.pk


def _nightly_take(account_id: int) -> Snapshot | None:
    account = Account.objects.filter(pk=account_id).first()
    if account is None:  # deleted since the fan-out
        return None
    return services.snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)


def _nightly_retry_later(account_id: int, *, attempts: int, error: str) -> None:
    """After a batch's attempt: ``snapshot_nightly`` alone, later, counted as a retry."""
    if attempts > settings.NIGHTLY_SNAPSHOT_RETRIES:
        _nightly_give_up(account_id, attempts=attempts, error=error)
        return
    snapshot_nightly.apply_async(
        (account_id,), countdown=settings.NIGHTLY_SNAPSHOT_RETRY_SECONDS, retries=attempts
    )


def _nightly_give_up(account_id: int, *, attempts: int, error: str) -> None:
    logger.error(
        "nightly snapshot of account %s failed %s times, giving up for today: %s",
        account_id,
        attempts,
        error,
    )


@shared_task
def snapshots_expire() -> int:
    """Daily: remove snapshots older than the retention (row and file)."""
    return services.snapshots_expire()
