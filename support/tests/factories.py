"""Support test helpers: kept snapshots at chosen times, requests in any state (set-up only:
behaviour under test goes through support.services or the API), and the state to compare
before and after a refusal."""

from datetime import datetime, timedelta

from django.utils import timezone

from backups.models import Snapshot
from backups.tests.factories import snapshot_row
from history.models import Event
from support import services, tasks
from support.models import Message, Notification, RestoreRequest


def snapshot_kept(account, *, taken_at: datetime | None = None, **kwargs) -> Snapshot:
    """A finished snapshot row (no file) taken at ``taken_at``, kept 7 days from then."""
    taken_at = taken_at or timezone.now() - timedelta(hours=1)
    values = {
        "kind": Snapshot.Kind.MANUAL,
        "taken_at": taken_at,
        "day": taken_at.date(),
        "expires_at": taken_at + timedelta(days=7),
    }
    values.update(kwargs)
    return snapshot_row(account, **values)


def request_make(account, *, status="open", requested_by=None, **kwargs) -> RestoreRequest:
    now = timezone.now()
    values = {
        "kind": "full",
        "lost_at": now - timedelta(minutes=30),
        "message": "Everything from this morning is gone.",
        "requested_by": requested_by or account.users.filter(role="admin").first(),
        "status": status,
    }
    values.update(kwargs)
    return RestoreRequest.objects.create(account=account, **values)


def support_state() -> dict:
    """Every row the support workflow writes, and the requests' states: equal before and
    after a refusal."""
    return {
        "requests": sorted(
            RestoreRequest.objects.values_list(
                "pk",
                "status",
                "kind",
                "snapshot_id",
                "proposed_by_id",
                "confirmed_by_id",
                "approved_by_id",
                "updated_at",
                "progress",
            )
        ),
        "messages": Message.objects.count(),
        "notifications": Notification.objects.count(),
        "events": Event.objects.count(),
    }


def recover_run(*, admin_user, support_user, snapshot: Snapshot) -> RestoreRequest:
    """A recover from ``snapshot`` filed, proposed, confirmed, approved and run through the
    task's body in this process (the test stops the task from being sent): the request,
    completed."""
    recover = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="recover", message="Two are gone."
    )
    services.request_propose(request=recover, user=support_user, snapshot=snapshot)
    services.request_confirm(request=recover, user=admin_user)
    services.request_approve(request=recover, user=support_user)
    assert tasks.restore_request_run.apply(args=[recover.pk]).get() == "completed"
    recover.refresh_from_db()
    return recover
