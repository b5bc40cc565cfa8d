"""Undo by filter, as a restore job (issue 8, point 2): a bulk restore (ids or the list's
filters) of more than BIN_RESTORE_JOB_THRESHOLD entries runs in a Celery worker, chunk by
chunk, with progress. It restores exactly the matching entries (captured when the job is
created) and nothing else, under the rules of a single restore: refused on a free plan and
during maintenance, an employee's filter covers only their own deletions, one job per account.

Most tests lower the threshold and the chunk size (settings) so that a few entries make a job;
one test keeps the real default (1,000). The last tests start a REAL worker."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import User
from conftest import login_client, wait_for
from crm.models import Activity, Deal, Lead
from crm.tests.factories import ActivityFactory, DealFactory, assert_error
from history.models import Event, EventType
from recyclebin import job_worker, services, tasks
from recyclebin.conf import DEFAULTS, restore_job_threshold
from recyclebin.models import BinEntry, RestoreJob
from recyclebin.tests.factories import API_ROOT, bin_state, entries_bulk_make

RESTORE = f"{API_ROOT}restore/"
JOBS = f"{API_ROOT}jobs/"
LIST = reverse("recyclebin:list")
RESTORE_PAGE = reverse("recyclebin:restore")
JOB_FIELDS = {
    "id",
    "status",
    "total",
    "done",
    "restored",
    "skipped",
    "progress",
    "together",
    "error",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
    "url",
}


def job_path(job_id) -> str:
    return f"{JOBS}{job_id}/"


def progress_path(job_id) -> str:
    return reverse("recyclebin:job_progress", args=[job_id])


@pytest.fixture
def small_jobs(settings):
    """A job from 6 entries on, 4 entries a chunk."""
    settings.BIN_RESTORE_JOB_THRESHOLD = 5
    settings.BIN_RESTORE_JOB_CHUNK = 4


@pytest.fixture
def client_for(api_as):
    """An API client acting as ``user``, loaded afresh (plan and maintenance as stored now)."""

    def make(user):
        if user is not None:
            user = User.objects.select_related("account").get(pk=user.pk)
        return api_as(user)

    return make


def bin_ids(account=None) -> set[int]:
    entries = (
        BinEntry.objects.all() if account is None else BinEntry.objects.filter(account=account)
    )
    return set(entries.values_list("pk", flat=True))


def leads_state() -> dict[int, int | None]:
    """Every lead (all accounts): its bin entry or None when live."""
    return dict(Lead.objects.values_list("pk", "bin_entry"))


def job_run(job_id: int) -> str:
    """The task, as a worker runs it (here, in this process)."""
    return tasks.restore_job_run.apply(args=[job_id]).get()


def no_inline_code(html: str) -> None:
    """What a strict Content-Security-Policy blocks: inline scripts and style attributes."""
    assert " style=" not in html
    for tag in html.split("<script")[1:]:
        assert tag.split(">", 1)[0].strip().startswith("src="), tag[:80]


# --- Exactly the matching entries, and nothing else -----------------------------------------


def test_a_filter_above_the_threshold_restores_exactly_the_matching_entries_in_a_job(
    small_jobs,
    client_for,
    account,
    other_account,
    admin_user,
    employee,
    other_admin,
    django_capture_on_commit_callbacks,
):
    """'Restore everything that user X deleted yesterday.'"""
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    matching = entries_bulk_make(
        account=account, actor=employee, count=11, deleted_at=yesterday, title="Yesterday"
    )
    by_admin = entries_bulk_make(account=account, actor=admin_user, count=3, deleted_at=yesterday)
    today = entries_bulk_make(account=account, actor=employee, count=2, deleted_at=now)
    elsewhere = entries_bulk_make(
        account=other_account, actor=other_admin, count=7, deleted_at=yesterday
    )
    leads_before, events_before = leads_state(), Event.objects.count()
    query = {
        "deleted_by": employee.pk,
        "deleted_after": (yesterday - timedelta(hours=1)).isoformat(),
        "deleted_before": (now - timedelta(hours=1)).isoformat(),
    }

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(admin_user).post(RESTORE, {"filter": query}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == JOB_FIELDS
    job = RestoreJob.objects.get()
    assert body["id"] == job.pk
    assert body["status"] == "queued"
    assert (body["total"], body["done"], body["progress"]) == (11, 0, 0)
    assert body["error"] == "" and body["finished_at"] is None
    assert body["requested_by"] == {"id": admin_user.pk, "username": admin_user.username}
    assert body["url"] == f"http://testserver{job_path(job.pk)}"
    assert response["Location"] == body["url"]
    assert sorted(job.entry_ids) == sorted(e.pk for e in matching)
    assert len(callbacks) == 1  # the task, sent once the job is committed
    assert leads_state() == leads_before  # nothing restored yet

    # Deleted after the job was created, matching its filter: not swept in.
    later = entries_bulk_make(account=account, actor=employee, count=2, deleted_at=yesterday)
    bin_before = bin_ids()
    assert job_run(job.pk) == "completed"

    assert bin_ids() == bin_before - {e.pk for e in matching}
    assert {e.pk for e in [*by_admin, *today, *elsewhere, *later]} <= bin_ids()
    restored_leads = {e.entity_id for e in matching}
    assert leads_state() == {
        pk: (None if pk in restored_leads else entry) for pk, entry in leads_before.items()
    } | {e.entity_id: e.pk for e in later}
    events = Event.objects.order_by("pk")[events_before:]
    assert {(e.event_type, e.entity_id, e.actor_id) for e in events} == {
        (EventType.RESTORE, pk, admin_user.pk) for pk in restored_leads
    }
    job.refresh_from_db()
    assert (job.status, job.done, job.restored, job.skipped, job.progress) == (
        "completed",
        11,
        11,
        0,
        100,
    )
    assert job.started_at is not None and job.finished_at >= job.started_at


def test_ids_above_the_threshold_run_as_a_job_too(small_jobs, client_for, account, admin_user):
    entries = entries_bulk_make(account=account, actor=admin_user, count=9)
    kept = entries_bulk_make(account=account, actor=admin_user, count=2)
    asked = [e.pk for e in entries[:8]]

    response = client_for(admin_user).post(RESTORE, {"ids": asked}, format="json")

    assert response.status_code == 202, response.content
    assert job_run(response.json()["id"]) == "completed"
    assert bin_ids() == {entries[8].pk} | {e.pk for e in kept}


@pytest.mark.parametrize(
    ("count", "status"), [(5, 200), (6, 202)], ids=["at-threshold", "one-above"]
)
def test_the_threshold_boundary(small_jobs, client_for, account, admin_user, count, status):
    entries = entries_bulk_make(account=account, actor=admin_user, count=count)

    response = client_for(admin_user).post(RESTORE, {"ids": [e.pk for e in entries]}, format="json")

    assert response.status_code == status, response.content
    if status == 200:
        assert len(response.json()["entries"]) == count
        assert not BinEntry.objects.exists()
        assert not RestoreJob.objects.exists()
    else:
        assert RestoreJob.objects.get().total == count
        assert BinEntry.objects.count() == count


def test_the_real_default_threshold_is_1000(
    settings, client_for, account, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    """No setting lowered: 1,000 entries are restored at once (200), 1,001 make a job (202).
    And the job skips what was restored meanwhile."""
    if hasattr(settings, "BIN_RESTORE_JOB_THRESHOLD"):
        del settings.BIN_RESTORE_JOB_THRESHOLD
    monkeypatch.delenv("BIN_RESTORE_JOB_THRESHOLD", raising=False)
    assert restore_job_threshold() == DEFAULTS["BIN_RESTORE_JOB_THRESHOLD"] == 1000
    entries = entries_bulk_make(account=account, actor=admin_user, count=1001)
    ids = [e.pk for e in entries]
    client = client_for(admin_user)

    with django_capture_on_commit_callbacks(execute=False):
        job = client.post(RESTORE, {"ids": ids}, format="json")
    assert job.status_code == 202, job.content
    assert job.json()["total"] == 1001
    assert BinEntry.objects.count() == 1001  # nothing restored by the request

    at_once = client.post(RESTORE, {"ids": ids[:1000]}, format="json")
    assert at_once.status_code == 200, at_once.content
    assert len(at_once.json()["entries"]) == 1000
    assert bin_ids() == {ids[1000]}

    assert job_run(job.json()["id"]) == "completed"
    finished = client.get(job_path(job.json()["id"])).json()
    assert (finished["status"], finished["done"], finished["restored"], finished["skipped"]) == (
        "completed",
        1001,
        1,
        1000,
    )
    assert not BinEntry.objects.exists()


@pytest.mark.parametrize(
    ("environment", "expected"), [({}, 1000), ({"BIN_RESTORE_JOB_THRESHOLD": "250"}, 250)]
)
def test_the_settings_read_the_threshold_from_the_environment(environment, expected):
    """config/settings/base.py names the threshold, with the default recyclebin/conf.py falls
    back to (settings are read once, at start: a fresh process)."""
    env = {k: v for k, v in os.environ.items() if k != "BIN_RESTORE_JOB_THRESHOLD"}
    read = subprocess.run(
        [
            sys.executable,
            "-c",
            "from config.settings import base; print(base.BIN_RESTORE_JOB_THRESHOLD)",
        ],
        env={**env, **environment},
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(read.stdout) == expected
    assert DEFAULTS["BIN_RESTORE_JOB_THRESHOLD"] == 1000


def test_the_threshold_comes_from_the_environment_without_a_setting(settings, monkeypatch):
    if hasattr(settings, "BIN_RESTORE_JOB_THRESHOLD"):
        del settings.BIN_RESTORE_JOB_THRESHOLD
    monkeypatch.setenv("BIN_RESTORE_JOB_THRESHOLD", "250")
    assert restore_job_threshold() == 250
    settings.BIN_RESTORE_JOB_THRESHOLD = 40
    assert restore_job_threshold() == 40


# --- Same rules as a single restore ---------------------------------------------------------


@pytest.mark.parametrize("by", ["filter", "ids"])
def test_a_free_plan_is_refused_and_nothing_changes(
    small_jobs, client_for, account, admin_user, by, django_capture_on_commit_callbacks
):
    entries = entries_bulk_make(account=account, actor=admin_user, count=8)
    account.plan = "free"
    account.save(update_fields=["plan"])
    before = bin_state()
    body = (
        {"filter": {"entity_type": "lead"}} if by == "filter" else {"ids": [e.pk for e in entries]}
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(admin_user).post(RESTORE, body, format="json")

    assert_error(response, 403, "plan_not_eligible")
    assert bin_state() == before
    assert not RestoreJob.objects.exists()
    assert callbacks == []


def test_maintenance_is_refused_with_retry_after(small_jobs, client_for, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=8)
    account.maintenance = True
    account.save(update_fields=["maintenance"])
    before = bin_state()

    response = client_for(admin_user).post(
        RESTORE, {"filter": {"entity_type": "lead"}}, format="json"
    )

    assert_error(response, 503, "maintenance")
    assert response["Retry-After"]
    assert bin_state() == before
    assert not RestoreJob.objects.exists()


def test_an_employees_filter_covers_only_their_own_deletions(
    small_jobs, client_for, account, admin_user, employee
):
    own = entries_bulk_make(account=account, actor=employee, count=7)
    admins = entries_bulk_make(account=account, actor=admin_user, count=6)
    client = client_for(employee)

    # The admin's deletions are not in the employee's bin: a filter on them matches nothing.
    before = bin_state()
    assert_error(
        client.post(RESTORE, {"filter": {"deleted_by": admin_user.pk}}, format="json"),
        400,
        "no_match",
    )
    # Nor can their ids be named: 404, nothing changes.
    response = client.post(RESTORE, {"ids": [e.pk for e in [*own, *admins]]}, format="json")
    body = assert_error(response, 404)
    assert str(admins[0].pk) in body["detail"]
    assert bin_state() == before
    assert not RestoreJob.objects.exists()

    response = client.post(RESTORE, {"filter": {"entity_type": "lead"}}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["total"] == 7
    assert job_run(response.json()["id"]) == "completed"
    assert bin_ids() == {e.pk for e in admins}


def test_the_rules_are_checked_again_per_chunk_and_the_chunks_done_stay_done(
    small_jobs, client_for, account, admin_user, monkeypatch
):
    """The plan is downgraded while the job runs: it stops before the next chunk, failed,
    saying what was restored (and stays so)."""
    entries = entries_bulk_make(account=account, actor=admin_user, count=10)
    job = (
        client_for(admin_user)
        .post(RESTORE, {"filter": {"entity_type": "lead"}}, format="json")
        .json()
    )
    restore = services.bin_restore

    def downgraded_after_the_first_chunk(**kwargs):
        result = restore(**kwargs)
        type(account).objects.filter(pk=account.pk).update(plan="free")
        return result

    monkeypatch.setattr(services, "bin_restore", downgraded_after_the_first_chunk)

    assert job_run(job["id"]) == "failed"

    failed = client_for(admin_user).get(job_path(job["id"])).json()
    assert (failed["status"], failed["done"], failed["restored"]) == ("failed", 4, 4)
    assert "plan" in failed["error"].lower()
    assert "stopped after 4 of 10 entries" in failed["error"]
    assert "stay restored" in failed["error"]
    assert failed["finished_at"] is not None
    assert bin_ids() == {e.pk for e in entries[4:]}  # items first, then by id: the first 4


def test_a_job_stops_when_its_user_is_deactivated(small_jobs, client_for, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    job = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()
    User.objects.filter(pk=admin_user.pk).update(is_active=False)

    assert job_run(job["id"]) == "failed"

    stored = RestoreJob.objects.get(pk=job["id"])
    assert "no longer restore" in stored.error
    assert stored.done == 0
    assert BinEntry.objects.count() == 7


def test_entries_restored_or_purged_meanwhile_are_skipped(
    small_jobs, client_for, account, admin_user
):
    entries = entries_bulk_make(account=account, actor=admin_user, count=9)
    job = client_for(admin_user).post(RESTORE, {"ids": [e.pk for e in entries]}, format="json")
    services.bin_restore(account=account, entry_ids=[entries[0].pk], actor=admin_user)
    services.bin_purge(account=account, entry_ids=[entries[5].pk, entries[8].pk], actor=admin_user)

    assert job_run(job.json()["id"]) == "completed"

    done = RestoreJob.objects.get()
    assert (done.status, done.done, done.restored, done.skipped) == ("completed", 9, 6, 3)
    assert not BinEntry.objects.exists()
    assert not Lead.objects.filter(pk=entries[5].entity_id).exists()


def test_an_activity_comes_back_after_its_parent_whatever_the_entry_order(
    settings, client_for, account, admin_user
):
    """The activity went into the bin first (a lower entry id), its deal later: one entry a
    chunk, the deal's chunk must come first."""
    settings.BIN_RESTORE_JOB_THRESHOLD = 1
    settings.BIN_RESTORE_JOB_CHUNK = 1
    deal = DealFactory(account=account)
    activity = ActivityFactory(account=account, company=None, deal=deal)
    activity_entry = services.bin_delete(record=activity, actor=admin_user)
    deal_entry = services.bin_delete(record=deal, actor=admin_user)
    assert activity_entry.pk < deal_entry.pk

    response = client_for(admin_user).post(
        RESTORE, {"ids": [activity_entry.pk, deal_entry.pk]}, format="json"
    )

    assert response.status_code == 202, response.content
    assert job_run(response.json()["id"]) == "completed"
    assert Activity.objects.for_account(account).filter(pk=activity.pk).exists()
    assert Deal.objects.for_account(account).filter(pk=deal.pk).exists()


