"""POST /api/v1/history/revert/ and its jobs (API.md, "Change log"): the preview, the apply,
the refusals with their codes, tenancy, and a big revert as a job with progress."""

from decimal import Decimal

import pytest

from accounts.models import Account
from changelog import jobs
from changelog.models import RevertJob
from changelog.tests.factories import amounts, deals_edited
from history.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/history/revert/"


def test_dry_run_then_apply_by_filter(api_as, account, admin_user, employee):
    deals = deals_edited(account, admin_user, employee)
    body = {"filter": {"actor": employee.pk, "event_type": ["update"]}}

    preview = api_as(employee).post(URL, {**body, "dry_run": True}, format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["events"] == 3
    assert preview.json()["records"] == 3
    assert preview.json()["changes"][0] == {
        "entity_type": "deal",
        "entity_id": deals[0].pk,
        "title": "Deal 0",
        "field": "amount",
        "current": "0.01",
        "value": "10.00",
        "conflict": False,
    }
    assert amounts(deals) == {Decimal("0.01")}

    applied = api_as(employee).post(URL, body, format="json")
    assert applied.status_code == 200, applied.content
    assert applied.json()["fields"] == 3
    assert amounts(deals) == {Decimal("10.00")}
    assert Event.objects.filter(event_type="revert", actor=employee).count() == 3


def test_by_event_ids(api, account, admin_user):
    deals = deals_edited(account, admin_user, admin_user, count=2)
    one = Event.objects.filter(event_type="update", entity_id=deals[0].pk).get()
    answer = api.post(URL, {"events": [one.pk]}, format="json")
    assert answer.status_code == 200
    assert amounts(deals) == {Decimal("10.00"), Decimal("0.01")}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "events_or_filter"),
        ({"events": [1], "filter": {}}, "events_or_filter"),
        ({"filter": {"colour": "red"}}, "invalid"),
        ({"events": ["1"]}, "invalid"),
        ({"filter": {"event_type": ["nonsense"]}}, "invalid"),
    ],
)
def test_bad_bodies_are_400_and_change_nothing(api, account, admin_user, body, code):
    deals = deals_edited(account, admin_user, admin_user, count=1)
    answer = api.post(URL, body, format="json")
    assert answer.status_code == 400, answer.content
    assert code in str(answer.json())
    assert amounts(deals) == {Decimal("0.01")}


def test_refusals(api_as, account, admin_user, employee):
    deals = deals_edited(account, admin_user, admin_user, count=1)
    theirs = api_as(employee).post(URL, {"filter": {}}, format="json")
    assert (theirs.status_code, theirs.json()["code"]) == (403, "own_only")
    mine = {"filter": {"actor": employee.pk}, "force": True}
    forced = api_as(employee).post(URL, mine, format="json")
    assert (forced.status_code, forced.json()["code"]) == (403, "admin_only")
    Account.objects.filter(pk=account.pk).update(plan="free")
    admin_user.account.refresh_from_db()  # the test client keeps its user in memory
    free = api_as(admin_user).post(URL, {"filter": {}}, format="json")
    assert (free.status_code, free.json().get("code")) == (403, "plan_not_eligible"), free.json()
    assert amounts(deals) == {Decimal("0.01")}


def test_another_accounts_events_are_404(api, other_account, other_admin):
    deals = deals_edited(other_account, other_admin, other_admin, count=1)
    theirs = list(Event.objects.filter(account=other_account).values_list("pk", flat=True))
    answer = api.post(URL, {"events": theirs}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    # A filter never reaches them: zeros.
    by_filter = api.post(URL, {"filter": {"entity_id": deals[0].pk}}, format="json")
    assert by_filter.json()["events"] == 0
    assert amounts(deals) == {Decimal("0.01")}


def test_a_big_revert_is_a_job_with_progress(
    api, api_as, account, admin_user, employee, settings, django_capture_on_commit_callbacks
):
    settings.REVERT_JOB_THRESHOLD = 2
    deals = deals_edited(account, admin_user, admin_user, count=3)
    sent = []
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = api.post(URL, {"filter": {"event_type": ["update"]}}, format="json")
    assert answer.status_code == 202, answer.content
    job = answer.json()["job"]
    assert job["status"] == "queued" and answer["Location"].endswith(f"/jobs/{job['id']}/")
    sent += callbacks
    assert amounts(deals) == {Decimal("0.01")}  # not yet

    assert jobs.revert_job_run(job_id=job["id"]) == "completed"
    assert jobs.revert_job_run(job_id=job["id"]) == "skipped"  # a second delivery
    done = api.get(f"/api/v1/history/revert/jobs/{job['id']}/").json()
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["result"]["records"] == 3
    assert amounts(deals) == {Decimal("10.00")}
    # Employees see only their own jobs.
    other = api_as(employee).get(f"/api/v1/history/revert/jobs/{job['id']}/")
    assert other.status_code == 404
    assert RevertJob.objects.get().requested_by == admin_user
