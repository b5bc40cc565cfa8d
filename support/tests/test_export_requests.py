"""Restore requests of kind ``export`` (issue 8): filed, proposed, confirmed like the others,
approved by support without the weekly limit, and completed at once: no task, no maintenance,
no data changed. The account's admins are notified (in the app and by email) with the download
link, the Backups export of the snapshot, which works for them (a ZIP) and for nobody else.
Each step is a history event; each download is an ``export`` event."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from backups.storage import snapshot_storage
from backups.tests.factories import live_rows
from conftest import login_client
from core.errors import RuleViolation
from crm.models import Company
from crm.tests.factories import CompanyFactory
from history.models import Event, EventType
from recyclebin import services as bin_services
from support import selectors, services
from support.models import Notification, RestoreRequest
from support.subjects import RequestEvent
from support.tests.factories import request_make, support_state

# Snapshots open their own transactions, so the tests run outside one.
pytestmark = pytest.mark.django_db(transaction=True)

BASE = "/api/v1/support/requests/"
NOTIFICATIONS = "/api/v1/support/notifications/"
Status = RestoreRequest.Status


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[int]:
    """The restore tasks approvals send (an export must send none)."""
    tasks = []
    monkeypatch.setattr(services.run, "task_send", lambda *, request_id: tasks.append(request_id))
    return tasks


@pytest.fixture
def snapshot(account) -> Snapshot:
    CompanyFactory(account=account, title="Müller GmbH")
    CompanyFactory(account=account, title="Schmidt AG")
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_at=timezone.now() - timedelta(hours=3))
    snapshot.refresh_from_db()
    # Müller GmbH is lost since: a restore would bring it back, an export must not.
    company = Company.objects.for_account(account).get(title="Müller GmbH")
    entry = bin_services.bin_delete(record=company, actor=account.users.get(role="admin"))
    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=None)
    return snapshot


@pytest.fixture
def emails(admin_user, support_user, other_admin):
    for user in (admin_user, support_user, other_admin):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])


def filing(**kwargs) -> dict:
    return {
        "lost_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "kind": "export",
        "message": "We need the contacts as they were this morning, in a spreadsheet.",
        **kwargs,
    }


def request_events(account) -> list[str]:
    return list(
        Event.objects.for_account(account)
        .filter(entity_type="restore_request")
        .exclude(event_type=RequestEvent.SUPPORT_ACCESS)
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def zip_names(response) -> set[str]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return set(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist())


def approved_export(admin_user, support_user, snapshot) -> RestoreRequest:
    request = services.request_file(
        user=admin_user,
        lost_at=timezone.now() - timedelta(hours=1),
        kind="export",
        message="A copy, please.",
    )
    services.request_propose(request=request, user=support_user, snapshot=snapshot)
    services.request_confirm(request=request, user=admin_user)
    return services.request_approve(request=request, user=support_user)


# --- Through the API --------------------------------------------------------------------------


def test_the_whole_flow_through_the_api(
    account, api, api_as, admin_user, support_user, other_admin, snapshot, sent, emails
):
    rows_before = live_rows(account)
    support = api_as(support_user)

    filed = api.post(BASE, filing(), format="json")
    assert filed.status_code == 201, filed.content
    pk = filed.json()["id"]
    assert filed.json()["kind"] == "export" and filed.json()["download"] is None

    preview = support.get(f"{BASE}{pk}/preview/", {"kind": "export"})
    assert preview.status_code == 200, preview.content
    assert preview.json()["changes"] == {}
    assert preview.json()["rows"]["company"] == 2  # what the ZIP holds: the snapshot's rows

    proposed = support.post(f"{BASE}{pk}/propose/", {}, format="json")
    assert proposed.status_code == 200, proposed.content
    assert (proposed.json()["status"], proposed.json()["kind"]) == ("proposed", "export")
    assert proposed.json()["snapshot"] == snapshot.pk

    confirmed = api.post(f"{BASE}{pk}/confirm/")
    assert confirmed.json()["status"] == "confirmed"
    mail.outbox.clear()

    approved = support.post(f"{BASE}{pk}/approve/")
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["status"] == "completed" and body["progress"] == 100
    assert body["completed_at"] is not None and body["error"] == ""
    assert body["approved_by"] == {"id": support_user.pk, "username": "support"}
    assert body["outcome"]["kind"] == "export" and body["outcome"]["snapshot_id"] == snapshot.pk
    assert body["download"] == f"http://testserver/api/v1/backups/snapshots/{snapshot.pk}/export/"
    assert api.get(f"{BASE}{pk}/").json()["download"] == body["download"]

    # Nothing ran and nothing changed.
    assert sent == []
    account.refresh_from_db()
    assert account.maintenance is False
    assert live_rows(account) == rows_before
    assert not Company.objects.for_account(account).filter(title="Müller GmbH").exists()
    assert request_events(account) == [
        "request_filed",
        "request_proposed",
        "request_confirmed",
        "request_approved",
        "request_completed",
    ]
    completed = Event.objects.for_account(account).get(event_type="request_completed")
    assert completed.details == {"kind": "export", "snapshot": snapshot.pk}
    assert not Event.objects.for_account(account).filter(event_type__in=["rollback", "recover"])

    # The admin's notification carries the download link; it works for them only.
    notes = api.get(NOTIFICATIONS).json()["results"]
    done = next(n for n in notes if n["verb"] == "completed")
    assert done["request"] == pk and done["download"] == body["download"]
    support_notes = support.get(NOTIFICATIONS).json()["results"]
    assert all(n["download"] is None for n in support_notes)
    assert zip_names(api.get(done["download"])) >= {"companies.csv", "snapshot.json"}
    download = Event.objects.for_account(account).get(event_type=EventType.EXPORT)
    assert (download.actor_id, download.details["snapshot"]) == (admin_user.pk, snapshot.pk)
    assert api_as(other_admin).get(done["download"]).status_code == 404
    assert api_as(support_user).get(done["download"]).status_code == 403

    # The email tells the admin where to download; support's does not offer the link.
    link = f"{settings.SITE_URL.rstrip('/')}/backups/{snapshot.pk}/export/"
    to_admin = next(m for m in mail.outbox if m.to == [admin_user.email])
    assert "is ready to download" in to_admin.subject
    assert link in to_admin.body
    assert all(link not in m.body for m in mail.outbox if m.to != [admin_user.email])
    assert {m.to[0] for m in mail.outbox} == {admin_user.email}  # the approver is not told


def test_the_weekly_limit_does_not_apply(account, api, api_as, admin_user, support_user, snapshot):
    request_make(
        account,
        status=Status.COMPLETED,
        kind="full",
        completed_at=timezone.now() - timedelta(days=1),
    )
    refused = api.post(BASE, filing(kind="full"), format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "weekly_limit"

    request = approved_export(admin_user, support_user, snapshot)
    assert request.status == Status.COMPLETED
    # A completed export does not count as a restore either.
    assert selectors.last_completed_restore(account=account).kind == "full"
    RestoreRequest.objects.filter(kind="full").update(
        completed_at=timezone.now() - timedelta(days=8)
    )
    again = api.post(BASE, filing(kind="full"), format="json")
    assert again.status_code == 201, again.content


def test_a_snapshot_that_does_not_read_back_is_not_offered(
    account, admin_user, support_user, snapshot, sent
):
    request = services.request_file(
        user=admin_user,
        lost_at=timezone.now() - timedelta(hours=1),
        kind="export",
        message="A copy, please.",
    )
    services.request_propose(request=request, user=support_user, snapshot=snapshot)
    services.request_confirm(request=request, user=admin_user)
    snapshot_storage().delete(snapshot.storage_name)
    before = support_state()
    with pytest.raises(RuleViolation) as refused:
        services.request_approve(request=request, user=support_user)
    assert refused.value.code == "snapshot_invalid"
    assert f"Snapshot #{snapshot.pk} cannot be exported" in refused.value.message
    assert support_state() == before
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED and sent == []


@pytest.mark.parametrize("role", ["employee", "support"])
def test_only_admins_file_exports(api_as, request, snapshot, role):
    user = request.getfixturevalue({"employee": "employee", "support": "support_user"}[role])
    response = api_as(user).post(BASE, filing(), format="json")
    assert response.status_code == 403 and response.json()["code"] == "admin_only"
    assert not RestoreRequest.objects.exists()


def test_another_account_cannot_reach_the_export(
    account, api_as, admin_user, other_admin, support_user, snapshot
):
    request = approved_export(admin_user, support_user, snapshot)
    other = api_as(other_admin)
    assert other.get(f"{BASE}{request.pk}/").status_code == 404
    assert other.get(f"/api/v1/backups/snapshots/{snapshot.pk}/export/").status_code == 404
    assert not Notification.objects.filter(recipient=other_admin).exists()
    browser = login_client(other_admin)
    assert browser.get(reverse("support:request_detail", args=[request.pk])).status_code == 404
    assert browser.get(reverse("backups:export", args=[snapshot.pk])).status_code == 404
    assert not Event.objects.for_account(account).filter(event_type=EventType.EXPORT).exists()


# --- In the browser ---------------------------------------------------------------------------


def test_the_whole_flow_in_the_browser(
    account, admin_user, employee, other_admin, support_user, snapshot, sent
):
    rows_before = live_rows(account)
    admin, support = login_client(admin_user), login_client(support_user)

    form = admin.get(reverse("support:request_new")).content.decode()
    assert 'id="kind-export"' in form and "Export: download the data as it was" in form
    lost_at = timezone.localtime(timezone.now() - timedelta(hours=1))
    answer = admin.post(
        reverse("support:request_new"),
        {"lost_at": lost_at.strftime("%Y-%m-%dT%H:%M"), "kind": "export", "message": "A copy."},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    request = RestoreRequest.objects.get()
    assert request.kind == "export"
    console = reverse("support:console_detail", args=[request.pk])

    page = support.get(console)
    assert page.context["chosen"]["kind"] == "export"
    assert page.context["preview"]["export"] is True
    assert "Export: download the data as it was" in page.content.decode()
    support.post(
        reverse("support:console_propose", args=[request.pk]),
        {"snapshot": snapshot.pk, "kind": "export"},
    )
    request.refresh_from_db()
    assert (request.status, request.snapshot) == (Status.PROPOSED, snapshot)

    detail = reverse("support:request_detail", args=[request.pk])
    page = admin.get(detail).content.decode()
    assert "Support's proposal: an export" in page
    assert "I want the data as it was at" in page and "Confirm the export" in page
    admin.post(reverse("support:request_confirm", args=[request.pk]), {"acknowledge": "1"})
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED

    page = support.get(console).content.decode()
    assert "Approve the export" in page and "Approve and run the restore" not in page
    answer = support.post(reverse("support:console_approve", args=[request.pk]), follow=True)
    assert answer.status_code == 200
    request.refresh_from_db()
    assert request.status == Status.COMPLETED and sent == []
    assert "The account's admins download it from their request page." in (answer.content.decode())

    download = reverse("backups:export", args=[snapshot.pk])
    page = admin.get(detail)
    content = page.content.decode()
    assert "The export is ready" in content and f'href="{download}"' in content
    assert [step["state"] for step in page.context["steps"]] == ["done"] * 5
    assert "The restore is complete" not in content
    notes = admin.get(reverse("support:notifications"))
    row = next(r for r in notes.context["rows"] if r["notification"].verb == "completed")
    assert row["download"] == download
    assert "is ready to download" in row["text"]
    assert f'href="{download}"' in notes.content.decode()

    assert zip_names(admin.get(download)) >= {"contacts.csv", "deals.csv"}
    assert login_client(other_admin).get(download).status_code == 404
    assert login_client(employee).get(download).status_code == 403
    assert live_rows(account) == rows_before
    account.refresh_from_db()
    assert account.maintenance is False


def test_employees_cannot_file_in_the_browser(employee, snapshot):
    response = login_client(employee).post(
        reverse("support:request_new"),
        {"lost_at": "2020-01-01T00:00", "kind": "export", "message": "A copy."},
    )
    assert response.status_code == 403
    assert not RestoreRequest.objects.exists()
