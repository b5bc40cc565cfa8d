"""Issue 18's rules for what an account may ask for: the weekly limit counts only full and
entities restores; an ``undo`` goes back to the latest completed restore's safety snapshot
within 48 hours, never refused by the limit. Through the services, the API and a whole run
(the task's body, this process) that takes a recover back."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backups import services as backup_services
from backups.models import Snapshot
from backups.tests.factories import account_fill, live_rows
from core.errors import RuleViolation
from crm.models import Company
from recyclebin import services as bin_services
from support import rules, selectors, services, tasks
from support.models import RestoreRequest
from support.tests.factories import recover_run, request_make, support_state

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "/api/v1/support/requests/"
Status = RestoreRequest.Status


@pytest.fixture(autouse=True)
def no_task_sent(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(services.run, "task_send", lambda request_id: sent.append(request_id))
    return sent


def _safety(account) -> Snapshot:
    return backup_services.snapshot_take(account=account, kind="pre_restore")


def _restored(account, *, ago: timedelta, kind: str = "recover") -> RestoreRequest:
    """A completed restore ``ago``, with its safety snapshot kept."""
    safety = _safety(account)
    now = timezone.now()
    return request_make(
        account,
        status=Status.COMPLETED,
        kind=kind,
        started_at=now - ago - timedelta(minutes=1),
        completed_at=now - ago,
        outcome={"kind": kind, "pre_restore_snapshot_id": safety.pk, "counts": {}},
    )


def test_nothing_to_undo_is_refused_with_its_reason_and_changes_nothing(
    account, admin_user, snapshot_dir, api
):
    before = support_state()
    answer = api.post(BASE, {"kind": "undo", "message": "Take it back."}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (409, "nothing_to_undo")
    assert "within 48 hours" in answer.json()["detail"]
    assert support_state() == before


def test_undo_within_48_hours_is_filed_without_a_time_and_aims_at_the_safety_snapshot(
    account, admin_user, api
):
    last = _restored(account, ago=timedelta(hours=47, minutes=59))
    answer = api.post(BASE, {"kind": "undo", "message": "Take it back."}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["kind"] == "undo"
    assert body["snapshot"] == last.outcome["pre_restore_snapshot_id"]
    assert body["lost_at"] is not None  # when the undone restore started


def test_undo_after_48_hours_is_refused(account, admin_user):
    last = _restored(account, ago=timedelta(hours=48, seconds=1))
    assert selectors.undo_target(account=account) is None
    with pytest.raises(RuleViolation) as refused:
        rules.undo_target_require(account=account)
    assert refused.value.code == "nothing_to_undo"
    # Exactly 48 hours after: still possible.
    assert selectors.undo_target(account=account, now=last.completed_at + timedelta(hours=48)) == (
        last,
        Snapshot.objects.get(pk=last.outcome["pre_restore_snapshot_id"]),
    )


def test_undo_is_never_refused_by_the_weekly_limit(account, admin_user, api):
    _restored(account, ago=timedelta(hours=1), kind="full")
    full = api.post(
        BASE,
        {"kind": "full", "lost_at": timezone.now().isoformat(), "message": "Again"},
        format="json",
    )
    assert (full.status_code, full.json()["code"]) == (409, "weekly_limit")
    undo = api.post(BASE, {"kind": "undo", "message": "Take it back."}, format="json")
    assert undo.status_code == 201, undo.content


def test_other_kinds_still_need_the_time_of_the_loss(account, admin_user, api):
    _restored(account, ago=timedelta(hours=1))
    answer = api.post(BASE, {"kind": "recover", "message": "Gone"}, format="json")
    assert answer.status_code == 400
    assert RestoreRequest.objects.filter(status=Status.OPEN).count() == 0


def test_an_undo_goes_to_that_safety_snapshot_only(account, admin_user, support_user):
    last = _restored(account, ago=timedelta(hours=2))
    other = backup_services.snapshot_take(account=account, kind="manual")
    request = services.request_file(user=admin_user, kind="undo", message="Back, please.")
    with pytest.raises(RuleViolation) as refused:
        services.request_propose(request=request, user=support_user, snapshot=other)
    assert refused.value.code == "invalid"
    services.request_propose(request=request, user=support_user)
    request.refresh_from_db()
    assert (request.status, request.snapshot_id) == (
        Status.PROPOSED,
        last.outcome["pre_restore_snapshot_id"],
    )


def test_another_accounts_restore_is_not_undone(account, admin_user, other_account, api):
    _restored(other_account, ago=timedelta(hours=1))
    answer = api.post(BASE, {"kind": "undo", "message": "Back"}, format="json")
    assert answer.json()["code"] == "nothing_to_undo"


def test_an_undo_takes_a_recover_back_and_says_what_each_did(
    account, admin_user, support_user, emails
):
    """A recover brings two companies back; the undo's run puts the account back as it was
    just before the recover (its safety snapshot), and the chat says, kind by kind, what
    happened."""
    account_fill(account, actor=admin_user)
    kept = backup_services.snapshot_take(account=account, kind="manual")
    gone = list(Company.objects.for_account(account).order_by("pk")[:2])
    for company in gone:
        entry = bin_services.bin_delete(record=company, actor=admin_user)
        bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)
    without = live_rows(account)

    recover = recover_run(admin_user=admin_user, support_user=support_user, snapshot=kept)
    assert live_rows(account) != without
    lines = [m.body for m in recover.messages.filter(is_system=True).order_by("id")]
    assert "records gone since the snapshot come back; nothing that exists is changed" in (lines[2])
    assert lines[-1].startswith("The recover completed: 2 records brought back")
    assert "back as in snapshot" not in " ".join(lines)

    undo = services.request_file(user=admin_user, kind="undo", message="Not these after all.")
    services.request_propose(request=undo, user=support_user)
    preview = services.request_preview(request=undo, user=admin_user, via="page")
    assert preview.refusal is None
    assert sum(n.get("removed", 0) for n in preview.changes.values()) >= 2
    services.request_confirm(request=undo, user=admin_user)
    services.request_approve(request=undo, user=support_user)
    assert tasks.restore_request_run.apply(args=[undo.pk]).get() == "completed"
    assert live_rows(account) == without
    undo.refresh_from_db()
    last = undo.messages.filter(is_system=True).order_by("id").last()
    assert last.body.startswith("The undo completed: the account's data is back as in the safety")
    # Neither counts towards the weekly limit: a full restore may still be filed.
    assert selectors.last_completed_restore(account=account) is None