def test_an_activity_whose_parent_is_not_asked_for_is_refused_unless_together(
    settings, client_for, account, admin_user
):
    settings.BIN_RESTORE_JOB_THRESHOLD = 1
    deal = DealFactory(account=account, title="Big deal")
    activities = ActivityFactory.create_batch(2, account=account, company=None, deal=deal)
    activity_entries = [services.bin_delete(record=a, actor=admin_user) for a in activities]
    deal_entry = services.bin_delete(record=deal, actor=admin_user)
    ids = [e.pk for e in activity_entries]
    before = bin_state()

    refused = client_for(admin_user).post(RESTORE, {"ids": ids}, format="json")

    body = assert_error(refused, 409, "parent_in_bin")
    assert "Big deal" in body["detail"]
    assert bin_state() == before
    assert not RestoreJob.objects.exists()

    together = client_for(admin_user).post(RESTORE, {"ids": ids, "together": True}, format="json")
    assert together.status_code == 202, together.content
    assert job_run(together.json()["id"]) == "completed"
    assert not BinEntry.objects.exists()
    assert RestoreJob.objects.get().restored == 3  # the deal's entry came along
    assert deal_entry.pk not in bin_ids()


# --- One job at a time; a duplicate delivery does nothing -----------------------------------


def test_a_second_job_while_one_runs_is_refused_with_409(
    small_jobs, client_for, account, other_account, admin_user, other_admin
):
    entries_bulk_make(account=account, actor=admin_user, count=8)
    entries_bulk_make(account=other_account, actor=other_admin, count=8)
    client = client_for(admin_user)
    first = client.post(RESTORE, {"filter": {}}, format="json").json()
    before = bin_state()

    for status in ("queued", "running"):
        RestoreJob.objects.filter(pk=first["id"]).update(status=status)
        body = assert_error(client.post(RESTORE, {"filter": {}}, format="json"), 409)
        assert body["code"] == "invalid_state"
        assert f"#{first['id']}" in body["detail"] and "already running" in body["detail"]
        assert bin_state() == before
        assert RestoreJob.objects.filter(account=account).count() == 1

    # Another account is not held up.
    other = client_for(other_admin).post(RESTORE, {"filter": {}}, format="json")
    assert other.status_code == 202, other.content

    # Once the first has ended, the next may start.
    RestoreJob.objects.filter(pk=first["id"]).update(status="completed")
    assert client.post(RESTORE, {"filter": {}}, format="json").status_code == 202


