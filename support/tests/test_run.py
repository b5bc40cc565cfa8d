"""The restore task's body and the watchdog, in this process: a run completes with progress and
history, fails leaving the account as it was, runs once however often it is delivered; the
watchdog resolves what a dead worker left (a real worker is killed in test_worker.py)."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.utils import timezone

from accounts.models import Account
from backups import restore
from backups import services as backup_services
from backups.models import Snapshot
from backups.storage import snapshot_storage
from backups.tests.factories import account_fill, live_rows
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company, Deal
from history.models import Event, EventType
from history.services import history_record
from support import selectors, services, tasks
from support.models import MaintenanceWatch, Notification, RestoreRequest
from support.subjects import RESTORE_REQUEST, RequestEvent
from support.tests.factories import request_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_task_sent(monkeypatch) -> list[int]:
    """Approving sends nothing to a broker here: the tests run the task's body themselves."""
    sent = []
    monkeypatch.setattr(services.run, "task_send", lambda request_id: sent.append(request_id))
    return sent


@pytest.fixture
def approved(account, admin_user, support_user, emails):
    """An approved full restore to a snapshot taken before the account's deals were deleted;
    ``before`` and ``changed`` are the account's rows at the snapshot and now."""
    account_fill(account, actor=admin_user)
    snapshot = backup_services.snapshot_take(account=account, kind="manual")
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    before = live_rows(account)
    for deal in Deal.objects.filter(account=account):
        crm_services.record_delete(record=deal, actor=admin_user)
    crm_services.record_update(
        record=Company.objects.for_account(account).first(),  # a live one
        actor=admin_user,
        data={"title": "Renamed after the snapshot"},
    )
    changed = live_rows(account)
    request = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="full", message="Deals gone."
    )
    services.request_propose(request=request, user=support_user, snapshot=snapshot)
    services.request_confirm(request=request, user=admin_user)
    services.request_approve(request=request, user=support_user)
    request.refresh_from_db()
    mail.outbox.clear()
    return {"request": request, "snapshot": snapshot, "before": before, "changed": changed}


def test_a_run_restores_the_account_and_completes(
    approved, account, admin_user, support_user, monkeypatch
):
    request = approved["request"]
    reported = []
    progress = services.run._progress
    monkeypatch.setattr(
        services.run,
        "_progress",
        lambda request_id, percent, step: (
            reported.append((percent, step)) or progress(request_id, percent, step)
        ),
    )

    assert tasks.restore_request_run.apply(args=[request.pk]).get() == "completed"

    request.refresh_from_db()
    assert request.status == "completed"
    assert (request.progress, request.step, request.error) == (100, "done", "")
    assert request.completed_at is not None and request.started_at <= request.completed_at
    assert request.outcome["snapshot_id"] == approved["snapshot"].pk
    assert request.outcome["counts"]["crm_deal"]["updated"] == 1  # back out of the bin
    assert live_rows(account) == approved["before"]
    account.refresh_from_db()
    assert account.maintenance is False
    # Progress went up to 100, step by step, as the restore reported it.
    assert reported[-1] == (100, "done")
    assert [p for p, _s in reported] == sorted(p for p, _s in reported)
    # History: the rollback and the request's steps, none erased.
    rollback = Event.objects.get(account=account, event_type=EventType.ROLLBACK, entity_id=None)
    assert rollback.actor_id == support_user.pk
    assert rollback.details["snapshot"] == approved["snapshot"].pk
    steps = Event.objects.filter(account=account, entity_type=RESTORE_REQUEST).order_by("id")
    assert [e.event_type for e in steps] == [
        "request_filed",
        "request_proposed",
        "request_confirmed",
        "request_approved",
        "request_completed",
    ]
    # Both sides told, in the app and by email.
    assert set(
        Notification.objects.filter(verb="completed").values_list("recipient", flat=True)
    ) == {admin_user.pk, support_user.pk}
    assert sorted(to for m in mail.outbox for to in m.to) == sorted(
        [admin_user.email, support_user.email]
    )
    assert all("completed" in m.subject for m in mail.outbox)
    # The weekly limit now applies.
    assert request.pk == selectors.last_completed_restore(account=account).pk


