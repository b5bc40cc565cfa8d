"""The nightly snapshots: a failed account retried on its own, the others not redone; and with
real worker processes, a nightly task delivered twice (or fanned out by two beats) makes one
snapshot per account."""

import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from backups import services, tasks
from backups.models import Snapshot
from config.celery import app
from crm.tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager():
    """Tasks run in this process as they are sent, retries included (at once)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def writes(monkeypatch):
    """Every snapshot_write call by account id; ``fail[account_id]`` more failures to come."""
    calls: list[int] = []
    fail: dict[int, int] = {}
    write = services.snapshot_write

    def counted(*, account, out, **kwargs):
        calls.append(account.pk)
        if fail.get(account.pk, 0) > 0:
            fail[account.pk] -= 1
            raise RuntimeError("the disk is full")
        return write(account=account, out=out, **kwargs)

    monkeypatch.setattr(services, "snapshot_write", counted)
    return calls, fail


def _nightly(account) -> list[str]:
    return list(
        Snapshot.objects.filter(account=account, kind="nightly")
        .order_by("pk")
        .values_list("status", flat=True)
    )


def test_a_failed_account_is_retried_and_the_others_are_not_redone(
    eager, writes, account, other_account
):
    calls, fail = writes
    fail[account.pk] = 1

    assert tasks.nightly_snapshots() == 2

    assert sorted(calls) == sorted([account.pk, account.pk, other_account.pk])
    assert _nightly(account) == ["failed", "succeeded"]
    assert _nightly(other_account) == ["succeeded"]


def test_a_batch_goes_on_after_an_account_that_raises_and_hands_it_to_a_retry(
    eager, writes, account, other_account, settings, monkeypatch
):
    """A failure outside the snapshot itself (here the database refusing the row) must not
    cost the rest of the batch its snapshots."""
    calls, _fail = writes
    settings.NIGHTLY_SNAPSHOT_RETRIES = 1
    take = services.snapshot_take
    raised = []

    def take_or_raise(*, account, kind, actor=None):
        if account.pk == first and not raised:
            raised.append(account.pk)
            raise RuntimeError("connection lost")
        return take(account=account, kind=kind, actor=actor)

    monkeypatch.setattr(services, "snapshot_take", take_or_raise)
    first = account.pk

    assert tasks.snapshot_nightly_batch.apply(args=[[account.pk, other_account.pk]]).get() == 1

    assert raised == [account.pk]
    assert sorted(calls) == sorted([account.pk, other_account.pk])  # the retry, then the other
    assert _nightly(account) == ["succeeded"] and _nightly(other_account) == ["succeeded"]


def test_the_fan_out_sends_batches_of_the_setting(db, settings, monkeypatch):
    from conftest import _account

    accounts = [_account(f"Batch{i}") for i in range(5)]
    settings.NIGHTLY_SNAPSHOT_BATCH = 2
    sent = []
    monkeypatch.setattr(
        tasks.snapshot_nightly_batch, "apply_async", lambda args, **options: sent.append(args[0])
    )

    assert tasks.nightly_snapshots() == 5

    assert sent == [[a.pk for a in accounts[0:2]], [a.pk for a in accounts[2:4]], [accounts[4].pk]]


def test_retries_stop_after_the_setting(eager, writes, account, settings):
    calls, fail = writes
    settings.NIGHTLY_SNAPSHOT_RETRIES = 2
    fail[account.pk] = 10

    result = tasks.snapshot_nightly.apply(args=[account.pk])

    assert result.successful(), "giving up is logged, not raised"
    assert calls == [account.pk] * 3
    assert _nightly(account) == ["failed"] * 3
    assert result.get() == Snapshot.objects.filter(account=account).order_by("pk").last().pk


def test_a_retry_waits_the_setting(writes, account, settings, monkeypatch):
    _calls, fail = writes
    fail[account.pk] = 1
    settings.NIGHTLY_SNAPSHOT_RETRY_SECONDS = 123
    asked = {}

    def retry(**kwargs):
        asked.update(kwargs)
        return RuntimeError("retry sent")

    monkeypatch.setattr(tasks.snapshot_nightly, "retry", retry)

    with pytest.raises(RuntimeError, match="retry sent"):
        tasks.snapshot_nightly(account.pk)

    assert asked == {"countdown": 123, "max_retries": 3}


def test_a_duplicate_after_a_success_does_nothing_and_does_not_retry(eager, writes, account):
    calls, _fail = writes
    first = tasks.snapshot_nightly.apply(args=[account.pk]).get()
    second = tasks.snapshot_nightly.apply(args=[account.pk]).get()

    assert first == second and calls == [account.pk]
    assert _nightly(account) == ["succeeded"]


@pytest.mark.parametrize("task", [tasks.snapshot_nightly, tasks.snapshot_nightly_batch])
def test_the_nightly_tasks_survive_a_killed_worker(task):
    """Delivered again if its worker dies mid-snapshot: safe, the database allows one."""
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


# --- Real worker processes --------------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def two_workers(transactional_db, tmp_path, snapshot_dir):
    """One Celery worker with two pool processes on the test database, writing snapshots into
    the test's folder; stopped (and its output shown) afterwards."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "SNAPSHOT_STORAGE": "local",
        "SNAPSHOT_DIR": str(snapshot_dir),
    }
    app.control.purge()
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
                "--pool=prefork",
                "--concurrency=2",
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


def _wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
@pytest.mark.postgres
def test_duplicate_delivery_to_two_worker_processes_makes_one_snapshot(
    two_workers, account, other_account, snapshot_dir
):
    if connection.vendor != "postgresql":
        pytest.skip("two pool processes writing at once: PostgreSQL")
    CompanyFactory(account=account, title="Nightly Ltd")
    tasks.nightly_snapshots.delay()
    tasks.nightly_snapshots.delay()  # a second beat process
    for _ in range(3):  # the same message delivered again, and plain duplicates
        tasks.snapshot_nightly.apply_async(args=[account.pk], task_id="nightly-acme-today")
        tasks.snapshot_nightly.delay(account.pk)

    def done() -> bool:
        return Snapshot.objects.filter(kind="nightly", status="succeeded").count() == 2

    assert _wait_for(done), "the workers did not take the nightly snapshots"
    time.sleep(3)  # let every duplicate run: each must find the first and do nothing
    assert _nightly(account) == ["succeeded"]
    assert _nightly(other_account) == ["succeeded"]
    files = sorted(p for p in snapshot_dir.rglob("*") if p.is_file())
    assert len(files) == 2
    assert Snapshot.objects.get(account=account).counts["crm_company"] == 1
    assert two_workers.poll() is None, "the worker died"
