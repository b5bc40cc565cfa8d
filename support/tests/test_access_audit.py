"""Support access audit (issue 9): whenever support staff look at an account's data through a
restore request (the console's snapshots and preview, the API's preview), the account's history
gets a ``support_access`` event naming who and what, which the account's admins find on the
history page and in the API (filtered by type). An admin looking at the account's own data
writes none; the progress bar's polling writes none; another account's history never gets
one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from conftest import login_client
from crm.models import Company
from crm.tests.factories import CompanyFactory
from history.models import Event
from recyclebin import services as bin_services
from support import services
from support.models import SupportAccess
from support.subjects import RESTORE_REQUEST, RequestEvent

# Snapshots open their own transactions, so the tests run outside one.
pytestmark = pytest.mark.django_db(transaction=True)

ACCESS = RequestEvent.SUPPORT_ACCESS
HISTORY = reverse("history:list")
HISTORY_API = "/api/v1/history/"


def accesses(account) -> list[Event]:
    return list(Event.objects.for_account(account).filter(event_type=ACCESS).order_by("id"))


@pytest.fixture(autouse=True)
def no_tasks(monkeypatch):
    monkeypatch.setattr(services.run, "task_send", lambda *, request_id: None)


@pytest.fixture
def snapshot(account) -> Snapshot:
    CompanyFactory(account=account, title="Müller GmbH")
    CompanyFactory(account=account, title="Schmidt AG")
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_at=timezone.now() - timedelta(hours=3))
    snapshot.refresh_from_db()
    return snapshot


@pytest.fixture
def filed(account, admin_user, snapshot):
    company = Company.objects.for_account(account).get(title="Müller GmbH")
    entry = bin_services.bin_delete(record=company, actor=admin_user)
    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)
    return services.request_file(
        user=admin_user,
        lost_at=timezone.now() - timedelta(hours=1),
        kind="recover",
        message="Müller GmbH is gone.",
    )


@pytest.fixture
def other_filed(other_account, other_admin):
    CompanyFactory(account=other_account, title="Globex Corp")
    snapshot = snapshot_take(account=other_account, kind=Snapshot.Kind.NIGHTLY)
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_at=timezone.now() - timedelta(hours=3))
    return services.request_file(
        user=other_admin,
        lost_at=timezone.now() - timedelta(hours=1),
        kind="full",
        message="Globex lost everything.",
    )


# --- The console ------------------------------------------------------------------------------


def test_the_console_writes_who_looked_at_what(account, support_user, filed, snapshot):
    assert accesses(account) == []
    response = login_client(support_user).get(reverse("support:console_detail", args=[filed.pk]))
    assert response.status_code == 200
    assert "Müller GmbH" in response.content.decode()  # record titles were shown

    [event] = accesses(account)
    assert (event.actor_id, event.actor_username) == (support_user.pk, "support")
    assert (event.entity_type, event.entity_id) == (RESTORE_REQUEST, filed.pk)
    assert event.entity_title == (
        f"Restore request #{filed.pk}: the list of snapshots, preview of snapshot "
        f"#{snapshot.pk} (recover; with record titles)"
    )
    hour = event.details.pop("hour")
    assert event.details == {
        "request": filed.pk,
        "via": "console",
        "viewed": ["snapshots", "preview"],
        "snapshot": snapshot.pk,
        "kind": "recover",
        "entity_types": [],
        "record_titles": True,
    }
    assert hour == event.occurred_at.replace(minute=0, second=0, microsecond=0).isoformat()
    assert "is written to the account's history" in response.content.decode()


def test_one_event_per_person_request_and_hour_counting_every_look(
    account, admin_user, support_user, support_colleague, filed, snapshot
):
    """Issue 18: one request gave 10 identical "Viewed by support" lines."""
    client = login_client(support_user)
    detail = reverse("support:console_detail", args=[filed.pk])
    for _look in range(9):
        client.get(detail)
    client.get(f"{detail}?snapshot={snapshot.pk}&kind=entities&entity_types=company")
    for _poll in range(5):
        progress = client.get(reverse("support:request_progress", args=[filed.pk]))
        assert progress.status_code == 200
        live = client.get(reverse("support:live"), {"request": filed.pk})
        assert live.status_code == 200
    client.get(reverse("support:console"))  # the list shows no account data

    [event] = accesses(account)
    tally = SupportAccess.objects.get(event_id=event.pk)
    assert (tally.views, len(tally.looks)) == (10, 2)
    assert tally.looks[1]["kind"] == "entities" and tally.looks[1]["entity_types"] == ["company"]
    # The admin reads it as one line with its count.
    page = login_client(admin_user).get(HISTORY, {"event_type": "support_access"})
    [row] = page.context["rows"]
    assert row.note.endswith("(10 views)")
    assert row.note.count(f"the preview of snapshot #{snapshot.pk} with record titles") == 1
    # Another person of support, or the next hour, is another event.
    login_client(support_colleague).get(detail)
    assert len(accesses(account)) == 2
    SupportAccess.objects.update(hour=F("hour") - timedelta(hours=1))
    client.get(detail)
    assert len(accesses(account)) == 3
    # Their counts are read for the whole page at once, not once a line.
    admin = login_client(admin_user)
    connection.queries_log.clear()  # a request empties the log as it starts: start empty
    with CaptureQueriesContext(connection) as page_queries:
        page = admin.get(HISTORY, {"event_type": "support_access"})
    tallies = [q for q in page_queries.captured_queries if "support_supportaccess" in q["sql"]]
    assert len(page.context["rows"]) == 3 and len(tallies) == 1


def test_the_console_preview_of_an_export_names_the_contents(
    account, support_user, filed, snapshot
):
    response = login_client(support_user).get(
        f"{reverse('support:console_detail', args=[filed.pk])}?kind=export"
    )
    assert "The ZIP of CSV files holds:" in response.content.decode()
    [event] = accesses(account)
    assert event.details["kind"] == "export" and event.details["record_titles"] is False
    assert event.entity_title.endswith(f"the contents of snapshot #{snapshot.pk} (export)")


# --- The API ----------------------------------------------------------------------------------


def test_the_api_preview_writes_the_event(account, api_as, support_user, filed, snapshot):
    response = api_as(support_user).get(
        f"/api/v1/support/requests/{filed.pk}/preview/",
        {"kind": "entities", "entity_types": "company,deal"},
    )
    assert response.status_code == 200, response.content
    [event] = accesses(account)
    assert event.actor_id == support_user.pk
    assert event.details["via"] == "api"
    assert event.details["viewed"] == ["preview"]
    assert event.details["entity_types"] == ["company", "deal"]
    assert event.details["record_titles"] is False  # the API's preview has numbers only
    assert event.entity_title == (
        f"Restore request #{filed.pk}: preview of snapshot #{snapshot.pk} "
        "(entities: companies, deals)"
    )


def test_a_refused_preview_writes_nothing(account, api_as, support_user, filed):
    response = api_as(support_user).get(
        f"/api/v1/support/requests/{filed.pk}/preview/", {"snapshot": 10**9}
    )
    assert response.status_code == 400
    assert accesses(account) == []


def test_an_unknown_kind_is_refused_by_the_console_as_by_the_api(
    account, api_as, support_user, filed, snapshot
):
    """One preview service: the console no longer previews ``recover`` instead of a kind it
    does not know; it answers 400 with the reason, as the API does, and writes nothing."""
    api = api_as(support_user).get(
        f"/api/v1/support/requests/{filed.pk}/preview/", {"kind": "sideways"}
    )
    assert api.status_code == 400

    page = login_client(support_user).get(
        reverse("support:console_detail", args=[filed.pk]),
        {"snapshot": snapshot.pk, "kind": "sideways"},
    )
    assert page.status_code == 400
    content = page.content.decode()
    assert "Unknown kind of restore: sideways." in content
    assert "Müller GmbH" not in content  # no preview, of recover or anything else
    assert accesses(account) == []


# --- Admins see it; their own looks write nothing ---------------------------------------------


def test_the_admin_finds_it_in_the_history_page_and_api(
    account, api, admin_user, support_user, filed, snapshot
):
    login_client(support_user).get(reverse("support:console_detail", args=[filed.pk]))
    admin = login_client(admin_user)

    page = admin.get(HISTORY, {"event_type": "support_access"})
    assert page.status_code == 200
    content = page.content.decode()
    assert [row.event.event_type for row in page.context["rows"]] == [ACCESS]
    assert "Viewed by support" in content
    assert "support" in [row.user for row in page.context["rows"]]
    assert (
        f"The account&#x27;s snapshots, the preview of snapshot #{snapshot.pk} with record titles"
        in content
    )
    assert reverse("support:request_detail", args=[filed.pk]) in content  # link to the request
    # The type is one of the filter's choices.
    choices = {choice["value"]: choice for choice in page.context["form"]["event_types"]}
    assert choices["support_access"]["checked"]
    assert str(choices["support_access"]["label"]) == "Viewed by support"
    others = admin.get(HISTORY, {"event_type": "request_filed"}).context["rows"]
    assert [row.event.event_type for row in others] == [RequestEvent.REQUEST_FILED]

    body = api.get(HISTORY_API, {"event_type": "support_access"}).json()
    assert [e["event_type"] for e in body["results"]] == ["support_access"]
    [event] = body["results"]
    assert event["actor"] == {"id": support_user.pk, "username": "support"}
    assert event["entity_type"] == "restore_request" and event["entity_id"] == filed.pk
    assert event["details"]["snapshot"] == snapshot.pk
    both = api.get(HISTORY_API, {"event_type": "support_access,request_filed"}).json()
    assert {e["event_type"] for e in both["results"]} == {"support_access", "request_filed"}
    assert "support_access" not in {
        e["event_type"] for e in api.get(HISTORY_API, {"event_type": "create"}).json()["results"]
    }


def test_admins_own_previews_write_none(account, api, admin_user, support_user, filed, snapshot):
    services.request_propose(request=filed, user=support_user, snapshot=snapshot)
    admin = login_client(admin_user)
    page = admin.get(reverse("support:request_detail", args=[filed.pk]))
    assert page.context["preview"]["totals"]["restored"] == 1
    assert api.get(f"/api/v1/support/requests/{filed.pk}/preview/").status_code == 200
    assert admin.get(reverse("backups:preview", args=[snapshot.pk])).status_code == 200
    assert api.get(f"/api/v1/backups/snapshots/{snapshot.pk}/preview/").status_code == 200
    assert accesses(account) == []


def test_another_accounts_history_does_not_get_it(
    account, other_account, api_as, other_admin, support_user, filed, other_filed
):
    client = login_client(support_user)
    client.get(reverse("support:console_detail", args=[filed.pk]))
    api_as(support_user).get(f"/api/v1/support/requests/{filed.pk}/preview/")
    assert len(accesses(account)) == 1  # one person, one request, one hour
    assert accesses(other_account) == []
    body = api_as(other_admin).get(HISTORY_API, {"event_type": "support_access"}).json()
    assert body["results"] == []
    page = login_client(other_admin).get(HISTORY, {"event_type": "support_access"})
    assert page.context["rows"] == []

    client.get(reverse("support:console_detail", args=[other_filed.pk]))
    [theirs] = accesses(other_account)
    assert theirs.entity_id == other_filed.pk
    assert len(accesses(account)) == 1
