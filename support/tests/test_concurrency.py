"""Two of the same at the same moment, on two connections (PostgreSQL: real row locks and a
real partial unique index under concurrent transactions): two filings give one request, two
approvals queue one task, two deliveries run one restore."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backups.restore import RestoreOutcome
from core.errors import RuleViolation
from support import rules, services
from support.models import RestoreRequest
from support.tests.factories import request_make, snapshot_kept
from tests.concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


def test_two_simultaneous_filings_give_one_request(account, admin_user, monkeypatch):
    snapshot_kept(account, taken_at=timezone.now() - timedelta(days=1))
    # Both pass the "no open request" check before either writes: only the database's
    # constraint can stop the second.
    checked = threading.Barrier(2)
    weekly = rules.weekly_limit_require

    def both_checked(**kwargs):
        weekly(**kwargs)
        checked.wait(timeout=10)

    monkeypatch.setattr(rules, "weekly_limit_require", both_checked)

    def file():
        return services.request_file(
            user=admin_user, lost_at=timezone.now(), kind="full", message="Gone."
        )

    results = at_once(file, file)

    created = [r for r in results if isinstance(r, RestoreRequest)]
    refused = [r for r in results if isinstance(r, RuleViolation)]
    assert len(created) == 1 and len(refused) == 1, results
    assert refused[0].code == "request_open"
    assert f"#{created[0].pk}" in refused[0].message
    assert RestoreRequest.objects.count() == 1


def test_two_simultaneous_approvals_queue_one_task(account, support_user, monkeypatch):
    snapshot = snapshot_kept(account)
    request = request_make(account, status="confirmed", snapshot=snapshot)
    sent = []
    monkeypatch.setattr(services.run, "task_send", lambda request_id: sent.append(request_id))
    colleague = type(support_user).objects.create(username="support-b", is_support=True)

    results = at_once(
        lambda: services.request_approve(request=request, user=support_user),
        lambda: services.request_approve(request=request, user=colleague),
    )

    approved = [r for r in results if isinstance(r, RestoreRequest)]
    refused = [r for r in results if isinstance(r, RuleViolation)]
    assert len(approved) == 1 and len(refused) == 1, results
    assert refused[0].code == "invalid_state"
    assert sent == [request.pk]
    assert RestoreRequest.objects.get(pk=request.pk).status == "queued"


def test_a_cancel_and_an_approval_at_once(account, admin_user, support_user, monkeypatch):
    """The admin cancels while support approves, 20 times: exactly one wins, the other is
    refused as a step that no longer applies (409 invalid_state); a cancelled request never
    runs, an approved one is never marked cancelled."""
    sent = []
    monkeypatch.setattr(services.run, "task_send", lambda request_id: sent.append(request_id))
    snapshot = snapshot_kept(account)
    for _ in range(20):
        request = request_make(account, status="confirmed", snapshot=snapshot)
        sent.clear()

        cancelled, approved = at_once(
            lambda request=request: services.request_cancel(request=request, user=admin_user),
            lambda request=request: services.request_approve(request=request, user=support_user),
        )

        status = RestoreRequest.objects.get(pk=request.pk).status
        if isinstance(cancelled, RestoreRequest):
            assert isinstance(approved, RuleViolation) and approved.code == "invalid_state"
            assert (status, sent) == ("cancelled", [])
        else:
            assert isinstance(cancelled, RuleViolation) and cancelled.code == "invalid_state"
            assert isinstance(approved, RestoreRequest), approved
            assert (status, sent) == ("queued", [request.pk])
        RestoreRequest.objects.filter(pk=request.pk).update(status="completed")


def test_a_task_delivered_twice_at_once_runs_the_restore_once(account, monkeypatch):
    snapshot = snapshot_kept(account)
    request = request_make(account, status="queued", snapshot=snapshot)
    runs = []

    def slow_restore(**kwargs):
        runs.append(kwargs["snapshot"].pk)
        time.sleep(0.5)
        return RestoreOutcome(kind="full", snapshot_id=snapshot.pk, pre_restore_snapshot_id=0)

    monkeypatch.setattr(services.run, "snapshot_restore", slow_restore)

    results = at_once(
        lambda: services.request_run(request_id=request.pk),
        lambda: services.request_run(request_id=request.pk),
    )

    assert sorted(results) == ["completed", "skipped"]
    assert runs == [snapshot.pk]
    assert RestoreRequest.objects.get(pk=request.pk).status == "completed"
