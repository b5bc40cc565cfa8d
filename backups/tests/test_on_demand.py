"""A snapshot on demand (issue 17, item 7): professional admins, one an hour, taken by a worker
and drilled like every snapshot; in the API and on the Backups page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backups import drill, tasks
from backups.models import Snapshot
from conftest import login_client

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/backups/snapshots/"


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The snapshot tasks sent (not run): the test runs them as a worker would."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.snapshot_pending_take, "delay", sent.append)
    return sent


def test_an_admin_takes_one_through_the_api(api, account, admin_user, sent):
    response = api.post(URL)

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["kind"], body["status"]) == ("manual", "pending")
    assert response["Location"].endswith(f"{URL}{body['id']}/")
    assert sent == [body["id"]]
    # The worker takes it; a second delivery does nothing.
    assert tasks.snapshot_pending_take(body["id"]) == body["id"]
    assert tasks.snapshot_pending_take(body["id"]) is None
    snapshot = Snapshot.objects.get(pk=body["id"])
    assert snapshot.status == "succeeded" and snapshot.requested_by == admin_user
    assert api.get(f"{URL}{body['id']}/").json()["status"] == "succeeded"
    # Drilled like every snapshot.
    assert drill.drills_due() == [snapshot.pk]
    assert drill.drill_run(snapshot_id=snapshot.pk) == "passed"


def test_one_an_hour(api, account, sent):
    assert api.post(URL).status_code == 202

    again = api.post(URL)

    assert again.status_code == 429
    assert again.json()["code"] == "snapshot_recent"
    assert 3500 < int(again["Retry-After"]) <= 3601
    assert Snapshot.objects.count() == 1 and len(sent) == 1
    # An hour later it is possible again.
    Snapshot.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert api.post(URL).status_code == 202


def test_a_failed_one_does_not_count(api, account, sent):
    api.post(URL)
    Snapshot.objects.update(status=Snapshot.Status.FAILED)

    assert api.post(URL).status_code == 202


@pytest.mark.parametrize(
    ("who", "plan", "code"),
    [
        ("employee", "professional", "admin_only"),
        ("admin_user", "standard", "plan_not_eligible"),
        ("admin_user", "free", "plan_not_eligible"),
    ],
)
def test_only_professional_admins(request, api_as, account, who, plan, code, sent):
    account.plan = plan
    account.save(update_fields=["plan"])
    user = type(request.getfixturevalue(who)).objects.get(pk=request.getfixturevalue(who).pk)

    response = api_as(user).post(URL)

    assert response.status_code == 403
    assert response.json()["code"] == code
    assert not Snapshot.objects.exists() and sent == []


def test_a_lost_task_is_sent_again_by_the_sweep(api, account, sent):
    snapshot_id = api.post(URL).json()["id"]
    Snapshot.objects.update(created_at=timezone.now() - timedelta(minutes=6))
    sent.clear()

    tasks.drills_sweep()

    assert sent == [snapshot_id]


def test_an_admin_takes_one_on_the_backups_page(account, admin_user, sent):
    client = login_client(admin_user)
    page = client.get("/backups/").content.decode()
    assert 'data-action="take-snapshot"' in page

    response = client.post("/backups/take/", follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "The snapshot is being taken" in page
    assert "One an hour: the next is possible at" in page  # the button is disabled now
    assert len(sent) == 1 and f'data-snapshot="{sent[0]}"' in page
    again = client.post("/backups/take/", follow=True).content.decode()
    assert "less than an hour ago" in again
    assert Snapshot.objects.count() == 1


def test_other_plans_see_where_it_comes_from(account, admin_user):
    account.plan = "standard"
    account.save(update_fields=["plan"])

    page = login_client(admin_user).get("/backups/").content.decode()

    assert 'data-action="take-snapshot"' not in page
    assert "comes with the Professional plan" in page
