"""Taking, verifying, deleting and expiring snapshots; the nightly tasks; the commands."""

import os
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from backups import services, tasks
from backups.models import Snapshot
from backups.selectors import snapshots_for_account
from backups.snapshot_format import SnapshotInvalid
from backups.storage import PrivateFileSystemStorage, snapshot_storage
from backups.tests.factories import account_fill, snapshot_row

pytestmark = pytest.mark.django_db(transaction=True)


def _files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_take_stores_a_private_verified_file(account, admin_user, snapshot_dir):
    account_fill(account, actor=admin_user)

    snapshot = services.snapshot_take(account=account, kind="manual", actor=admin_user)

    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    assert snapshot.requested_by == admin_user
    assert snapshot.counts["crm_company"] == 8 and snapshot.counts["recyclebin_hiddenlink"] == 1
    assert snapshot.expires_at == snapshot.taken_at + timedelta(days=7)
    [path] = _files(snapshot_dir)
    assert path.stat().st_size == snapshot.size_bytes
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)
    assert services.snapshot_verify(snapshot=snapshot) == snapshot.counts
    with pytest.raises(NotImplementedError):
        snapshot_storage().url(snapshot.storage_name)
    assert list(snapshots_for_account(account=account)) == [snapshot]


def test_a_failed_snapshot_leaves_no_file_and_is_not_listed(account, snapshot_dir, monkeypatch):
    def refuse(self, name, content, max_length=None):
        super(PrivateFileSystemStorage, self).save(name, content, max_length)
        raise OSError("disk full")

    monkeypatch.setattr(PrivateFileSystemStorage, "save", refuse)

    snapshot = services.snapshot_take(account=account, kind="manual")

    assert snapshot.status == Snapshot.Status.FAILED
    assert "disk full" in snapshot.error
    assert snapshot.storage_name == "" and snapshot.size_bytes == 0
    assert _files(snapshot_dir) == []
    assert not snapshots_for_account(account=account).exists()
    with pytest.raises(SnapshotInvalid):
        services.snapshot_verify(snapshot=snapshot)


def test_a_failed_write_leaves_no_file_either(account, snapshot_dir, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "snapshot_write", broken)
    snapshot = services.snapshot_take(account=account, kind="nightly")

    assert snapshot.status == Snapshot.Status.FAILED and "went away" in snapshot.error
    assert _files(snapshot_dir) == []
    # A failed nightly does not block the day's retry.
    monkeypatch.undo()
    retried = services.snapshot_take(account=account, kind="nightly")
    assert retried.status == Snapshot.Status.SUCCEEDED and retried.pk != snapshot.pk


def test_verify_refuses_a_damaged_file(account, admin_user, snapshot_dir):
    account_fill(account, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind="manual")
    [path] = _files(snapshot_dir)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(SnapshotInvalid, match="checksum"):
        services.snapshot_verify(snapshot=snapshot)
    with pytest.raises(CommandError, match="1 snapshot"):
        call_command("verify_snapshot", str(snapshot.pk))


def test_the_database_allows_one_nightly_snapshot_per_account_and_day(account):
    snapshot_row(account)
    with pytest.raises(IntegrityError), transaction.atomic():
        snapshot_row(account)
    snapshot_row(account, kind=Snapshot.Kind.MANUAL)  # other kinds: as many as needed
    snapshot_row(account, day=timezone.now().date() - timedelta(days=1))


def test_the_nightly_task_run_twice_makes_one_snapshot(account, other_account, snapshot_dir):
    first = tasks.snapshot_nightly(account.pk)
    second = tasks.snapshot_nightly(account.pk)

    assert first == second
    assert Snapshot.objects.filter(account=account).count() == 1
    assert len(_files(snapshot_dir)) == 1
    assert tasks.snapshot_nightly(999_999) is None


def test_the_nightly_job_fans_out_every_account(account, other_account, monkeypatch):
    queued = []
    monkeypatch.setattr(
        tasks.snapshot_nightly_batch, "apply_async", lambda args, **options: queued.extend(*args)
    )

    assert tasks.nightly_snapshots() == 2
    assert sorted(queued) == sorted([account.pk, other_account.pk])