def test_the_database_allows_one_active_job_per_account(
    small_jobs, account, admin_user, monkeypatch
):
    entries = entries_bulk_make(account=account, actor=admin_user, count=8)
    ids = [e.pk for e in entries]
    services.restore_job_create(account=account, entry_ids=ids, actor=admin_user)
    # Two requests at once both pass the check: the partial unique constraint decides.
    monkeypatch.setattr(services, "_active_job", lambda account: None)

    with pytest.raises(services.RuleViolation) as refused:
        services.restore_job_create(account=account, entry_ids=ids, actor=admin_user)

    assert refused.value.code == "invalid_state"
    assert RestoreJob.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        RestoreJob.objects.create(account=account, total=1, status="running")


def test_a_duplicate_delivery_restores_once(small_jobs, client_for, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=8)
    job = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()
    events_before = Event.objects.count()

    assert job_run(job["id"]) == "completed"
    assert job_run(job["id"]) == "skipped"  # the broker delivered it again
    assert job_worker.restore_job_run(job_id=job["id"]) == "skipped"

    assert Event.objects.count() - events_before == 8
    assert RestoreJob.objects.get().done == 8


def test_a_delivery_while_the_job_runs_does_nothing(small_jobs, client_for, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=8)
    job = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()
    RestoreJob.objects.filter(pk=job["id"]).update(status="running")
    before = bin_state()

    assert job_run(job["id"]) == "skipped"

    assert bin_state() == before
    assert RestoreJob.objects.get().done == 0


