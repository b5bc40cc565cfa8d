"""Thin Celery tasks over backups.services; scheduled in config/schedule.py."""

from celery import shared_task

from accounts.models import Account
from accounts.plans import Feature, plan_has
from backups import services
from backups.models import Snapshot


@shared_task
def nightly_snapshots() -> int:
    """Beat, nightly: one snapshot task per account (fan-out). Returns how many were queued."""
    queued = 0
    for account_id, plan in Account.objects.order_by("pk").values_list("pk", "plan"):
        if plan_has(plan, Feature.NIGHTLY_SNAPSHOTS):
            snapshot_nightly.delay(account_id)
            queued += 1
    return queued


@shared_task
def snapshot_nightly(account_id: int) -> int | None:
    """Tonight's snapshot of one account. Run twice, the second finds the first and does
    nothing (the database allows one nightly snapshot per account and day)."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return None
    return services.snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY).pk


@shared_task
def snapshots_expire() -> int:
    """Daily: remove snapshots older than the retention (row and file)."""
    return services.snapshots_expire()