def test_a_task_delivered_twice_runs_the_restore_once(approved, account, monkeypatch):
    request = approved["request"]
    calls = []
    real = services.run.snapshot_restore
    monkeypatch.setattr(
        services.run, "snapshot_restore", lambda **kwargs: calls.append(1) or real(**kwargs)
    )

    assert services.request_run(request_id=request.pk) == "completed"
    assert services.request_run(request_id=request.pk) == "skipped"
    assert tasks.restore_request_run.apply(args=[request.pk]).get() == "skipped"

    assert len(calls) == 1
    assert (
        Event.objects.filter(account=account, event_type=EventType.ROLLBACK, entity_id=None).count()
        == 1
    )
    assert Event.objects.filter(event_type=RequestEvent.REQUEST_COMPLETED).count() == 1


def test_a_task_for_a_request_not_approved_does_nothing(account, admin_user):
    for status in ("open", "proposed", "confirmed", "cancelled", "rejected"):
        request = request_make(account, status=status)
        assert services.request_run(request_id=request.pk) == "skipped"
        assert RestoreRequest.objects.get(pk=request.pk).status == status
        RestoreRequest.objects.filter(pk=request.pk).delete()
    assert services.request_run(request_id=10**9) == "skipped"


def test_a_failure_midway_leaves_the_account_as_it_was(
    approved, account, admin_user, support_user, monkeypatch
):
    request = approved["request"]

    def fail(table_name):
        if table_name == "crm_deal":
            raise RuntimeError("disk full")

    monkeypatch.setattr(restore, "after_table", fail)

    assert services.request_run(request_id=request.pk) == "failed"

    request.refresh_from_db()
    assert request.status == "failed"
    assert "rolled back" in request.error and "disk full" in request.error
    assert request.completed_at is not None
    assert live_rows(account) == approved["changed"]
    account.refresh_from_db()
    assert account.maintenance is False
    assert not Event.objects.filter(account=account, event_type=EventType.ROLLBACK).exists()
    failed = Event.objects.get(event_type=RequestEvent.REQUEST_FAILED)
    assert failed.details["error"] == request.error
    assert set(Notification.objects.filter(verb="failed").values_list("recipient", flat=True)) == {
        admin_user.pk,
        support_user.pk,
    }
    assert any("failed" in m.subject and request.error in m.body for m in mail.outbox)
    # A failed restore does not count for the weekly limit: a new request may be filed.
    assert services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="recover", message="Again."
    )


def test_a_snapshot_that_is_gone_fails_readably(approved, account):
    request = approved["request"]
    snapshot_storage().delete(approved["snapshot"].storage_name)

    assert services.request_run(request_id=request.pk) == "failed"

    request.refresh_from_db()
    assert request.status == "failed" and "missing" in request.error
    assert live_rows(account) == approved["changed"]


# --- The watchdog ------------------------------------------------------------------------------


def _running(account, *, beat_ago: timedelta, snapshot=None) -> RestoreRequest:
    beat = timezone.now() - beat_ago
    Account.objects.filter(pk=account.pk).update(maintenance=True)
    return request_make(
        account,
        status="running",
        snapshot=snapshot,
        started_at=beat - timedelta(minutes=1),
        heartbeat_at=beat,
        updated_at=beat,
        progress=40,
        step="apply",
    )


def test_the_watchdog_fails_a_request_whose_worker_stopped(
    account, admin_user, support_user, settings, emails
):
    settings.SUPPORT_RESTORE_STALE_MINUTES = 5
    request = _running(account, beat_ago=timedelta(minutes=6))

    assert services.requests_watchdog()["interrupted"] == 1

    request.refresh_from_db()
    assert request.status == "failed"
    assert "interrupted" in request.error and "as it was before" in request.error
    account.refresh_from_db()
    assert account.maintenance is False
    assert Event.objects.filter(event_type=RequestEvent.REQUEST_FAILED).count() == 1
    assert Notification.objects.filter(verb="failed", recipient=admin_user).exists()
    # Lifted through its owner (accounts.maintenance), which says so in the history.
    [lifted] = Event.objects.for_account(account).filter(event_type=EventType.MAINTENANCE_OFF)
    assert lifted.actor_id is None
    assert lifted.details == {"reason": "interrupted", "request": request.pk}
    assert services.requests_watchdog()["interrupted"] == 0  # safe to run again
    assert Event.objects.filter(event_type=EventType.MAINTENANCE_OFF).count() == 1


