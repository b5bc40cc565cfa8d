"""The backups API and the Backups page for every role; a refusal changes nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from backups.models import Snapshot
from backups.tests.factories import snapshot_row
from conftest import login_client

pytestmark = pytest.mark.django_db

LIST = "/api/v1/backups/snapshots/"
FIELDS = {"id", "kind", "status", "taken_at", "expires_at", "size_bytes", "counts"}
FIELDS |= {"verified_at", "drill"}  # the restore drill (test_drill.py)


@pytest.fixture
def users(admin_user, employee, other_admin, support_user):
    return {
        "admin": admin_user,
        "employee": employee,
        "other_admin": other_admin,
        "support": support_user,
        "anonymous": None,
    }


@pytest.fixture
def snapshots(account, other_account):
    now = timezone.now()
    return {
        "old": snapshot_row(
            account, taken_at=now - timedelta(days=2), day=now.date() - timedelta(2)
        ),
        "new": snapshot_row(account, kind=Snapshot.Kind.MANUAL),
        "failed": snapshot_row(account, kind=Snapshot.Kind.MANUAL, status="failed"),
        "other": snapshot_row(other_account),
    }


def _state() -> list:
    return list(Snapshot.objects.order_by("pk").values())


def test_admin_lists_the_accounts_usable_snapshots_newest_first(api, snapshots):
    response = api.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [snapshots["new"].pk, snapshots["old"].pk]
    row = body["results"][0]
    assert set(row) == FIELDS
    assert row["counts"] == {
        "bin_entry": 1,
        "company": 1,
        "contact": 1,
        "lead": 1,
        "deal": 1,
        "activity": 1,
    }
    assert row["kind"] == "manual" and row["status"] == "succeeded" and row["size_bytes"] == 123456


def test_the_list_is_cursor_paginated(api, snapshots):
    first = api.get(LIST, {"page_size": 1}).json()
    assert [r["id"] for r in first["results"]] == [snapshots["new"].pk]
    second = api.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [snapshots["old"].pk]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("admin", 200, None),
        ("employee", 403, "admin_only"),
        ("other_admin", 404, "not_found"),
        ("support", 403, "account_required"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_detail_for_every_role(api_as, users, snapshots, role, status, code):
    before = _state()

    response = api_as(users[role]).get(f"{LIST}{snapshots['new'].pk}/")

    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    else:
        assert set(response.json()) == FIELDS
    assert _state() == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("admin", 200, None),
        ("employee", 403, "admin_only"),
        ("other_admin", 200, None),
        ("support", 403, "account_required"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_list_for_every_role(api_as, users, snapshots, role, status, code):
    before = _state()

    response = api_as(users[role]).get(LIST)

    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    elif role == "other_admin":
        assert [r["id"] for r in response.json()["results"]] == [snapshots["other"].pk]
    assert _state() == before


def test_a_failed_snapshot_is_not_found(api, snapshots):
    assert api.get(f"{LIST}{snapshots['failed'].pk}/").status_code == 404
    assert api.get(f"{LIST}abc/").status_code == 404


def test_snapshots_are_not_changed_or_deleted_through_the_api(api, snapshots):
    # POST takes a snapshot on demand (test_on_demand.py); nothing changes or deletes one.
    assert api.delete(f"{LIST}{snapshots['new'].pk}/").status_code == 405
    assert api.patch(f"{LIST}{snapshots['new'].pk}/", {}).status_code == 405
    assert api.put(f"{LIST}{snapshots['new'].pk}/", {}).status_code == 405
    assert Snapshot.objects.filter(pk=snapshots["new"].pk).exists()


# --- The Backups page -----------------------------------------------------------------------

PAGE = "/backups/"


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin", 200),
        ("employee", 403),
        ("other_admin", 200),
        ("support", 403),
        ("anonymous", 302),
    ],
)
def test_page_for_every_role(users, snapshots, role, status):
    client = Client()
    if users[role] is not None:
        login_client(users[role], client=client)  # support staff: with the second factor
    before = _state()

    response = client.get(PAGE)

    assert response.status_code == status
    if role == "anonymous":
        assert response["Location"].startswith("/login")
    if role == "employee":
        assert "admin" in response.content.decode().lower()
    assert _state() == before


def test_page_shows_snapshots_in_the_accounts_time_zone(admin_user, account, snapshots):
    account.time_zone = "Asia/Tokyo"
    account.save()
    Snapshot.objects.filter(pk=snapshots["new"].pk).update(
        taken_at=datetime(2030, 5, 6, 23, 30, tzinfo=UTC)
    )
    client = Client()
    client.force_login(User.objects.get(pk=admin_user.pk))

    page = client.get(PAGE).content.decode()

    assert 'datetime="2030-05-07T08:30:00+09:00"' in page
    assert "120.6\xa0KB" in page
    assert f'data-snapshot="{snapshots["failed"].pk}"' not in page
    assert f'data-snapshot="{snapshots["other"].pk}"' not in page
    assert 'href="/backups/"' in page  # the nav link, for admins


def test_nav_link_is_for_admins_only(employee):
    client = Client()
    client.force_login(employee)
    assert 'href="/backups/"' not in client.get("/recyclebin/").content.decode()


def test_empty_state(admin_user):
    client = Client()
    client.force_login(admin_user)
    assert "No snapshots yet." in client.get(PAGE).content.decode()