# --- Progress -------------------------------------------------------------------------------


def test_progress_is_reported_after_each_chunk(
    small_jobs, client_for, account, admin_user, monkeypatch
):
    entries_bulk_make(account=account, actor=admin_user, count=10)
    client = client_for(admin_user)
    job = client.post(RESTORE, {"filter": {}}, format="json").json()
    page = login_client(admin_user)
    seen = []
    restore = services.bin_restore

    def watched(**kwargs):
        # What the API and the page show at the start of each chunk.
        api = client.get(job_path(job["id"])).json()
        progress = page.get(progress_path(job["id"])).json()
        seen.append((api["status"], api["done"], api["progress"], progress["progress"]))
        return restore(**kwargs)

    monkeypatch.setattr(services, "bin_restore", watched)

    assert job_run(job["id"]) == "completed"

    assert seen == [("running", 0, 0, 0), ("running", 4, 40, 40), ("running", 8, 80, 80)]
    final = page.get(progress_path(job["id"]))
    assert final["Cache-Control"] == "no-store"
    assert final.json() | {"summary": None} == {
        "id": job["id"],
        "status": "completed",
        "status_label": "Completed",
        "progress": 100,
        "total": 10,
        "done": 10,
        "restored": 10,
        "skipped": 0,
        "summary": None,
        "error": "",
        "final": True,
    }
    assert final.json()["summary"] == "10 of 10 entries done"