def test_retention_removes_row_and_file(account, snapshot_dir):
    old = services.snapshot_take(account=account, kind="manual")
    fresh = services.snapshot_take(account=account, kind="manual")
    failed = snapshot_row(account, kind="manual", status=Snapshot.Status.FAILED)
    stuck = snapshot_row(account, kind="manual", status=Snapshot.Status.RUNNING)
    Snapshot.objects.filter(pk__in=[old.pk, failed.pk]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    Snapshot.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert len(_files(snapshot_dir)) == 2

    assert services.snapshots_expire() == 2
    assert services.snapshots_expire() == 0  # safe to run twice

    assert set(Snapshot.objects.values_list("pk", flat=True)) == {fresh.pk, stuck.pk}
    assert Snapshot.objects.get(pk=stuck.pk).status == Snapshot.Status.FAILED
    [path] = _files(snapshot_dir)
    assert path.name == os.path.basename(fresh.storage_name)
    assert tasks.snapshots_expire() == 0


def test_take_snapshots_command(account, other_account, capsys):
    call_command("take_snapshots")
    out = capsys.readouterr().out
    assert "Acme: snapshot #" in out and "Globex: snapshot #" in out and "company=0" in out

    call_command("take_snapshots", "--account", "Acme")  # tonight's exists: kept
    assert Snapshot.objects.filter(account=account).count() == 1
    call_command("take_snapshots", "--account", "Acme", "--kind", "manual")
    assert Snapshot.objects.filter(account=account).count() == 2
    with pytest.raises(CommandError, match="No account"):
        call_command("take_snapshots", "--account", "Nope")


def test_verify_snapshot_command(account, admin_user, capsys):
    account_fill(account, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind="manual")

    call_command("verify_snapshot", str(snapshot.pk))

    out = capsys.readouterr().out
    assert "verifies" in out and "crm_company: 8 rows" in out
    with pytest.raises(CommandError, match="No snapshot"):
        call_command("verify_snapshot", "999999")


def test_verify_snapshot_all_reports_each_and_fails_if_one_is_damaged(
    account, admin_user, snapshot_dir, capsys
):
    good = services.snapshot_take(account=account, kind="manual")
    bad = services.snapshot_take(account=account, kind="manual")
    services.snapshot_take(account=account, kind="manual")
    path = snapshot_dir / bad.storage_name
    path.write_bytes(path.read_bytes()[:-10])

    with pytest.raises(CommandError, match="1 snapshot"):
        call_command("verify_snapshot", "--all")

    captured = capsys.readouterr()
    assert f"Snapshot #{good.pk} of Acme" in captured.out
    assert f"Snapshot #{bad.pk} does NOT verify" in captured.err
    assert captured.out.count("verifies") == 2
    with pytest.raises(CommandError, match="ids, or --all"):
        call_command("verify_snapshot")


def test_a_snapshot_given_up_while_it_ran_stays_failed_and_leaves_no_file(
    account, admin_user, snapshot_dir, monkeypatch
):
    """Retention marks a snapshot running too long as failed; when it finishes after all, its
    row is not written back to succeeded over that (it is locked and read again)."""
    account_fill(account, actor=admin_user)
    write = services.snapshot_write

    def slow_write(**kwargs):
        result = write(**kwargs)
        Snapshot.objects.filter(status=Snapshot.Status.RUNNING).update(
            status=Snapshot.Status.FAILED, error="Interrupted: the snapshot never finished."
        )
        return result

    monkeypatch.setattr(services, "snapshot_write", slow_write)

    snapshot = services.snapshot_take(account=account, kind="manual")

    assert snapshot.status == Snapshot.Status.FAILED
    assert "given up" in snapshot.error
    assert snapshot.storage_name == ""
    assert [path for path in snapshot_dir.rglob("*") if path.is_file()] == []
