"""A real Celery worker process runs an approved restore request end to end, over the broker
the settings name (Redis with REDIS_URL, the filesystem transport otherwise) and the test
database; and a worker SIGKILLed in the middle of a restore leaves nothing behind once the
watchdog has run: maintenance lifted, request failed saying why, data exactly as before."""

import functools
import os
import signal
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Account
from backups import services as backup_services
from backups.models import Snapshot
from backups.tests.factories import account_fill, live_rows
from conftest import wait_for
from crm import services as crm_services
from crm.models import Company, Deal
from history.models import Event, EventType
from support import services
from support.models import Notification, RestoreRequest
from support.subjects import RESTORE_REQUEST, RequestEvent

pytestmark = pytest.mark.worker

BASE = "/api/v1/support/requests/"


@pytest.fixture
def start_worker(worker_start, tmp_path, snapshot_dir):
    """``start_worker(app="config", **env)``: ``worker_start`` (conftest.py) with the test's
    snapshot folder, emails written to ``tmp_path/mail`` and a restore heartbeat every second."""
    return functools.partial(
        worker_start,
        SNAPSHOT_DIR=str(snapshot_dir),
        CRM_TEST_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        CRM_TEST_EMAIL_FILE_PATH=str(tmp_path / "mail"),
        SUPPORT_RESTORE_HEARTBEAT_SECONDS="1",
    )


@pytest.fixture
def scenario(account, admin_user, support_user, api_as):
    """An account whose deals were deleted after a snapshot; a request for a full restore
    filed, proposed and confirmed through the API (approving is each test's)."""
    for user in (admin_user, support_user):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    account_fill(account, actor=admin_user)
    snapshot = backup_services.snapshot_take(account=account, kind="manual", actor=admin_user)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    before = live_rows(account)
    for deal in Deal.objects.filter(account=account):
        crm_services.record_delete(record=deal, actor=admin_user)
    company = Company.objects.filter(account=account).order_by("pk").first()
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Later"})
    changed = live_rows(account)
    assert changed != before

    admin, support = api_as(admin_user), api_as(support_user)
    filed = admin.post(
        BASE,
        {"lost_at": timezone.now().isoformat(), "kind": "full", "message": "Deals gone."},
        format="json",
    )
    assert filed.status_code == 201, filed.content
    request_id = filed.json()["id"]
    proposed = support.post(f"{BASE}{request_id}/propose/", {}, format="json")
    assert proposed.json()["snapshot"] == snapshot.pk, proposed.content
    assert admin.post(f"{BASE}{request_id}/confirm/").status_code == 200
    return {
        "request_id": request_id,
        "snapshot": snapshot,
        "before": before,
        "changed": changed,
        "support": support,
    }


def _status(request_id: int) -> str:
    return RestoreRequest.objects.get(pk=request_id).status


def test_a_worker_runs_an_approved_request_end_to_end(
    start_worker, scenario, account, admin_user, support_user, tmp_path
):
    worker = start_worker()
    request_id = scenario["request_id"]

    approved = scenario["support"].post(f"{BASE}{request_id}/approve/")
    assert approved.status_code == 200, approved.content

    assert wait_for(lambda: _status(request_id) in ("completed", "failed")), (
        f"the worker did not finish the restore ({_status(request_id)})"
    )
    request = RestoreRequest.objects.get(pk=request_id)
    assert request.status == "completed", request.error
    assert (request.progress, request.step) == (100, "done")
    assert live_rows(account) == scenario["before"]
    account.refresh_from_db()
    assert account.maintenance is False
    assert (
        Event.objects.filter(account=account, event_type=EventType.ROLLBACK, entity_id=None).count()
        == 1
    )
    assert list(
        Event.objects.filter(account=account, entity_type=RESTORE_REQUEST)
        .order_by("id")
        .values_list("event_type", flat=True)
    ) == [
        "request_filed",
        "request_proposed",
        "request_confirmed",
        "request_approved",
        "request_completed",
    ]
    assert set(
        Notification.objects.filter(request_id=request_id, verb="completed").values_list(
            "recipient", flat=True
        )
    ) == {admin_user.pk, support_user.pk}
    # Emailed by the worker (a file per connection, in the worker's own process).
    assert wait_for(lambda: (tmp_path / "mail").exists() and any((tmp_path / "mail").iterdir()))
    mails = "".join(path.read_text() for path in (tmp_path / "mail").iterdir())
    assert "completed" in mails
    assert admin_user.email in mails and support_user.email in mails
    assert worker.poll() is None, "the worker died"


def test_a_worker_killed_mid_restore_is_resolved_by_the_watchdog(
    start_worker, scenario, account, admin_user, tmp_path, settings
):
    blocked = tmp_path / "blocked"
    worker = start_worker("support.tests.blocking_worker", CRM_TEST_RESTORE_BLOCKED=str(blocked))
    request_id = scenario["request_id"]

    assert scenario["support"].post(f"{BASE}{request_id}/approve/").status_code == 200
    assert wait_for(blocked.exists), "the restore did not reach its first table"
    # Mid-restore: the account is in maintenance, the request running, its worker alive.
    request = RestoreRequest.objects.get(pk=request_id)
    assert (request.status, request.step) == ("running", "apply")
    assert Account.objects.get(pk=account.pk).maintenance is True
    if connection.vendor == "postgresql":  # SQLite: the restore holds the write lock
        first_beat = request.heartbeat_at
        assert wait_for(
            lambda: RestoreRequest.objects.get(pk=request_id).heartbeat_at > first_beat, 10
        ), "no heartbeat while the restore runs"

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=15)

    # Killed: nothing resolves it by itself...
    time.sleep(1)
    assert _status(request_id) == "running"
    assert Account.objects.get(pk=account.pk).maintenance is True
    # ... until the watchdog sees no heartbeat for SUPPORT_RESTORE_STALE_MINUTES.
    assert services.requests_watchdog()["interrupted"] == 0
    later = timezone.now() + timedelta(minutes=settings.SUPPORT_RESTORE_STALE_MINUTES + 1)
    assert services.requests_watchdog(now=later)["interrupted"] == 1

    request = RestoreRequest.objects.get(pk=request_id)
    assert request.status == "failed"
    assert "interrupted" in request.error and "as it was before" in request.error
    assert Account.objects.get(pk=account.pk).maintenance is False
    assert live_rows(account) == scenario["changed"]
    assert not Event.objects.filter(account=account, event_type=EventType.ROLLBACK).exists()
    assert Event.objects.filter(account=account, event_type=RequestEvent.REQUEST_FAILED).exists()
    assert Notification.objects.filter(request_id=request_id, verb="failed").exists()
    # The account works again: a write goes through.
    crm_services.record_update(
        record=Company.objects.filter(account=account).order_by("pk").first(),
        actor=admin_user,
        data={"title": "Writable again"},
    )
