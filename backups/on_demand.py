"""A snapshot on demand (DESIGN.md: professional admins, before a risky import, at most one an
hour): asked for here, taken by a worker (``backups.tasks.snapshot_pending_take``), drilled
like every other snapshot."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import admin_require, plan_require
from backups.models import Snapshot
from core.errors import RuleViolation
from core.jobs import task_send

ON_DEMAND_EVERY = timedelta(hours=1)


def _last_on_demand(account: Account) -> Snapshot | None:
    """The account's latest snapshot asked for on demand that did not fail."""
    return (
        Snapshot.objects.for_account(account)
        .filter(kind=Snapshot.Kind.MANUAL, requested_by__isnull=False)
        .exclude(status=Snapshot.Status.FAILED)
        .order_by("-created_at")
        .first()
    )


def on_demand_next(*, account: Account, now: datetime | None = None) -> datetime | None:
    """When the account may ask for its next snapshot on demand; None: now."""
    now = now or timezone.now()
    last = _last_on_demand(account)
    if last is None or last.created_at + ON_DEMAND_EVERY <= now:
        return None
    return last.created_at + ON_DEMAND_EVERY


def snapshot_on_demand(*, user: User) -> Snapshot:
    """Ask for a ``manual`` snapshot of the user's account now: the row, ``pending``, and its
    task, sent once committed. Refused for other plans (``plan_not_eligible``), employees
    (``admin_only``), and within the hour after the last one (``snapshot_recent``, with
    Retry-After)."""
    account = user.account
    admin_require(user=user)
    plan_require(account=account, feature=Feature.SNAPSHOT_ON_DEMAND)
    with transaction.atomic():
        # Two asks at once: the account's row lock lets one in at a time, and the second then
        # sees the first's snapshot.
        Account.objects.select_for_update().filter(pk=account.pk).first()
        now = timezone.now()
        next_at = on_demand_next(account=account, now=now)
        if next_at is not None:
            local = timezone.localtime(next_at, ZoneInfo(account.time_zone))
            raise RuleViolation(
                code="snapshot_recent",
                message=_(
                    "A snapshot on demand was taken less than an hour ago; the next one is "
                    "possible at %(time)s (%(zone)s)."
                )
                % {
                    "time": time_format(local, "H:i"),
                    "zone": account.time_zone,
                },
                retry_after=max(1, int((next_at - now).total_seconds()) + 1),
            )
        snapshot = Snapshot.objects.create(
            account=account,
            kind=Snapshot.Kind.MANUAL,
            status=Snapshot.Status.PENDING,
            requested_by=user,
            taken_at=now,
            day=now.date(),
            expires_at=now + timedelta(days=settings.SNAPSHOT_RETENTION_DAYS),
        )
        snapshot_id = snapshot.pk
        transaction.on_commit(lambda: _send(snapshot_id))
    return snapshot


def _send(snapshot_id: int) -> None:
    from backups.tasks import snapshot_pending_take  # the tasks module imports this one

    task_send(snapshot_pending_take, snapshot_id)


def on_demand_lost(*, now: datetime | None = None) -> list[int]:
    """Snapshots asked for on demand and still pending minutes later: their task was lost (a
    broker down when it was sent). Sent again by the drills' sweep."""
    now = now or timezone.now()
    return list(
        Snapshot.objects.filter(
            status=Snapshot.Status.PENDING, created_at__lt=now - timedelta(minutes=5)
        ).values_list("pk", flat=True)
    )
