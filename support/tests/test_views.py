"""The support portal's browser pages: the admins' restore requests (list, form, detail with
chat, preview, confirm, cancel, progress), the support console (list with filters, detail with
snapshots, preview, propose, approve, reject) and the notifications. Every page for every role
(admin, employee, another account's admin, support, anonymous), and a refused call changes
nothing: no request, no message, no notification, no history event, no task."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from conftest import login_client, totp_code
from crm.models import Company
from crm.tests.factories import CompanyFactory
from history.models import Event
from recyclebin import services as bin_services
from support import display, services
from support.models import Message, Notification, RestoreRequest

# Snapshots open their own transactions, so the tests run outside one.
pytestmark = pytest.mark.django_db(transaction=True)

Status = RestoreRequest.Status

LIST = reverse("support:request_list")
NEW = reverse("support:request_new")
CONSOLE = reverse("support:console")
NOTIFICATIONS = reverse("support:notifications")


@pytest.fixture(autouse=True)
def snapshot_dir(settings, tmp_path):
    """Snapshot files go to a temporary folder, never to var/."""
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "backups.storage.PrivateFileSystemStorage",
            "OPTIONS": {
                "location": tmp_path / "snapshots",
                "base_url": None,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        },
    }


SENT: list[int] = []


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[int]:
    """The restore tasks approvals send, recorded instead of sent to a broker."""
    SENT.clear()
    monkeypatch.setattr(services.run, "task_send", lambda *, request_id: SENT.append(request_id))
    return SENT


def client_for(user) -> Client:
    """A logged-in browser (support staff: with the second factor given)."""
    return login_client(user) if user is not None else Client()


def user_of(request, role: str | None):
    fixtures = {"admin": "admin_user", "support": "support_user"}
    return request.getfixturevalue(fixtures.get(role, role)) if role else None


def state() -> dict:
    """Everything the support pages touch, all accounts."""
    return {
        "requests": list(RestoreRequest.objects.order_by("pk").values()),
        "messages": Message.objects.count(),
        "notifications": list(Notification.objects.order_by("pk").values("pk", "read_at")),
        "events": Event.objects.count(),
        "tasks": list(SENT),
    }


def snapshot_of(account, *, hours_ago: float = 3, kind=Snapshot.Kind.NIGHTLY) -> Snapshot:
    """A finished snapshot of the account, as if taken ``hours_ago``."""
    snapshot = snapshot_take(account=account, kind=kind)
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    Snapshot.objects.filter(pk=snapshot.pk).update(
        taken_at=timezone.now() - timedelta(hours=hours_ago)
    )
    snapshot.refresh_from_db()
    return snapshot


def lost(account, admin, titles=("Müller GmbH",)) -> list[int]:
    """Companies deleted and purged from the bin: truly lost. Returns their ids."""
    ids = []
    for title in titles:
        company = Company.objects.for_account(account).get(title=title)
        entry = bin_services.bin_delete(record=company, actor=admin)
        bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin)
        ids.append(company.pk)
    return ids


@pytest.fixture
def snapshot(account):
    CompanyFactory(account=account, title="Müller GmbH")
    CompanyFactory(account=account, title="Schmidt AG")
    return snapshot_of(account)


@pytest.fixture
def filed(account, admin_user, snapshot) -> RestoreRequest:
    lost(account, admin_user)
    return services.request_file(
        user=admin_user,
        lost_at=timezone.now() - timedelta(hours=1),
        kind="recover",
        entity_types=[],
        message="A colleague deleted Müller GmbH and emptied the bin.",
    )


@pytest.fixture
def proposed(filed, support_user, snapshot) -> RestoreRequest:
    return services.request_propose(
        request=filed, user=support_user, snapshot=snapshot, kind="recover", entity_types=[]
    )


@pytest.fixture
def confirmed(proposed, admin_user) -> RestoreRequest:
    return services.request_confirm(request=proposed, user=admin_user)


@pytest.fixture
def other_filed(other_account, other_admin) -> RestoreRequest:
    CompanyFactory(account=other_account, title="Globex Corp")
    snapshot_of(other_account)
    return services.request_file(
        user=other_admin,
        lost_at=timezone.now() - timedelta(minutes=30),
        kind="full",
        entity_types=[],
        message="Globex lost everything.",
    )


def admin_urls(pk: int) -> dict[str, str]:
    return {
        name: reverse(f"support:request_{name}", args=[pk])
        for name in ("detail", "progress", "message", "confirm", "cancel")
    }


def console_urls(pk: int) -> dict[str, str]:
    return {
        name: reverse(f"support:console_{name}", args=[pk])
        for name in ("detail", "message", "propose", "approve", "reject")
    }


# --- Who may open the admin pages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("employee", 403), ("other_admin", 200), ("support", 403), (None, 302)],
)
@pytest.mark.parametrize("page", ["list", "new", "detail", "progress"])
def test_who_may_open_the_admin_pages(request, filed, role, status, page):
    url = {"list": LIST, "new": NEW, **admin_urls(filed.pk)}[page]
    if role == "other_admin" and page in ("detail", "progress"):
        status = 404  # another account's request does not exist for them
    if role == "support" and page == "progress":
        status = 200  # the console's progress bar reads the same endpoint
    response = client_for(user_of(request, role)).get(url)
    assert response.status_code == status
    content = response.content.decode()
    if status == 302:
        assert response["Location"].startswith(reverse("login"))
    if role == "employee":
        assert "Only account admins can file restore requests." in content
    if role == "other_admin":
        assert "Müller" not in content and "A colleague deleted" not in content


def test_the_list_shows_only_the_accounts_requests(admin_user, filed, other_filed):
    response = client_for(admin_user).get(LIST)
    assert [row["req"] for row in response.context["rows"]] == [filed]
    content = response.content.decode()
    assert f'href="{admin_urls(filed.pk)["detail"]}"' in content
    assert "Globex" not in content


@pytest.mark.parametrize("role", ["employee", "other_admin", "support", None])
@pytest.mark.parametrize("action", ["message", "confirm", "cancel"])
def test_outsiders_post_nothing_on_admin_actions(request, proposed, role, action):
    before = state()
    url = admin_urls(proposed.pk)[action]
    response = client_for(user_of(request, role)).post(url, {"body": "Hi", "acknowledge": "1"})
    expected = {"employee": 403, "other_admin": 404, "support": 403, None: 302}[role]
    assert response.status_code == expected
    assert state() == before


def test_posting_a_new_request_as_an_outsider_changes_nothing(request, snapshot, employee):
    before = state()
    data = {"lost_at": "2026-01-01T10:00", "kind": "recover", "message": "Help"}
    for user, expected in ((employee, 403), (None, 302)):
        assert client_for(user).post(NEW, data).status_code == expected
    assert state() == before


# --- Filing a request -------------------------------------------------------------------------


def test_the_form_says_plainly_what_each_kind_does(admin_user, snapshot):
    response = client_for(admin_user).get(NEW)
    content = response.content.decode()
    assert response.status_code == 200
    assert 'type="datetime-local"' in content
    assert "This is account-wide: all work of all employees after the chosen time is lost" in (
        content
    )
    assert "Everything your team created or changed since is kept" in content
    assert "the other types stay as they are" in content
    for entity_type in ("company", "contact", "lead", "deal", "activity"):
        assert f'name="entity_types" value="{entity_type}"' in content


def test_filing_reads_the_time_in_the_accounts_time_zone(account, admin_user, snapshot):
    account.time_zone = "America/New_York"
    account.save()
    lost_at = timezone.now().astimezone(ZoneInfo("America/New_York")) - timedelta(hours=1)
    typed = lost_at.strftime("%Y-%m-%dT%H:%M")
    response = client_for(admin_user).post(
        NEW,
        {
            "lost_at": typed,
            "kind": "entities",
            "entity_types": ["company", "deal"],
            "message": "The deals were overwritten by an import.",
        },
    )
    restore_request = RestoreRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == admin_urls(restore_request.pk)["detail"]
    expected = datetime.strptime(typed, "%Y-%m-%dT%H:%M").replace(
        tzinfo=ZoneInfo("America/New_York")
    )
    assert restore_request.lost_at == expected
    assert restore_request.kind == "entities"
    assert restore_request.entity_types == ["company", "deal"]
    assert restore_request.requested_by == admin_user

    page = client_for(admin_user).get(response["Location"])
    assert page.status_code == 200
    assert expected.strftime("%H:%M") in page.content.decode()  # shown in New York time


def test_an_invalid_form_changes_nothing(admin_user, snapshot):
    before = state()
    response = client_for(admin_user).post(
        NEW, {"lost_at": "yesterday", "kind": "entities", "message": ""}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"lost_at", "entity_types", "message"} <= set(errors)
    assert state() == before


def _file(client, *, lost_at=None, kind="recover"):
    lost_at = lost_at or timezone.localtime(
        timezone.now() - timedelta(hours=1), ZoneInfo("Europe/Berlin")
    )
    return client.post(
        NEW,
        {"lost_at": lost_at.strftime("%Y-%m-%dT%H:%M"), "kind": kind, "message": "Gone."},
    )


def test_a_plan_without_restore_requests_explains_and_links_to_pricing(
    account, admin_user, snapshot
):
    account.plan = "basic"
    account.save()
    client = client_for(admin_user)
    page = client.get(NEW)
    content = page.content.decode()
    assert page.status_code == 200
    assert "Restore requests need a higher plan" in content
    assert reverse("pricing") in content
    assert 'name="lost_at"' not in content  # no form to fill in for nothing

    before = state()
    response = _file(client)
    assert response.status_code == 403
    assert reverse("pricing") in response.content.decode()
    assert state() == before

    listing = client.get(LIST).content.decode()
    assert "Restore requests need a higher plan" in listing


def test_one_open_request_at_a_time(admin_user, filed):
    client = client_for(admin_user)
    page = client.get(NEW).content.decode()
    assert f"Request #{filed.pk} is still open" in page

    before = state()
    response = _file(client)
    assert response.status_code == 409
    content = response.content.decode()
    assert "already has an open restore request" in content
    assert "Nothing was changed." in content
    assert state() == before


def test_one_destructive_restore_per_week_said_before_and_after_filing(
    account, admin_user, snapshot, filed
):
    RestoreRequest.objects.filter(pk=filed.pk).update(
        kind="full", status=Status.COMPLETED, completed_at=timezone.now() - timedelta(days=2)
    )
    client = client_for(admin_user)
    # Said before anything is filled in: on the list and on the form.
    for url in (reverse("support:request_list"), NEW):
        page = client.get(url).content.decode()
        assert 'data-option="destructive" data-held="1"' in page, url
        assert "possible again from" in page
    before = state()
    response = _file(client, kind="full")
    assert response.status_code == 409
    assert "One full or entity-type restore per 7 days is possible" in response.content.decode()
    assert state() == before
    # A recover is still possible, and says so.
    assert _file(client, kind="recover").status_code == 302


def test_a_loss_before_the_oldest_snapshot_is_refused(admin_user, snapshot):
    before = state()
    response = _file(
        client_for(admin_user),
        lost_at=timezone.localtime(timezone.now() - timedelta(days=2), ZoneInfo("Europe/Berlin")),
    )
    assert response.status_code == 400
    assert "No snapshot is kept from before" in response.content.decode()
    assert state() == before


# --- The admin's detail page ------------------------------------------------------------------


def test_detail_shows_status_steps_and_the_chat(admin_user, support_user, filed):
    services.message_post(request=filed, user=support_user, body="We are on it.")
    response = client_for(admin_user).get(admin_urls(filed.pk)["detail"])
    content = response.content.decode()
    assert response.status_code == 200
    assert 'class="status status--open"' in content
    states = [step["state"] for step in response.context["steps"]]
    assert states == ["done", "current", "todo", "todo", "todo", "todo"]
    chat = response.context["chat"]
    assert [row["side"] for row in chat] == ["system", "support"]  # oldest first
    assert chat[-1]["side_label"] == "Support"
    assert "We are on it." in content
    assert 'data-side="system"' in content
    assert 'name="acknowledge"' not in content  # nothing proposed yet
    assert reverse("support:request_cancel", args=[filed.pk]) in content


@pytest.mark.parametrize(
    "status, expected",
    [
        ("proposed", ["done", "done", "current", "todo", "todo", "todo"]),
        ("queued", ["done", "done", "done", "done", "current", "todo"]),
        ("running", ["done", "done", "done", "done", "current", "todo"]),
        ("completed", ["done"] * 6),
        ("failed", ["done", "done", "done", "done", "done", "failed"]),
    ],
)
def test_the_stepper_shows_one_current_step_at_most(filed, status, expected):
    """Issue 18: while running, "Running" and "Completed" were both highlighted."""
    filed.status = status
    assert [step["state"] for step in display.workflow_steps(filed)] == expected
    assert sum(step["state"] == "current" for step in display.workflow_steps(filed)) <= 1


def test_a_proposal_shows_the_preview_and_an_explicit_acknowledgement(admin_user, proposed):
    response = client_for(admin_user).get(admin_urls(proposed.pk)["detail"])
    content = response.content.decode()
    preview = response.context["preview"]
    assert preview["totals"] == {"removed": 0, "restored": 1, "reverted": 0}
    company = next(row for row in preview["rows"] if row["entity_type"] == "company")
    assert company["restored"] == 1
    assert 'name="acknowledge"' in content
    assert "nothing newer will be lost" in content
    assert reverse("support:request_confirm", args=[proposed.pk]) in content


def test_confirming_needs_the_acknowledgement(admin_user, proposed):
    client = client_for(admin_user)
    url = admin_urls(proposed.pk)["confirm"]
    before = state()
    response = client.post(url, {})
    assert response.status_code == 302
    assert state() == before
    assert "Tick the box to confirm" in client.get(response["Location"]).content.decode()

    response = client.post(url, {"acknowledge": "1"})
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.status == Status.CONFIRMED
    assert proposed.confirmed_by == admin_user


def test_confirming_in_the_wrong_state_shows_the_servers_sentence(admin_user, filed):
    before = state()
    response = client_for(admin_user).post(
        admin_urls(filed.pk)["confirm"], {"acknowledge": "1"}, follow=True
    )
    assert "it cannot be confirmed now" in response.content.decode()
    assert state() == before


def test_cancel_before_queued(admin_user, proposed):
    response = client_for(admin_user).post(admin_urls(proposed.pk)["cancel"], follow=True)
    proposed.refresh_from_db()
    assert proposed.status == Status.CANCELLED
    content = response.content.decode()
    assert "This request was cancelled" in content
    assert [step["state"] for step in response.context["steps"]] == ["done", "done", "stopped"]
    assert reverse("support:request_cancel", args=[proposed.pk]) not in content


def test_admins_message_goes_to_the_chat(admin_user, filed):
    response = client_for(admin_user).post(
        admin_urls(filed.pk)["message"], {"body": "It was around 3 pm."}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#chat")
    message = Message.objects.filter(request=filed, is_system=False).get()
    assert (message.author, message.is_support, message.body) == (
        admin_user,
        False,
        "It was around 3 pm.",
    )


def test_an_empty_message_changes_nothing(admin_user, filed):
    before = state()
    client_for(admin_user).post(admin_urls(filed.pk)["message"], {"body": "   "})
    assert state() == before


# --- Progress ---------------------------------------------------------------------------------


def test_progress_is_json_for_the_bar(admin_user, confirmed, support_user, sent):
    services.request_approve(request=confirmed, user=support_user)
    assert sent == [confirmed.pk]
    RestoreRequest.objects.filter(pk=confirmed.pk).update(
        status=Status.RUNNING, progress=40, step="apply"
    )
    response = client_for(admin_user).get(admin_urls(confirmed.pk)["progress"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {
        "id": confirmed.pk,
        "status": "running",
        "status_label": "Running",
        "progress": 40,
        "step": "apply",
        "step_label": "Restoring the data",
        "error": "",
        "final": False,
    }

    page = client_for(admin_user).get(admin_urls(confirmed.pk)["detail"]).content.decode()
    assert f'data-progress-url="{admin_urls(confirmed.pk)["progress"]}"' in page
    assert 'value="40"' in page
    assert "js/progress.js" in page
    assert "<script>" not in page  # no inline script

    RestoreRequest.objects.filter(pk=confirmed.pk).update(
        status=Status.FAILED, error="The file is missing."
    )
    data = client_for(admin_user).get(admin_urls(confirmed.pk)["progress"]).json()
    assert (data["final"], data["error"]) == (True, "The file is missing.")


def test_a_completed_request_shows_the_outcome(admin_user, confirmed):
    RestoreRequest.objects.filter(pk=confirmed.pk).update(
        status=Status.COMPLETED,
        progress=100,
        step="done",
        completed_at=timezone.now(),
        outcome={"kind": "recover", "counts": {"crm_company": {"inserted": 1}}},
    )
    response = client_for(admin_user).get(admin_urls(confirmed.pk)["detail"])
    content = response.content.decode()
    assert "The restore is complete" in content
    assert response.context["outcome"] == [
        {"label": "Companies", "deleted": 0, "updated": 0, "inserted": 1}
    ]
    assert "data-progress-url" not in content
    assert all(step["state"] == "done" for step in response.context["steps"])


# --- The support console ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("support", 200), ("admin", 403), ("employee", 403), ("other_admin", 403), (None, 302)],
)
@pytest.mark.parametrize("page", ["list", "detail"])
def test_who_may_open_the_console(request, filed, role, status, page):
    url = CONSOLE if page == "list" else console_urls(filed.pk)["detail"]
    response = client_for(user_of(request, role)).get(url)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))
    if status == 403:
        assert "The support console is for the vendor&#x27;s support staff." in (
            response.content.decode()
        )


@pytest.mark.parametrize("role", ["admin", "employee", None])
@pytest.mark.parametrize("action", ["message", "propose", "approve", "reject"])
def test_outsiders_post_nothing_on_console_actions(request, confirmed, snapshot, role, action):
    before = state()
    response = client_for(user_of(request, role)).post(
        console_urls(confirmed.pk)[action],
        {"body": "Hi", "snapshot": snapshot.pk, "kind": "full", "reason": "No."},
    )
    assert response.status_code == (403 if role else 302)
    assert state() == before


def test_the_console_lists_every_account_oldest_waiting_first(support_user, filed, other_filed):
    RestoreRequest.objects.filter(pk=other_filed.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    response = client_for(support_user).get(CONSOLE)
    assert [row["req"].pk for row in response.context["rows"]] == [other_filed.pk, filed.pk]
    content = response.content.decode()
    assert "Acme" in content and "Globex" in content
    assert "No filters: every request of every account." in content


def test_console_filters(support_user, filed, other_filed, other_account):
    RestoreRequest.objects.filter(pk=other_filed.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    client = client_for(support_user)

    def shown(query: str) -> list[int]:
        response = client.get(f"{CONSOLE}?{query}")
        assert response.status_code == 200
        return [row["req"].pk for row in response.context["rows"]]

    assert shown(f"account={other_account.pk}") == [other_filed.pk]
    assert shown("age=1d") == [other_filed.pk]
    assert shown("status=open") == [other_filed.pk, filed.pk]
    assert shown("status=waiting") == [other_filed.pk, filed.pk]
    assert shown("status=completed") == []
    assert shown("status=junk&account=junk&age=junk") == [other_filed.pk, filed.pk]

    services.request_reject(request=filed, user=support_user, reason="No snapshot fits.")
    assert shown("status=waiting") == [other_filed.pk]
    assert shown("status=rejected") == [filed.pk]
    assert shown("") == [other_filed.pk, filed.pk]  # open ones first

    response = client.get(f"{CONSOLE}?status=rejected&age=1h")
    content = response.content.decode()
    assert "Filtered by" in content and "Reset all filters" in content
    assert "No requests match these filters." in content


def test_console_pages(admin_user, support_user, filed):
    for _round in range(27):
        services.request_reject(request=filed, user=support_user, reason="Again.")
        filed = services.request_file(
            user=admin_user,
            lost_at=timezone.now() - timedelta(hours=1),
            kind="recover",
            message="Gone.",
        )
    client = client_for(support_user)
    first = client.get(CONSOLE)
    assert first.context["rows"][0]["req"] == filed  # the one waiting
    assert len(first.context["rows"]) == 25
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(f"{CONSOLE}?page=2")
    assert len(second.context["rows"]) == 3
    assert client.get(f"{CONSOLE}?page=99").context["page"].number == 2


def test_console_detail_defaults_to_the_newest_snapshot_before_the_loss(
    account, support_user, filed, snapshot
):
    after = snapshot_of(account, hours_ago=0.1, kind=Snapshot.Kind.MANUAL)  # taken after the loss
    response = client_for(support_user).get(console_urls(filed.pk)["detail"])
    content = response.content.decode()
    assert response.status_code == 200
    assert response.context["chosen"]["snapshot"] == snapshot
    rows = {row["snapshot"].pk: row for row in response.context["snapshots"]}
    assert rows[snapshot.pk]["default"] and rows[snapshot.pk]["before_loss"]
    assert not rows[after.pk]["before_loss"]
    assert response.context["preview"]["totals"]["restored"] == 1
    assert "A colleague deleted Müller GmbH" in content  # the admin's message
    assert reverse("support:console_propose", args=[filed.pk]) in content
    # Times in the account's time zone.
    berlin = timezone.localtime(snapshot.taken_at, ZoneInfo("Europe/Berlin"))
    assert berlin.strftime("%H:%M") in content


def test_console_preview_of_another_choice(account, support_user, filed, snapshot):
    response = client_for(support_user).get(
        f"{console_urls(filed.pk)['detail']}?snapshot={snapshot.pk}&kind=full"
    )
    chosen = response.context["chosen"]
    assert (chosen["snapshot"], chosen["kind"]) == (snapshot, "full")
    assert response.context["preview"]["totals"]["restored"] == 1
    content = response.content.decode()
    assert 'name="kind" value="full"' in content  # what "Propose" sends


def test_propose_approve_from_the_console(support_user, admin_user, filed, snapshot, sent):
    client = client_for(support_user)
    urls = console_urls(filed.pk)
    response = client.post(
        urls["propose"], {"snapshot": snapshot.pk, "kind": "recover"}, follow=True
    )
    filed.refresh_from_db()
    assert (filed.status, filed.snapshot, filed.proposed_by) == (
        Status.PROPOSED,
        snapshot,
        support_user,
    )
    assert "Proposed." in response.content.decode()

    before = state()
    response = client.post(urls["approve"])
    assert state() == before  # (opening the page next writes the support_access event)
    assert "it cannot be approved now" in client.get(response["Location"]).content.decode()

    services.request_confirm(request=filed, user=admin_user)
    response = client.post(urls["approve"])
    assert response.status_code == 302
    assert sent == [filed.pk]
    filed.refresh_from_db()
    assert (filed.status, filed.approved_by) == (Status.QUEUED, support_user)


def test_proposing_another_accounts_snapshot_changes_nothing(
    support_user, filed, other_filed, other_account
):
    foreign = Snapshot.objects.for_account(other_account).get()
    client = client_for(support_user)
    before = state()
    response = client.post(
        console_urls(filed.pk)["propose"], {"snapshot": foreign.pk, "kind": "recover"}
    )
    assert response.status_code == 302
    assert state() == before
    assert "Select a valid choice" in client.get(response["Location"]).content.decode()


def test_reject_needs_a_reason(support_user, admin_user, filed):
    client = client_for(support_user)
    url = console_urls(filed.pk)["reject"]
    before = state()
    client.post(url, {"reason": ""})
    assert state() == before

    client.post(url, {"reason": "The data was never in a snapshot."})
    filed.refresh_from_db()
    assert filed.status == Status.REJECTED
    page = client_for(admin_user).get(admin_urls(filed.pk)["detail"]).content.decode()
    assert "Support rejected this request" in page
    assert "The data was never in a snapshot." in page


def test_support_messages_show_as_support(support_user, admin_user, filed):
    client_for(support_user).post(console_urls(filed.pk)["message"], {"body": "Which company?"})
    message = Message.objects.filter(request=filed, is_system=False).get()
    assert (message.author, message.is_support) == (support_user, True)
    response = client_for(support_user).get(console_urls(filed.pk)["detail"])
    row = response.context["chat"][-1]
    assert (row["side"], row["mine"]) == ("support", True)
    team = client_for(admin_user).get(admin_urls(filed.pk)["detail"]).context["chat"][-1]
    assert (team["side_label"], team["mine"]) == ("Support", False)


# --- Support staff and the CRM ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    ["crm:dashboard", "crm:company_list", "recyclebin:list", "history:list", "backups:list"],
)
def test_support_staff_see_nothing_of_the_crm(support_user, filed, url_name):
    response = client_for(support_user).get(reverse(url_name))
    assert response.status_code == 403
    assert "Müller" not in response.content.decode()


def test_support_staff_land_on_the_console(support_user):
    client = Client()
    response = client.post(
        reverse("login"), {"username": "support", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    response = client.get(response["Location"])
    # The second factor first (the code of the authenticator app), then the console.
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_verify"))
    response = client.post(response["Location"], {"code": totp_code(support_user)})
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == CONSOLE
    page = client.get(CONSOLE).content.decode()
    assert f'href="{CONSOLE}"' in page
    assert reverse("crm:dashboard") not in page


def test_the_nav_shows_restore_requests_to_admins_only(admin_user, employee, filed):
    assert f'href="{LIST}"' in client_for(admin_user).get(reverse("crm:dashboard")).content.decode()
    assert (
        f'href="{LIST}"' not in client_for(employee).get(reverse("crm:dashboard")).content.decode()
    )


# --- Notifications ----------------------------------------------------------------------------


def test_the_badge_counts_unread_notifications_and_the_list_marks_them_read(
    admin_user, support_user, filed
):
    services.message_post(request=filed, user=support_user, body="Hello")
    services.request_propose(request=filed, user=support_user)
    client = client_for(admin_user)
    unread = Notification.objects.filter(recipient=admin_user, read_at__isnull=True).count()
    assert unread == 2
    dashboard = client.get(reverse("crm:dashboard")).content.decode()
    assert f'data-unread="{unread}"' in dashboard

    response = client.get(NOTIFICATIONS)
    content = response.content.decode()
    assert response.status_code == 200
    assert [row["unread"] for row in response.context["rows"]] == [True, True]
    assert f"Support proposed a snapshot for restore request #{filed.pk}." in content
    assert admin_urls(filed.pk)["detail"] in content
    assert "data-unread" not in content  # read now
    assert not Notification.objects.filter(recipient=admin_user, read_at__isnull=True).exists()
    again = client.get(NOTIFICATIONS)
    assert [row["unread"] for row in again.context["rows"]] == [False, False]


def test_opening_a_request_reads_its_notifications(admin_user, support_user, filed):
    services.message_post(request=filed, user=support_user, body="Hello")
    unread = Notification.objects.filter(recipient=admin_user, read_at__isnull=True)
    assert unread.count() == 1
    page = client_for(admin_user).get(admin_urls(filed.pk)["detail"]).content.decode()
    assert unread.count() == 0
    assert "data-unread" not in page
    assert Notification.objects.filter(recipient=support_user, read_at__isnull=True).exists()
    client_for(support_user).get(console_urls(filed.pk)["detail"])
    assert not Notification.objects.filter(recipient=support_user, read_at__isnull=True).exists()


def test_support_notifications_link_to_the_console(support_user, filed):
    response = client_for(support_user).get(NOTIFICATIONS)
    assert response.status_code == 200
    assert console_urls(filed.pk)["detail"] in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [("employee", 200), (None, 302)])
def test_notifications_for_others(request, filed, role, status):
    response = client_for(user_of(request, role)).get(NOTIFICATIONS)
    assert response.status_code == status
    if status == 200:
        assert "No notifications." in response.content.decode()


# --- German -----------------------------------------------------------------------------------


def test_the_pages_speak_german(admin_user, support_user, proposed):
    admin = client_for(admin_user)
    admin.cookies["django_language"] = "de"
    content = admin.get(admin_urls(proposed.pk)["detail"]).content.decode()
    assert "Wiederherstellungsanfrage" in content
    assert "Chat" in content
    form = admin.get(LIST).content.decode()
    assert "Wiederherstellungsanfragen" in form

    support = client_for(support_user)
    support.cookies["django_language"] = "de"
    console = support.get(CONSOLE).content.decode()
    assert "Filter anwenden" in console


# --- Live updates (static/js/live.js) ----------------------------------------------------------


def test_live_answers_the_badge_and_the_version_of_a_request_one_may_see(
    admin_user, support_user, employee, other_admin, filed
):
    live = reverse("support:live")
    answer = client_for(admin_user).get(live, {"request": filed.pk}).json()
    assert answer["unread"] == 0
    version = answer["request"]["version"]
    assert version.startswith("open.")
    # Support sees the admin's request, and the admin's badge and version move with the chat.
    assert client_for(support_user).get(live, {"request": filed.pk}).json()["request"]
    services.message_post(request=filed, user=support_user, body="On it.")
    again = client_for(admin_user).get(live, {"request": filed.pk}).json()
    assert again["unread"] == 1 and again["unread_title"] == "1 unread notification"
    assert again["request"]["version"] != version
    # Another account's admin and an employee learn nothing about it.
    assert "request" not in client_for(other_admin).get(live, {"request": filed.pk}).json()
    assert "request" not in client_for(employee).get(live, {"request": filed.pk}).json()
    assert "request" not in client_for(admin_user).get(live, {"request": "x"}).json()
    # Anonymous visitors are sent to log in.
    assert Client().get(live).status_code == 302


def test_a_snapshots_preview_leads_to_a_request_filled_in(admin_user, snapshot):
    """Issue 18: "Ask support to restore this" from the Backups page's preview."""
    client = client_for(admin_user)
    preview = client.get(
        reverse("backups:preview", args=[snapshot.pk]),
        {"kind": "entities", "entity_types": "deal"},
    )
    ask = preview.context["ask_support_url"]
    assert ask and ask in preview.content.decode().replace("&amp;", "&")
    form = client.get(ask)
    assert form.status_code == 200
    content = form.content.decode()
    assert (
        'id="kind-entities" checked' in content
        or 'value="entities" id="kind-entities" checked' in content
    )
    assert 'name="entity_types" value="deal" checked' in content
    assert f"Please restore from snapshot #{snapshot.pk}" in content
    assert form.context["lost_at_value"]  # the snapshot's time, so support proposes it
    # Another account's snapshot fills in nothing.
    other = client.get(NEW, {"snapshot": snapshot.pk + 1000, "kind": "nonsense"})
    assert "Please restore from snapshot" not in other.content.decode()


