"""A real Celery worker process runs the app's tasks, over the broker the settings name: Redis
when REDIS_URL is set (the PostgreSQL pass), the filesystem transport otherwise (SQLite pass)."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from accounts.tasks import sessions_clear_expired
from backups.models import Snapshot
from backups.services import snapshot_delete
from backups.tasks import nightly_snapshots, snapshot_nightly
from config.celery import app
from config.schedule import BEAT_SCHEDULE
from crm.tests.factories import CompanyFactory

pytestmark = pytest.mark.worker


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A worker process on the test database, stopped (and its output shown) afterwards."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log.read_text())  # noqa: T201 - shown by pytest only when a test fails


def _wait_for(condition, timeout: float = 40.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_worker_clears_expired_sessions(worker):
    expired = SessionStore()
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    live = SessionStore()
    live.create()

    sessions_clear_expired.delay()

    assert _wait_for(lambda: not Session.objects.filter(pk=expired.session_key).exists()), (
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
        assert _wait_for(done), "the worker did not take the nightly snapshots"
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
