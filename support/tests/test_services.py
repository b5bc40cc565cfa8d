"""The restore request workflow through support.services: every rule refuses with its code and
changes nothing; every step writes its state, a system line, a history event and the
notifications; emails leave on commit and a broken mail server breaks nothing."""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.errors import RuleViolation
from history.models import Event
from support import rules, selectors, services
from support.models import Message, Notification, RestoreRequest
from support.subjects import RESTORE_REQUEST, RequestEvent
from support.tests.factories import request_make, snapshot_kept, support_state

pytestmark = pytest.mark.django_db

Status = RestoreRequest.Status


def file(user, **kwargs) -> RestoreRequest:
    values = {
        "lost_at": timezone.now() - timedelta(minutes=5),
        "kind": "full",
        "entity_types": [],
        "message": "All deals of today are gone.",
    }
    values.update(kwargs)
    return services.request_file(user=user, **values)


def refused(code: str, call, *args, **kwargs) -> RuleViolation:
    before = support_state()
    with pytest.raises(RuleViolation) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    assert caught.value.message
    assert support_state() == before
    return caught.value


@pytest.fixture
def kept(account):
    return snapshot_kept(account, taken_at=timezone.now() - timedelta(days=2))


@pytest.fixture
def proposed(account, admin_user, support_user, kept):
    request = file(admin_user)
    return services.request_propose(request=request, user=support_user)


@pytest.fixture
def confirmed(proposed, admin_user):
    return services.request_confirm(request=proposed, user=admin_user)


# --- Filing ------------------------------------------------------------------------------------


def test_an_admin_files_a_request(account, admin_user, kept, emails, support_user):
    lost_at = timezone.now() - timedelta(hours=3)

    request = file(admin_user, lost_at=lost_at, kind="entities", entity_types=["deal", "company"])

    request.refresh_from_db()
    assert request.status == Status.OPEN
    assert request.account == account
    assert request.requested_by == admin_user
    assert request.entity_types == ["company", "deal"]  # the usual order
    assert request.lost_at == lost_at
    (line,) = Message.objects.filter(request=request)
    assert line.is_system and line.author is None and admin_user.username in line.body
    (event,) = Event.objects.filter(account=account, event_type=RequestEvent.REQUEST_FILED)
    assert (event.entity_type, event.entity_id, event.actor_id) == (
        RESTORE_REQUEST,
        request.pk,
        admin_user.pk,
    )
    assert event.details["kind"] == "entities"
    # Support is told; the admin who filed it is not.
    assert list(Notification.objects.values_list("recipient", "verb")) == [
        (support_user.pk, "filed")
    ]


