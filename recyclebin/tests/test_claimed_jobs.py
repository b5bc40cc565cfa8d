"""core.jobs, the claimed-job helper behind bin restore jobs and restore requests, on the bin's
RestoreJob rows: one caller wins a claim, a heartbeat stops once the job is no longer running,
the watchdog's staleness and resending, a task sent only when the broker takes it. (core has
no tests folder of its own in the suite's paths; its helper is tested where it is used.)"""

import ast
import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core import jobs
from recyclebin import services, tasks
from recyclebin.models import RestoreJob

pytestmark = pytest.mark.django_db

Status = RestoreJob.Status


def job_make(account, **values) -> RestoreJob:
    return RestoreJob.objects.create(account=account, total=1, **values)


def test_one_caller_wins_the_claim(account):
    job = job_make(account)

    first = jobs.job_claim(
        jobs=RestoreJob, pk=job.pk, from_status=Status.QUEUED, to_status=Status.RUNNING, done=1
    )
    second = jobs.job_claim(
        jobs=RestoreJob, pk=job.pk, from_status=Status.QUEUED, to_status=Status.RUNNING, done=2
    )

    assert (first, second) == (True, False)
    job.refresh_from_db()
    assert (job.status, job.done) == (Status.RUNNING, 1)  # the loser wrote nothing


def test_a_claim_from_several_statuses_or_without_a_new_one(account):
    job = job_make(account, status=Status.FAILED)
    later = timezone.now() + timedelta(minutes=1)

    assert jobs.job_claim(
        jobs=RestoreJob.objects.filter(account=account),
        pk=job.pk,
        from_status=(Status.RUNNING, Status.FAILED),
        to_status=Status.COMPLETED,
    )
    assert jobs.job_claim(
        jobs=RestoreJob, pk=job.pk, from_status=Status.COMPLETED, heartbeat_at=later
    )  # touched, status kept
    assert not jobs.job_claim(jobs=RestoreJob, pk=job.pk + 1, from_status=Status.COMPLETED)

    job.refresh_from_db()
    assert (job.status, job.heartbeat_at) == (Status.COMPLETED, later)


def test_a_heartbeat_tells_the_job_to_stop_once_it_is_no_longer_running(account):
    job = job_make(account, status=Status.RUNNING)
    at = timezone.now() - timedelta(seconds=5)

    assert jobs.job_heartbeat(jobs=RestoreJob, pk=job.pk, status=Status.RUNNING, at=at, done=1)
    job.refresh_from_db()
    assert (job.heartbeat_at, job.done) == (at, 1)

    RestoreJob.objects.filter(pk=job.pk).update(status=Status.FAILED)  # the watchdog gave up
    assert not jobs.job_heartbeat(jobs=RestoreJob, pk=job.pk, status=Status.RUNNING, done=2)
    job.refresh_from_db()
    assert (job.heartbeat_at, job.done) == (at, 1)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_the_block_runs(account):
    long_ago = timezone.now() - timedelta(hours=1)
    job = job_make(account, status=Status.RUNNING, heartbeat_at=long_ago)

    with jobs.job_heartbeat_thread(
        jobs=RestoreJob, pk=job.pk, status=Status.RUNNING, interval=0.05
    ):
        deadline = time.monotonic() + 10
        while RestoreJob.objects.get(pk=job.pk).heartbeat_at == long_ago:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
    after = RestoreJob.objects.get(pk=job.pk).heartbeat_at
    time.sleep(0.2)

    assert after > long_ago
    assert RestoreJob.objects.get(pk=job.pk).heartbeat_at == after  # stopped with the block


def test_no_heartbeat_thread_without_an_interval(account):
    long_ago = timezone.now() - timedelta(hours=1)
    job = job_make(account, status=Status.RUNNING, heartbeat_at=long_ago)

    with jobs.job_heartbeat_thread(jobs=RestoreJob, pk=job.pk, status=Status.RUNNING, interval=0):
        pass

    assert RestoreJob.objects.get(pk=job.pk).heartbeat_at == long_ago


def test_stale_jobs_are_the_ones_whose_last_sign_of_life_is_old(account, other_account):
    now = timezone.now()
    dead = job_make(account, status=Status.RUNNING, heartbeat_at=now - timedelta(minutes=10))
    alive = job_make(other_account, status=Status.RUNNING, heartbeat_at=now)
    never = job_make(account, status=Status.FAILED)  # no heartbeat: its creation tells
    RestoreJob.objects.filter(pk=never.pk).update(created_at=now - timedelta(minutes=10))
    before = now - timedelta(minutes=5)

    assert jobs.jobs_stale(jobs=RestoreJob, status=Status.RUNNING, before=before) == [dead.pk]
    assert alive.pk not in jobs.jobs_stale(
        jobs=RestoreJob, status=(Status.RUNNING, Status.FAILED), before=before
    )
    assert jobs.jobs_stale(
        jobs=RestoreJob, status=Status.FAILED, before=before, fallback="created_at"
    ) == [never.pk]
    assert jobs.jobs_stale(jobs=RestoreJob, status=Status.FAILED, before=before) == []


def test_a_lost_task_is_sent_again_once(account, other_account):
    now = timezone.now()
    lost = job_make(account, heartbeat_at=now - timedelta(minutes=30))
    fresh = job_make(other_account, heartbeat_at=now)
    sent = []

    def resend() -> list[int]:
        return jobs.jobs_resend(
            jobs=RestoreJob,
            status=Status.QUEUED,
            before=timezone.now() - timedelta(minutes=10),
            send=sent.append,
        )

    assert resend() == [lost.pk]
    assert resend() == []  # touched: a second watchdog at once does not send it again
    assert sent == [lost.pk]  # not the fresh one
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.heartbeat_at > now - timedelta(minutes=1)
    assert (lost.status, fresh.status) == (Status.QUEUED, Status.QUEUED)


class _Task:
    name = "tests.a_task"

    def __init__(self, broker_down: bool = False) -> None:
        self.broker_down = broker_down
        self.sent: list[tuple] = []

    def delay(self, *args):
        if self.broker_down:
            raise ConnectionError("the broker is down")
        self.sent.append(args)


def test_a_task_is_sent_with_its_ids():
    task = _Task()
    assert jobs.task_send(task, 7) is True
    assert task.sent == [(7,)]


def test_a_broker_that_is_down_is_logged_not_raised(caplog):
    with caplog.at_level(logging.ERROR, logger="core.jobs"):
        assert jobs.task_send(_Task(broker_down=True), 7) is False
    assert "tests.a_task(7,): could not send the task" in caplog.text


def test_a_job_of_the_bin_goes_out_through_its_send_hook(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.restore_job_run, "delay", sent.append)
    services.restore_job_send(job_id=41)
    assert sent == [41]


def test_the_decision_inline_or_job_is_the_threshold(settings):
    settings.BIN_RESTORE_JOB_THRESHOLD = 3
    assert not services.restore_job_needed(entry_count=3)
    assert services.restore_job_needed(entry_count=4)


def test_a_restore_job_has_the_long_time_limits():
    assert tasks.restore_job_run.soft_time_limit == settings.LONG_TASK_SOFT_TIME_LIMIT
    assert tasks.restore_job_run.time_limit == settings.LONG_TASK_TIME_LIMIT


def test_the_helper_imports_no_app_of_this_project():
    source = Path(jobs.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "logging",
        "threading",
        "collections",
        "contextlib",
        "datetime",
        "typing",
        "django",
        "celery",
    }, imported