def test_the_jobs_list_shows_admins_every_job_and_employees_their_own(
    small_jobs, client_for, account, admin_user, employee
):
    entries_bulk_make(account=account, actor=employee, count=7)
    entries_bulk_make(account=account, actor=admin_user, count=7)
    mine = client_for(employee).post(RESTORE, {"filter": {}}, format="json").json()
    job_run(mine["id"])
    admins = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()

    listed = client_for(admin_user).get(JOBS).json()
    assert set(listed) == {"results", "next", "previous"}
    assert [row["id"] for row in listed["results"]] == [admins["id"], mine["id"]]
    assert set(listed["results"][0]) == JOB_FIELDS
    assert [row["id"] for row in client_for(employee).get(JOBS).json()["results"]] == [mine["id"]]
    assert_error(client_for(employee).get(job_path(admins["id"])), 404)
    assert client_for(employee).get(job_path(mine["id"])).json()["total"] == 7


def test_jobs_are_read_only(small_jobs, client_for, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    job = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()
    client = client_for(admin_user)
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(job_path(job["id"])).status_code == 405, method
        assert getattr(client, method)(JOBS).status_code == 405, method


# --- Tenancy --------------------------------------------------------------------------------


def test_another_accounts_job_is_not_found_on_the_api_and_the_pages(
    small_jobs, client_for, account, admin_user, other_admin
):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    job = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()
    missing = 987654321
    api = client_for(other_admin)
    page = login_client(other_admin)

    for path in (job_path(job["id"]), job_path(missing)):
        assert_error(api.get(path), 404, "not_found")
    assert api.get(JOBS).json()["results"] == []
    for job_id in (job["id"], missing):
        assert page.get(progress_path(job_id)).status_code == 404
        assert page.get(f"{LIST}?job={job_id}").status_code == 404
    # Their own bin page does not show it either.
    assert b"data-progress-url" not in page.get(LIST).content
    assert RestoreJob.objects.get().status == "queued"


@pytest.mark.parametrize("path", ["api", "progress"])
def test_anonymous_callers_see_no_job(small_jobs, client_for, account, admin_user, client, path):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    job = client_for(admin_user).post(RESTORE, {"filter": {}}, format="json").json()
    if path == "api":
        assert client_for(None).get(job_path(job["id"])).status_code in (401, 403)
    else:
        response = client.get(progress_path(job["id"]))
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


# --- The bin page ---------------------------------------------------------------------------


def test_the_bin_page_confirms_starts_a_job_and_shows_its_progress_then_its_outcome(
    small_jobs, account, admin_user, employee, django_capture_on_commit_callbacks
):
    matching = entries_bulk_make(account=account, actor=employee, count=8)
    others = entries_bulk_make(account=account, actor=admin_user, count=2)
    page = login_client(admin_user)
    query = f"deleted_by={employee.pk}"

    listed = page.get(f"{LIST}?{query}")
    assert "Restore all 8 matching entries…" in listed.content.decode()

    # The confirmation says how many; nothing happens yet.
    before = bin_state()
    confirm = page.post(RESTORE_PAGE, {"all": "1", "query": query})
    assert confirm.status_code == 200
    assert confirm.templates[0].name == "recyclebin/restore_confirm.html"
    html = confirm.content.decode()
    assert "Restore 8 entries?" in html and 'name="count" value="8"' in html
    no_inline_code(html)
    assert bin_state() == before and not RestoreJob.objects.exists()

    # The matching entries changed since: asked again, nothing started.
    entries_bulk_make(account=account, actor=employee, count=1)
    changed = page.post(RESTORE_PAGE, {"all": "1", "query": query, "confirm": "1", "count": "8"})
    assert changed.status_code == 200
    assert "changed meanwhile" in changed.content.decode()
    assert changed.context["count"] == 9
    assert not RestoreJob.objects.exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = page.post(
            RESTORE_PAGE, {"all": "1", "query": query, "confirm": "1", "count": "9"}
        )
    job = RestoreJob.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"{LIST}?{query}&job={job.pk}"
    assert len(callbacks) == 1
    assert job.total == 9 and job.requested_by == admin_user

    running = page.get(started["Location"])
    html = running.content.decode()
    assert running.status_code == 200
    assert f'data-progress-url="{progress_path(job.pk)}"' in html
    assert f'data-progress-done-url="{escape(started["Location"])}"' in html
    assert "js/progress.js" in html
    assert "<progress" in html and "0 of 9 entries done" in html
    no_inline_code(html)
    # Without ?job= the page shows the job still running, too.
    assert f'data-progress-url="{progress_path(job.pk)}"' in page.get(LIST).content.decode()

    assert job_run(job.pk) == "completed"
    assert page.get(progress_path(job.pk)).json()["final"] is True
    done = page.get(started["Location"]).content.decode()
    assert "The restore is finished" in done and "9 entries were restored." in done
    assert "data-progress-url" not in done
    assert bin_ids() == {e.pk for e in others}
    assert all(e.pk not in bin_ids() for e in matching)


def test_the_bin_page_shows_a_failed_jobs_error(small_jobs, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    job = services.restore_job_create(account=account, entry_ids=list(bin_ids()), actor=admin_user)
    RestoreJob.objects.filter(pk=job.pk).update(status="running")
    job_worker._job_failed(job_id=job.pk, reason="Something broke.")

    html = login_client(admin_user).get(f"{LIST}?job={job.pk}").content.decode()

    assert "The restore stopped" in html
    assert "Something broke. It stopped after 0 of 7 entries" in html


def test_the_bin_page_refuses_a_job_on_a_free_plan_before_the_confirmation(
    small_jobs, account, admin_user
):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    account.plan = "free"
    account.save(update_fields=["plan"])
    before = bin_state()
    page = login_client(admin_user)

    response = page.post(RESTORE_PAGE, {"all": "1", "query": "", "confirm": "1", "count": "7"})

    assert response.status_code == 302
    messages = [str(m) for m in page.get(response["Location"]).context["messages"]]
    assert any("does not include" in m for m in messages)
    assert bin_state() == before
    assert not RestoreJob.objects.exists()


def test_the_bin_page_refuses_a_second_job(small_jobs, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    services.restore_job_create(account=account, entry_ids=list(bin_ids()), actor=admin_user)
    page = login_client(admin_user)

    response = page.post(RESTORE_PAGE, {"all": "1", "query": "", "confirm": "1", "count": "7"})

    messages = [str(m) for m in page.get(response["Location"]).context["messages"]]
    assert any("already running" in m for m in messages)
    assert RestoreJob.objects.count() == 1


def test_the_bin_page_offers_together_when_an_activitys_parent_is_left_out(
    settings, account, admin_user
):
    settings.BIN_RESTORE_JOB_THRESHOLD = 1
    deal = DealFactory(account=account, title="Big deal")
    activities = ActivityFactory.create_batch(2, account=account, company=None, deal=deal)
    for activity in activities:
        services.bin_delete(record=activity, actor=admin_user)
    services.bin_delete(record=deal, actor=admin_user)
    page = login_client(admin_user)

    response = page.post(
        RESTORE_PAGE,
        {"all": "1", "query": "entity_type=activity", "confirm": "1", "count": "2"},
    )

    assert response.status_code == 200
    assert "Big deal" in response.content.decode()
    assert 'name="together" value="1" checked' in response.content.decode()
    assert not RestoreJob.objects.exists()


# --- The watchdog ---------------------------------------------------------------------------


def test_the_watchdog_fails_a_job_whose_worker_died_and_resends_a_lost_task(
    small_jobs, account, other_account, admin_user, other_admin, monkeypatch
):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    entries_bulk_make(account=other_account, actor=other_admin, count=7)
    dead = services.restore_job_create(
        account=account, entry_ids=list(bin_ids(account)), actor=admin_user
    )
    lost = services.restore_job_create(
        account=other_account, entry_ids=list(bin_ids(other_account)), actor=other_admin
    )
    long_ago = timezone.now() - timedelta(minutes=30)
    RestoreJob.objects.filter(pk=dead.pk).update(status="running", heartbeat_at=long_ago)
    RestoreJob.objects.filter(pk=lost.pk).update(heartbeat_at=long_ago)
    sent = []
    monkeypatch.setattr(tasks.restore_job_run, "delay", sent.append)

    assert tasks.restore_jobs_watchdog.apply().get() == {"failed": 1, "resent": 1}

    dead.refresh_from_db()
    assert dead.status == "failed" and "worker running this restore stopped" in dead.error
    assert sent == [lost.pk]
    # Fresh ones are left alone.
    assert job_worker.restore_jobs_watchdog() == {"failed": 0, "resent": 0}


def test_the_watchdog_is_on_the_beat_schedule():
    from config.celery import app as celery_app
    from config.schedule import BEAT_SCHEDULE

    scheduled = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert tasks.restore_jobs_watchdog.name in scheduled
    celery_app.loader.import_default_modules()
    assert tasks.restore_job_run.name in celery_app.tasks
    assert tasks.restore_job_run.acks_late is True


# --- Schema ---------------------------------------------------------------------------------


def test_the_schema_documents_the_jobs(client_for, db):
    schema = (
        client_for(None)
        .get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        .json()
    )
    paths = schema["paths"]
    assert set(paths[f"{JOBS}"]) == {"get"}
    assert set(paths[f"{JOBS}{{job_id}}/"]) == {"get"}
    bulk = paths[RESTORE]["post"]["responses"]
    assert {"200", "202", "403", "404", "409", "503"} <= set(bulk)
    assert "Location" in bulk["202"]["headers"]
    job = schema["components"]["schemas"]["RestoreJob"]
    assert set(job["properties"]) == JOB_FIELDS


# --- A real worker ----------------------------------------------------------------------------


@pytest.fixture
def worker(worker_start):
    """A worker process (conftest.py) on the test database and the broker the settings name,
    doing chunks of 7 entries (from its environment)."""
    return worker_start(BIN_RESTORE_JOB_CHUNK="7")


@pytest.mark.worker
def test_a_real_worker_runs_a_restore_job_end_to_end(
    worker,
    tmp_path,
    settings,
    client_for,
    account,
    admin_user,
    employee,
    other_account,
    other_admin,
):
    settings.BIN_RESTORE_JOB_THRESHOLD = 10
    yesterday = timezone.now() - timedelta(days=1)
    matching = entries_bulk_make(account=account, actor=employee, count=40, deleted_at=yesterday)
    kept = entries_bulk_make(account=account, actor=admin_user, count=5, deleted_at=yesterday)
    elsewhere = entries_bulk_make(account=other_account, actor=other_admin, count=5)
    client = client_for(admin_user)

    response = client.post(RESTORE, {"filter": {"deleted_by": employee.pk}}, format="json")

    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    tasks.restore_job_run.delay(job_id)  # a duplicate delivery on top of the service's own

    def finished() -> bool:
        return client.get(job_path(job_id)).json()["status"] in ("completed", "failed")

    assert wait_for(finished), "the worker did not run the job"
    job = client.get(job_path(job_id)).json()
    assert (job["status"], job["error"]) == ("completed", "")
    assert (job["total"], job["done"], job["restored"], job["progress"]) == (40, 40, 40, 100)
    assert bin_ids() == {e.pk for e in [*kept, *elsewhere]}
    restored = {e.entity_id for e in matching}
    assert not Lead.objects.filter(pk__in=restored, bin_entry__isnull=False).exists()
    # The duplicate ran too, found the job claimed and did nothing.
    log = tmp_path / "worker.log"
    assert wait_for(lambda: log.read_text().count("succeeded") >= 2), "no duplicate delivery"
    assert "'skipped'" in log.read_text()
    assert Event.objects.filter(event_type=EventType.RESTORE, entity_id__in=restored).count() == 40
    assert worker.poll() is None, "the worker died"


def test_the_job_pages_speak_german(small_jobs, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    page = login_client(admin_user)
    page.post(reverse("set_language"), {"language": "de", "next": LIST})

    assert "Alle 7 Einträge wiederherstellen …" in page.get(LIST).content.decode()
    confirm = page.post(RESTORE_PAGE, {"all": "1", "query": ""}).content.decode()
    assert "7 Einträge wiederherstellen?" in confirm
    assert "Ja, 7 Einträge wiederherstellen" in confirm
    started = page.post(RESTORE_PAGE, {"all": "1", "query": "", "confirm": "1", "count": "7"})
    running = page.get(started["Location"]).content.decode()
    assert "7 Einträge werden wiederhergestellt" in running
    assert "0 von 7 Einträgen erledigt" in running
    job = RestoreJob.objects.get()
    assert page.get(progress_path(job.pk)).json()["status_label"] == "Eingereiht"


# --- In a real browser, under the Content-Security-Policy -----------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_browser_confirms_the_job_and_watches_it_finish(
    small_jobs, tab, account, admin_user, employee, monkeypatch
):
    from tests.browser import click_and_wait, login

    entries_bulk_make(account=account, actor=employee, count=9)
    kept = entries_bulk_make(account=account, actor=admin_user, count=2)
    # The job runs below, in this process, while the page polls: no task for a broker.
    monkeypatch.setattr(services, "restore_job_send", lambda job_id: None)
    page = tab.page
    login(page, admin_user)
    page.goto(f"{LIST}?deleted_by={employee.pk}")
    click_and_wait(page, "button:has-text('Restore all 9 matching entries…')")
    assert page.locator("h1").inner_text() == "Restore 9 entries?"
    click_and_wait(page, "button:has-text('Yes, restore 9 entries')")

    job = RestoreJob.objects.get()
    assert f"job={job.pk}" in page.url
    assert page.locator("[data-progress-bar]").get_attribute("max") == "100"
    assert "0 of 9 entries done" in page.locator("[data-progress-summary]").inner_text()

    assert job_run(job.pk) == "completed"

    page.wait_for_selector("text=The restore is finished")
    assert "9 entries were restored." in page.inner_text("main")
    assert bin_ids() == {e.pk for e in kept}
    tab.assert_clean()


def test_operators_see_jobs_read_only_in_the_admin(client, small_jobs, account, admin_user):
    entries_bulk_make(account=account, actor=admin_user, count=7)
    job = services.restore_job_create(account=account, entry_ids=list(bin_ids()), actor=admin_user)
    operator = User.objects.create_superuser("operator", "op@example.com", "op-password-123")
    client.force_login(operator)

    listing = client.get(reverse("admin:recyclebin_restorejob_changelist"))
    detail = client.get(reverse("admin:recyclebin_restorejob_change", args=[job.pk]))

    assert listing.status_code == 200 and detail.status_code == 200
    assert (
        client.post(reverse("admin:recyclebin_restorejob_change", args=[job.pk])).status_code == 403
    )