def test_emails_leave_on_commit_to_support_and_the_other_admins(
    account,
    admin_user,
    kept,
    emails,
    support_user,
    support_colleague,
    django_capture_on_commit_callbacks,
):
    from accounts.services import user_create

    second_admin = user_create(
        username="acme-admin-2",
        password="x",
        account=account,
        role="admin",
        email="admin2@example.com",
        check_password=False,
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        file(admin_user)
    assert mail.outbox == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert sorted(to for message in mail.outbox for to in message.to) == sorted(
        [support_user.email, support_colleague.email, second_admin.email]
    )
    assert all("was filed" in message.subject for message in mail.outbox)
    assert "All deals of today are gone." in mail.outbox[0].body


def test_a_failing_mail_server_breaks_nothing_and_is_logged(
    account, admin_user, kept, emails, settings, caplog, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "support.tests.test_services.BrokenEmailBackend"
    with (
        caplog.at_level(logging.ERROR, logger="support.notifications"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        request = file(admin_user)

    assert RestoreRequest.objects.get(pk=request.pk).status == Status.OPEN
    assert Notification.objects.filter(request=request).exists()
    assert "could not send" in caplog.text


class BrokenEmailBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


@pytest.mark.parametrize("plan", ["free", "basic"])
def test_the_plan_must_include_restore_requests(account, admin_user, kept, plan):
    account.plan = plan
    account.save()
    refused("plan_not_eligible", file, admin_user)


@pytest.mark.parametrize("plan", ["standard", "professional"])
def test_standard_and_professional_may_file(account, admin_user, kept, plan):
    account.plan = plan
    account.save()
    assert file(admin_user).status == Status.OPEN


def test_only_admins_file(employee, support_user, kept):
    refused("admin_only", file, employee)
    refused("admin_only", file, support_user)


def test_one_open_request_per_account(account, admin_user, other_admin, kept):
    snapshot_kept(other_admin.account, taken_at=timezone.now() - timedelta(days=1))
    first = file(admin_user)
    for status in RestoreRequest.OPEN_STATUSES:
        RestoreRequest.objects.filter(pk=first.pk).update(status=status)
        violation = refused("request_open", file, admin_user)
        assert f"#{first.pk}" in violation.message
    file(other_admin)  # another account is not concerned

    for status in (Status.COMPLETED, Status.FAILED, Status.REJECTED, Status.CANCELLED):
        RestoreRequest.objects.filter(account=account).update(status=status)
        if status == Status.COMPLETED:
            continue  # the weekly limit applies then, see below
        assert file(admin_user).status == Status.OPEN
        RestoreRequest.objects.filter(account=account, status=Status.OPEN).delete()


def test_the_database_refuses_a_second_open_request_whatever_the_code(
    account, admin_user, kept, monkeypatch
):
    first = file(admin_user)
    # As if the check had run before the first one was written (two filings at once).
    monkeypatch.setattr(rules, "no_open_request_require", lambda **kwargs: None)

    violation = refused("request_open", file, admin_user)

    assert f"#{first.pk}" in violation.message
    assert RestoreRequest.objects.count() == 1


def _completed_ago(account, delta: timedelta, kind: str = "full") -> RestoreRequest:
    now = timezone.now()
    return request_make(
        account, status=Status.COMPLETED, kind=kind, completed_at=now - delta, created_at=now
    )


@pytest.mark.parametrize("kind", ["full", "entities"])
def test_weekly_limit_6_days_23_hours_after_a_restore_is_refused(account, admin_user, kept, kind):
    last = _completed_ago(account, timedelta(days=6, hours=23), kind=kind)
    violation = refused("weekly_limit", file, admin_user)
    assert f"#{last.pk}" in violation.message
    assert "A recover" in violation.message and "an export" in violation.message  # what works
    violation = refused("weekly_limit", file, admin_user, kind="entities", entity_types=["deal"])


@pytest.mark.parametrize("kind", ["recover", "export", "undo"])
def test_recovers_exports_and_undos_do_not_count_towards_the_weekly_limit(
    account, admin_user, kept, kind
):
    """Issue 18: one small recover locked the account out of restores for a week."""
    _completed_ago(account, timedelta(hours=1), kind=kind)
    assert file(admin_user).status == Status.OPEN  # a full restore


@pytest.mark.parametrize("kind", ["recover", "export"])
def test_recovers_and_exports_are_never_refused_by_the_weekly_limit(
    account, admin_user, kept, kind
):
    _completed_ago(account, timedelta(hours=1), kind="full")
    assert file(admin_user, kind=kind).status == Status.OPEN


def test_weekly_limit_7_days_after_a_restore_is_allowed(account, admin_user, kept):
    _completed_ago(account, timedelta(days=7, minutes=1))
    assert file(admin_user).status == Status.OPEN


def test_weekly_limit_is_exactly_7_days_after_completed_at(account):
    last = _completed_ago(account, timedelta(days=1))
    limit = last.completed_at + timedelta(days=7)

    with pytest.raises(RuleViolation):
        rules.weekly_limit_require(account=account, now=limit - timedelta(microseconds=1))
    rules.weekly_limit_require(account=account, now=limit)  # allowed at exactly 7 days


@pytest.mark.parametrize("status", ["failed", "rejected", "cancelled"])
def test_requests_that_changed_nothing_do_not_count_for_the_weekly_limit(
    account, admin_user, kept, status
):
    request_make(account, status=status, completed_at=timezone.now() - timedelta(hours=1))
    assert file(admin_user).status == Status.OPEN


def test_the_weekly_limit_is_per_account(account, admin_user, other_account, kept):
    _completed_ago(other_account, timedelta(hours=1))
    assert file(admin_user).status == Status.OPEN


def test_lost_at_just_after_the_oldest_kept_snapshot_is_allowed(account, admin_user):
    oldest = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=6, hours=20))
    snapshot_kept(account, taken_at=timezone.now() - timedelta(days=1))

    assert file(admin_user, lost_at=oldest.taken_at + timedelta(seconds=1)).status == "open"
    RestoreRequest.objects.all().delete()
    assert file(admin_user, lost_at=oldest.taken_at).status == "open"


def test_lost_at_before_the_oldest_kept_snapshot_is_outside_retention(account, admin_user):
    oldest = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=6, hours=20))

    violation = refused(
        "outside_retention", file, admin_user, lost_at=oldest.taken_at - timedelta(seconds=1)
    )
    assert "oldest" in violation.message and account.time_zone in violation.message


