"""A real Celery worker process runs the app's tasks, over the broker the settings name: Redis
when REDIS_URL is set (the PostgreSQL pass), the filesystem transport otherwise (SQLite pass).
The ``worker`` fixture (a worker process on the test database) is the root conftest.py's."""

import os
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.tasks import sessions_clear_expired
from backups.models import Snapshot
from backups.services import snapshot_delete
from backups.tasks import nightly_snapshots, snapshot_nightly
from config.celery import app
from config.schedule import BEAT_SCHEDULE
from conftest import wait_for
from crm.tests.factories import CompanyFactory

pytestmark = pytest.mark.worker


def test_worker_clears_expired_sessions(worker):
    expired = SessionStore()
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    live = SessionStore()
    live.create()

    sessions_clear_expired.delay()

    assert wait_for(lambda: not Session.objects.filter(pk=expired.session_key).exists()), (
        "the worker did not run the task"
    )
    assert Session.objects.filter(pk=live.session_key).exists()
    assert worker.poll() is None, "the worker died"


def test_worker_takes_one_nightly_snapshot_per_account_even_when_the_job_runs_twice(
    worker, account, other_account
):
    CompanyFactory(account=account, title="Nightly Ltd")
    nightly_snapshots.delay()
    nightly_snapshots.delay()  # a second beat, or a redelivery
    snapshot_nightly.delay(account.pk)

    def done() -> bool:
        return (
            Snapshot.objects.filter(
                kind=Snapshot.Kind.NIGHTLY, status=Snapshot.Status.SUCCEEDED
            ).count()
            == 2
        )

    try:
        assert wait_for(done), "the worker did not take the nightly snapshots"
        time.sleep(2)  # let the duplicates run: they must find the first and do nothing
        nightly = Snapshot.objects.filter(kind=Snapshot.Kind.NIGHTLY)
        assert sorted(nightly.values_list("account_id", flat=True)) == sorted(
            [account.pk, other_account.pk]
        )
        assert nightly.get(account=account).counts["crm_company"] == 1
        assert worker.poll() is None, "the worker died"
    finally:
        for snapshot in Snapshot.objects.all():
            snapshot_delete(snapshot=snapshot)


def test_broker_follows_the_settings():
    if os.environ.get("REDIS_URL"):
        assert settings.CELERY_BROKER_URL.startswith("redis://")
    else:
        assert settings.CELERY_BROKER_URL == "filesystem://"


def test_every_scheduled_task_exists():
    app.loader.import_default_modules()
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names an unknown task"