def test_the_watchdog_leaves_a_live_restore_alone(account, settings):
    settings.SUPPORT_RESTORE_STALE_MINUTES = 5
    request = _running(account, beat_ago=timedelta(minutes=4))

    assert services.requests_watchdog() == {
        "interrupted": 0,
        "resent": 0,
        "maintenance_lifted": 0,
    }
    request.refresh_from_db()
    assert request.status == "running"
    account.refresh_from_db()
    assert account.maintenance is True
    assert not MaintenanceWatch.objects.exists()  # a running request holds it


def test_a_restore_that_committed_before_its_worker_died_is_completed(account, settings):
    settings.SUPPORT_RESTORE_STALE_MINUTES = 5
    snapshot = Snapshot.objects.create(
        account=account,
        kind="manual",
        status="succeeded",
        taken_at=timezone.now() - timedelta(days=1),
        day=timezone.now().date(),
        expires_at=timezone.now() + timedelta(days=6),
    )
    request = _running(account, beat_ago=timedelta(minutes=10), snapshot=snapshot)
    history_record(
        account=account,
        actor=None,
        event_type=EventType.ROLLBACK,
        details={"kind": "full", "snapshot": snapshot.pk, "pre_restore_snapshot": 99},
    )

    services.requests_watchdog()

    request.refresh_from_db()
    assert request.status == "completed"
    assert request.outcome["pre_restore_snapshot_id"] == 99
    account.refresh_from_db()
    assert account.maintenance is False


def test_an_orphaned_maintenance_is_lifted_after_a_while(account, other_account, settings):
    settings.SUPPORT_MAINTENANCE_STALE_MINUTES = 30
    Account.objects.filter(pk=account.pk).update(maintenance=True)
    now = timezone.now()

    assert services.requests_watchdog(now=now)["maintenance_lifted"] == 0
    assert services.requests_watchdog(now=now + timedelta(minutes=29))["maintenance_lifted"] == 0
    account.refresh_from_db()
    assert account.maintenance is True  # a restore_snapshot command may still be running

    assert services.requests_watchdog(now=now + timedelta(minutes=30))["maintenance_lifted"] == 1
    account.refresh_from_db()
    assert account.maintenance is False
    assert not MaintenanceWatch.objects.exists()
    [lifted] = Event.objects.filter(event_type=EventType.MAINTENANCE_OFF)
    assert (lifted.account_id, lifted.actor_id) == (account.pk, None)
    assert lifted.details == {"reason": "orphaned"}
    other_account.refresh_from_db()
    assert other_account.maintenance is False


def test_a_maintenance_that_ends_by_itself_is_forgotten(account):
    Account.objects.filter(pk=account.pk).update(maintenance=True)
    services.requests_watchdog()
    assert MaintenanceWatch.objects.filter(account=account).exists()
    Account.objects.filter(pk=account.pk).update(maintenance=False)

    services.requests_watchdog()

    assert not MaintenanceWatch.objects.exists()


def test_the_watchdog_sends_again_the_task_of_a_request_queued_too_long(
    account, settings, no_task_sent
):
    settings.SUPPORT_RESTORE_RESEND_MINUTES = 15
    old = request_make(account, status="queued", updated_at=timezone.now() - timedelta(minutes=16))

    assert services.requests_watchdog()["resent"] == 1
    assert no_task_sent == [old.pk]
    assert services.requests_watchdog()["resent"] == 0  # not again at once
    assert RestoreRequest.objects.get(pk=old.pk).status == "queued"