def test_expired_failed_and_other_accounts_snapshots_do_not_count(
    account, admin_user, other_account
):
    now = timezone.now()
    snapshot_kept(account, taken_at=now - timedelta(days=8))  # expired a day ago
    snapshot_kept(account, taken_at=now - timedelta(days=2), status="failed")
    snapshot_kept(other_account, taken_at=now - timedelta(days=2))

    refused("outside_retention", file, admin_user, lost_at=now - timedelta(days=1))


def test_no_snapshot_at_all_is_outside_retention(admin_user):
    violation = refused("outside_retention", file, admin_user)
    assert "no snapshot" in violation.message


def test_a_loss_in_the_future_is_refused(admin_user, kept):
    refused("outside_retention", file, admin_user, lost_at=timezone.now() + timedelta(hours=1))


@pytest.mark.parametrize(
    ("kind", "entity_types"), [("entities", []), ("entities", ["deal", "nope"]), ("magic", [])]
)
def test_kind_and_entity_types_are_checked(admin_user, kept, kind, entity_types):
    refused("invalid", file, admin_user, kind=kind, entity_types=entity_types)


def test_other_kinds_keep_no_entity_types(admin_user, kept):
    assert file(admin_user, kind="recover", entity_types=["deal"]).entity_types == []


# --- Propose, confirm, approve -----------------------------------------------------------------


def test_support_proposes_the_newest_snapshot_before_the_loss_by_default(
    account, admin_user, support_user, emails
):
    now = timezone.now()
    older = snapshot_kept(account, taken_at=now - timedelta(days=3))
    before = snapshot_kept(account, taken_at=now - timedelta(days=1))
    snapshot_kept(account, taken_at=now - timedelta(hours=1))  # after the loss
    request = file(admin_user, lost_at=now - timedelta(hours=5), kind="recover")
    assert selectors.request_default_snapshot(request=request) == before

    proposed = services.request_propose(request=request, user=support_user)

    assert (proposed.status, proposed.snapshot, proposed.kind) == ("proposed", before, "recover")
    assert proposed.proposed_by == support_user
    # Proposing again while proposed replaces the proposal.
    again = services.request_propose(
        request=request, user=support_user, snapshot=older, kind="entities", entity_types=["deal"]
    )
    assert (again.snapshot, again.kind, again.entity_types) == (older, "entities", ["deal"])
    assert Event.objects.filter(event_type=RequestEvent.REQUEST_PROPOSED).count() == 2
    assert Notification.objects.filter(recipient=admin_user, verb="proposed").count() == 2


def test_a_proposal_needs_a_kept_snapshot_of_the_account(
    account, admin_user, support_user, other_account, kept
):
    request = file(admin_user)
    theirs = snapshot_kept(other_account)
    expired = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=9))

    for snapshot in (theirs, expired):
        refused(
            "outside_retention",
            services.request_propose,
            request=request,
            user=support_user,
            snapshot=snapshot,
        )


def test_no_default_snapshot_is_refused(account, admin_user, support_user, kept):
    request = file(admin_user, lost_at=kept.taken_at + timedelta(minutes=1))
    RestoreRequest.objects.filter(pk=request.pk).update(lost_at=kept.taken_at - timedelta(hours=1))
    request.refresh_from_db()
    refused("outside_retention", services.request_propose, request=request, user=support_user)


def test_an_export_can_be_proposed_or_turned_into_a_restore(admin_user, support_user, kept):
    request = file(admin_user, kind="export")
    assert request.kind == "export"  # it may be asked for
    proposed = services.request_propose(request=request, user=support_user)
    assert (proposed.kind, proposed.snapshot) == ("export", kept)
    assert services.request_propose(request=request, user=support_user, kind="recover").kind == (
        "recover"
    )