def test_notifications_say_who_wrote_and_how_it_starts(admin_user, support_user, filed):
    services.message_post(
        request=filed, user=support_user, body="Found it in last night's snapshot.\nProposing."
    )
    page = client_for(admin_user).get(reverse("support:notifications"))
    [row] = [r for r in page.context["rows"] if r["notification"].verb == "message"]
    assert row["preview"] == {
        "author": "support (support)",
        "text": "Found it in last night's snapshot. Proposing.",
    }
    assert "support (support): “Found it in last night" in page.content.decode()
    assert "Times in your account's time zone (Europe/Berlin)" in page.content.decode()


def test_each_message_notification_previews_the_message_before_it_in_one_query(
    admin_user, support_user, filed
):
    """Three messages, three notifications: each shows the message it announced (the newest
    at its time, not the newest now), and the page reads them all with one query."""
    for body in ("First.", "Second.", "Third."):
        services.message_post(request=filed, user=support_user, body=body)
    client = client_for(admin_user)
    connection.queries_log.clear()  # a request empties the log as it starts: start empty
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("support:notifications"))
    rows = [r for r in page.context["rows"] if r["notification"].verb == "message"]
    assert [row["preview"]["text"] for row in rows] == ["Third.", "Second.", "First."]
    messages = [q for q in queries.captured_queries if "support_message" in q["sql"]]
    assert len(messages) == 1


def test_the_console_shows_times_in_each_accounts_zone(support_user, filed):
    """Issue 18: the console and support's notifications were in UTC."""
    from django.utils.formats import date_format

    local = filed.created_at.astimezone(ZoneInfo(filed.account.time_zone))
    shown = date_format(local, "SHORT_DATETIME_FORMAT")
    client = client_for(support_user)
    console = client.get(reverse("support:console")).content.decode()
    assert shown in console and "Europe/Berlin" in console
    notes = client.get(reverse("support:notifications")).content.decode()
    assert shown in notes and "(Europe/Berlin)" in notes


def test_a_notification_says_who_did_it(admin_user, support_user, filed, snapshot):
    services.request_propose(request=filed, user=support_user, snapshot=snapshot)
    page = client_for(admin_user).get(reverse("support:notifications"))
    [row] = [r for r in page.context["rows"] if r["notification"].verb == "proposed"]
    assert row["by"] == "support (support)"
    assert "by support (support)" in page.content.decode()