def test_the_watchdog_task_is_scheduled():
    from config.schedule import BEAT_SCHEDULE

    entries = [e for e in BEAT_SCHEDULE.values() if e["task"].startswith("support.")]
    assert [e["task"] for e in entries] == ["support.tasks.restore_requests_watchdog"]
    assert tasks.restore_requests_watchdog.apply().get() == {
        "interrupted": 0,
        "resent": 0,
        "maintenance_lifted": 0,
    }
    assert tasks.restore_request_run.acks_late is True
    assert tasks.restore_request_run.reject_on_worker_lost is True
    # A restore is long work: the long time limits, the soft one first.
    assert tasks.restore_request_run.soft_time_limit == django_settings.LONG_TASK_SOFT_TIME_LIMIT
    assert tasks.restore_request_run.time_limit == django_settings.LONG_TASK_TIME_LIMIT


def test_a_request_restores_the_account_to_a_proposed_moment(
    account, admin_user, support_user, api_as, emails
):
    """Support proposes a moment instead of a snapshot (``at``); the admin sees its preview
    and confirms; the run takes the account back to it: the deals deleted after it come back,
    the rename is undone, a company created after it is gone."""
    account_fill(account, actor=admin_user)
    assert backup_services.snapshot_take(account=account, kind="manual").status == "succeeded"
    at = timezone.now()
    deals = set(Deal.objects.for_account(account).values_list("pk", flat=True))
    company = Company.objects.for_account(account).first()
    title = company.title
    for deal in Deal.objects.filter(account=account):
        crm_services.record_delete(record=deal, actor=admin_user)
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Renamed"})
    later = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Later"}
    )
    request = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="full", message="Deals gone at 14:00."
    )

    proposed = api_as(support_user).post(
        f"/api/v1/support/requests/{request.pk}/propose/",
        {"at": at.isoformat(), "kind": "full"},
        format="json",
    )
    assert proposed.status_code == 200, proposed.content
    assert proposed.json()["restore_to"] is not None
    both = api_as(support_user).post(
        f"/api/v1/support/requests/{request.pk}/propose/",
        {"at": at.isoformat(), "snapshot": 1},
        format="json",
    )
    assert both.status_code == 400
    seen = api_as(admin_user).get(f"/api/v1/support/requests/{request.pk}/preview/")
    assert seen.status_code == 200, seen.content
    changes = seen.json()["changes"]
    assert changes["deal"]["restored"] == len(deals)
    assert changes["company"] == {"removed": 1, "restored": 0, "reverted": 1}

    request.refresh_from_db()
    services.request_confirm(request=request, user=admin_user)
    services.request_approve(request=request, user=support_user)
    assert services.request_run(request_id=request.pk) == "completed"

    request.refresh_from_db()
    assert request.status == "completed"
    assert request.outcome["restore_to"] == at.isoformat()
    assert set(Deal.objects.for_account(account).values_list("pk", flat=True)) == deals
    assert Company.objects.get(pk=company.pk).title == title
    assert not Company.objects.filter(pk=later.pk).exists()
    assert "back as it was at" in request.messages.filter(is_system=True).last().body


def test_the_console_suggests_and_proposes_a_moment(account, admin_user, support_user):
    from zoneinfo import ZoneInfo

    from conftest import login_client

    account_fill(account, actor=admin_user)
    taken = backup_services.snapshot_take(account=account, kind="manual")
    # Taken a while before the burst (the suggestion is a whole minute before it).
    Snapshot.objects.filter(pk=taken.pk).update(taken_at=taken.taken_at - timedelta(minutes=10))
    for deal in Deal.objects.filter(account=account):  # the burst
        crm_services.record_delete(record=deal, actor=admin_user)
    first = Event.objects.filter(event_type="delete").order_by("id").first().occurred_at
    request = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="recover", message="Deals gone."
    )
    console = login_client(support_user)
    page = console.get(f"/console/requests/{request.pk}/")
    suggested = first.replace(second=0, microsecond=0) - timedelta(minutes=1)
    local = suggested.astimezone(ZoneInfo(account.time_zone)).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{local}"' in page.text
    console.post(f"/console/requests/{request.pk}/propose/", {"at": local, "kind": "recover"})
    request.refresh_from_db()
    assert request.status == "proposed" and request.restore_to == suggested