def test_only_support_proposes_approves_and_rejects(proposed, admin_user, employee, other_admin):
    confirmed = services.request_confirm(request=proposed, user=admin_user)
    for user in (admin_user, employee, other_admin):
        refused("support_only", services.request_propose, request=confirmed, user=user)
        refused("support_only", services.request_approve, request=confirmed, user=user)
        refused("support_only", services.request_reject, request=confirmed, user=user, reason="x")


def test_only_the_accounts_admins_confirm_and_cancel(proposed, employee, support_user, other_admin):
    for user in (employee, support_user):
        refused("admin_only", services.request_confirm, request=proposed, user=user)
        refused("admin_only", services.request_cancel, request=proposed, user=user)
    before = support_state()
    for call in (services.request_confirm, services.request_cancel):
        refused("not_found", call, request=proposed, user=other_admin)  # as a missing one
    assert support_state() == before


def test_confirm_and_approve_queue_the_task_once_on_commit(
    confirmed, support_user, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(services.run, "task_send", lambda request_id: sent.append(request_id))
    assert confirmed.status == "confirmed" and confirmed.confirmed_by == admin_user

    with django_capture_on_commit_callbacks(execute=True):
        approved = services.request_approve(request=confirmed, user=support_user)
    assert sent == [approved.pk]
    assert (approved.status, approved.approved_by, approved.step) == (
        "queued",
        support_user,
        "queued",
    )

    with django_capture_on_commit_callbacks(execute=True):
        refused("invalid_state", services.request_approve, request=confirmed, user=support_user)
    assert sent == [approved.pk]  # approving twice queues it once


def test_approval_rechecks_the_plan_and_the_snapshot(confirmed, support_user, account):
    account.plan = "basic"
    account.save()
    refused("plan_not_eligible", services.request_approve, request=confirmed, user=support_user)
    account.plan = "standard"
    account.save()
    confirmed.snapshot.delete()  # expired meanwhile: the request keeps no snapshot
    confirmed.refresh_from_db()
    refused("outside_retention", services.request_approve, request=confirmed, user=support_user)


TRANSITIONS = {
    # action: the statuses it is allowed from
    "propose": {"open", "proposed"},
    "confirm": {"proposed"},
    "approve": {"confirmed"},
    "reject": {"open", "proposed", "confirmed"},
    "cancel": {"open", "proposed", "confirmed"},
}


def _act(action, request, *, admin, support):
    if action == "propose":
        return services.request_propose(request=request, user=support)
    if action == "confirm":
        return services.request_confirm(request=request, user=admin)
    if action == "approve":
        return services.request_approve(request=request, user=support)
    if action == "reject":
        return services.request_reject(request=request, user=support, reason="Not possible.")
    return services.request_cancel(request=request, user=admin)


@pytest.mark.parametrize("action", TRANSITIONS)
@pytest.mark.parametrize("status", [s.value for s in Status])
def test_every_action_in_every_state(account, admin_user, support_user, kept, action, status):
    request = request_make(account, status=status, snapshot=kept, lost_at=timezone.now())
    if status in TRANSITIONS[action]:
        result = _act(action, request, admin=admin_user, support=support_user)
        expected = {
            "propose": "proposed",
            "confirm": "confirmed",
            "approve": "queued",
            "reject": "rejected",
            "cancel": "cancelled",
        }[action]
        assert result.status == expected
        assert RestoreRequest.objects.get(pk=request.pk).status == expected
    else:
        refused("invalid_state", _act, action, request, admin=admin_user, support=support_user)


def test_reject_needs_a_reason_and_tells_the_admin(proposed, support_user, admin_user, emails):
    refused("invalid", services.request_reject, request=proposed, user=support_user, reason=" ")

    rejected = services.request_reject(
        request=proposed, user=support_user, reason="The snapshot is too old."
    )

    assert (rejected.status, rejected.reject_reason) == ("rejected", "The snapshot is too old.")
    assert Notification.objects.filter(recipient=admin_user, verb="rejected").exists()
    event = Event.objects.get(event_type=RequestEvent.REQUEST_REJECTED)
    assert event.details["reason"] == "The snapshot is too old."


def test_cancel_ends_the_request_and_frees_the_account(proposed, admin_user, kept):
    services.request_cancel(request=proposed, user=admin_user)

    assert RestoreRequest.objects.get(pk=proposed.pk).status == "cancelled"
    assert Event.objects.filter(event_type=RequestEvent.REQUEST_CANCELLED).count() == 1
    assert file(admin_user).status == "open"  # a new one may be filed


def test_every_step_is_a_history_event_and_a_system_line(account, admin_user, support_user, kept):
    request = file(admin_user)
    services.request_propose(request=request, user=support_user)
    services.request_confirm(request=request, user=admin_user)
    services.request_approve(request=request, user=support_user)

    events = Event.objects.filter(account=account, entity_type=RESTORE_REQUEST).order_by("id")
    assert [(e.event_type, e.actor_username) for e in events] == [
        ("request_filed", admin_user.username),
        ("request_proposed", support_user.username),
        ("request_confirmed", admin_user.username),
        ("request_approved", support_user.username),
    ]
    assert all(e.entity_id == request.pk for e in events)
    assert Message.objects.filter(request=request, is_system=True).count() == 4


# --- Chat and notifications --------------------------------------------------------------------


def test_the_chat_between_admins_and_support(
    proposed,
    admin_user,
    support_user,
    employee,
    other_admin,
    emails,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        question = services.message_post(
            request=proposed, user=admin_user, body="  Will we lose today's calls?  "
        )
    answer = services.message_post(request=proposed, user=support_user, body="Yes, see preview.")

    assert (question.body, question.is_support, question.author) == (
        "Will we lose today's calls?",
        False,
        admin_user,
    )
    assert answer.is_support and not answer.is_system
    assert [m.body for m in selectors.messages_for(request=proposed) if not m.is_system] == [
        "Will we lose today's calls?",
        "Yes, see preview.",
    ]
    assert [m.to for m in mail.outbox if "New message" in m.subject] == [[support_user.email]]
    assert Notification.objects.filter(recipient=admin_user, verb="message").count() == 1

    refused("admin_only", services.message_post, request=proposed, user=employee, body="hi")
    refused("invalid", services.message_post, request=proposed, user=admin_user, body="   ")
    refused("invalid", services.message_post, request=proposed, user=admin_user, body="x" * 5001)
    refused("not_found", services.message_post, request=proposed, user=other_admin, body="hi")


def test_notifications_unread_and_mark_read(proposed, admin_user, support_user):
    services.message_post(request=proposed, user=support_user, body="One")
    services.message_post(request=proposed, user=support_user, body="Two")
    assert selectors.unread_count(user=admin_user) == 3  # proposed + two messages
    first = selectors.notifications_for(user=admin_user).last()

    assert services.notifications_mark_read(user=admin_user, ids=[first.pk]) == 1
    assert selectors.unread_count(user=admin_user) == 2
    assert services.notifications_mark_read(user=support_user, ids=[first.pk]) == 0  # not theirs
    assert services.notifications_mark_read(user=admin_user) == 2
    assert selectors.unread_count(user=admin_user) == 0


def test_allowed_actions_follow_the_state_and_the_role(
    proposed, admin_user, support_user, employee, other_admin
):
    assert selectors.request_allowed_actions(request=proposed, user=support_user) == {
        "propose",
        "reject",
        "message",
    }
    assert selectors.request_allowed_actions(request=proposed, user=admin_user) == {
        "confirm",
        "cancel",
        "message",
    }
    assert selectors.request_allowed_actions(request=proposed, user=employee) == set()
    assert selectors.request_allowed_actions(request=proposed, user=other_admin) == set()


def test_requests_visible_by_role(account, other_account, admin_user, support_user, employee):
    old = request_make(account, status="completed", created_at=timezone.now() - timedelta(days=9))
    mine = request_make(account, created_at=timezone.now() - timedelta(days=1))
    theirs = request_make(other_account, created_at=timezone.now() - timedelta(days=2))

    assert list(selectors.requests_visible(user=admin_user)) == [mine, old]
    assert list(selectors.requests_visible(user=employee)) == []
    # Support: every account, open ones first, who waited longest first.
    assert list(selectors.requests_visible(user=support_user)) == [theirs, mine, old]
    assert list(selectors.requests_visible(user=support_user, account=other_account)) == [theirs]
    assert list(selectors.requests_visible(user=support_user, status="completed")) == [old]
    assert list(selectors.requests_visible(user=support_user, older_than=timedelta(days=3))) == [
        old
    ]
    refused("not_found", selectors.request_get, user=admin_user, request_id=theirs.pk)
    refused("not_found", selectors.request_get, user=admin_user, request_id="nope")
    assert selectors.request_get(user=support_user, request_id=theirs.pk) == theirs
