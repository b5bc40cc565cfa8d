"""Thin Celery tasks over backups.services; scheduled in config/schedule.py."""

import logging

from celery import shared_task
from django.conf import settings

from accounts.models import Account
from accounts.plans import Feature, plan_has
from backups import services
from backups.models import Snapshot

logger = logging.getLogger(__name__)


@shared_task
def nightly_snapshots() -> int:
    """Beat, nightly: one snapshot task per account (fan-out), so a failed account is retried
    on its own and the accounts spread over every worker. Returns how many were queued."""
    queued = 0
    # One producer (one broker connection) for all: 10,000 accounts are queued in about 10 s,
    # where .delay() (a producer from the pool each time) took three times as long.
    with snapshot_nightly.app.producer_or_acquire() as producer:
        for account_id, plan in Account.objects.order_by("pk").values_list("pk", "plan"):
            if plan_has(plan, Feature.NIGHTLY_SNAPSHOTS):
                snapshot_nightly.apply_async((account_id,), producer=producer)
                queued += 1
    return queued


# acks_late + reject_on_worker_lost: a worker killed mid-snapshot leaves the message to be
# delivered again, which is safe: the database allows one nightly snapshot per account and day.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def snapshot_nightly(self, account_id: int) -> int | None:
    """Tonight's snapshot of one account. Run twice (a second beat, a message delivered twice),
    the second finds the first and does nothing: the database allows one nightly snapshot per
    account and day. A failed one (its row says why, and does not count against that rule) is
    tried again later, up to NIGHTLY_SNAPSHOT_RETRIES times; other accounts are not touched."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return None
    snapshot = services.snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)
    if snapshot.status == Snapshot.Status.FAILED:
        if self.request.retries < settings.NIGHTLY_SNAPSHOT_RETRIES:
            raise self.retry(
                countdown=settings.NIGHTLY_SNAPSHOT_RETRY_SECONDS,
                max_retries=settings.NIGHTLY_SNAPSHOT_RETRIES,
            )
        logger.error(
            "nightly snapshot of account %s failed %s times, giving up for today: %s",
            account_id,
            self.request.retries + 1,
            snapshot.error,
        )
    return snapshot.pk


@shared_task
def snapshots_expire() -> int:
    """Daily: remove snapshots older than the retention (row and file)."""
    return services.snapshots_expire()
