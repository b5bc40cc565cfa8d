"""Fault injection: the database connection dropped in the middle of a snapshot and of a restore,
a corrupted and a truncated snapshot file, storage refusing to write (disk full). After each: no
data lost or half-written, no snapshot listed as good that is not, the account out of
maintenance. (The worker killed mid-rollback and a task delivered twice: support/tests.)"""

import psycopg2
import pytest
from django.db import DatabaseError, connection

from accounts.models import Account
from backups import restore, services
from backups.models import Snapshot
from backups.restore import RestoreRefused, snapshot_restore
from backups.selectors import snapshots_for_account
from backups.storage import PrivateFileSystemStorage, snapshot_storage
from backups.tests.factories import account_fill, live_rows
from crm import services as crm_services
from crm.models import Company
from history.models import Event, EventType

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def snapshot_dir(snapshot_dir):
    return snapshot_dir


@pytest.fixture
def filled(account, admin_user, other_account, other_admin):
    account_fill(account, actor=admin_user)
    account_fill(other_account, actor=other_admin, prefix="other ")
    return account


def _taken(account, actor) -> Snapshot:
    snapshot = services.snapshot_take(account=account, kind="manual", actor=actor)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    return snapshot


def _changed(account, actor) -> None:
    for company in Company.objects.for_account(account).order_by("pk")[:3]:
        crm_services.record_delete(record=company, actor=actor)
    crm_services.record_update(
        record=Company.objects.for_account(account).order_by("pk").first(),
        actor=actor,
        data={"title": "Renamed since"},
    )


def _drop_connection() -> None:
    """Kill the server process behind Django's connection, from another connection, as a
    database restart or a network cut would."""
    pid = connection.connection.get_backend_pid()
    settings = connection.settings_dict
    killer = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"],
    )
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()


def _maintenance(account) -> bool:
    return Account.objects.get(pk=account.pk).maintenance


def _good_files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.postgres
def test_connection_dropped_mid_restore_changes_nothing_and_lifts_maintenance(
    filled, admin_user, other_account, monkeypatch
):
    account = filled
    snapshot = _taken(account, admin_user)
    _changed(account, admin_user)
    before, other_before = live_rows(account), live_rows(other_account)

    def cut(table_name):
        if table_name == "crm_lead":
            _drop_connection()

    monkeypatch.setattr(restore, "after_table", cut)

    with pytest.raises(DatabaseError):
        snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    connection.close()  # what the next request or task does with a broken connection
    assert live_rows(account) == before
    assert live_rows(other_account) == other_before
    assert _maintenance(account) is False
    assert not Event.objects.filter(account=account, event_type=EventType.ROLLBACK).exists()
    monkeypatch.setattr(restore, "after_table", lambda table_name: None)
    snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)  # and it can be retried
    assert live_rows(account) != before


@pytest.mark.postgres
def test_connection_dropped_mid_snapshot_leaves_no_good_snapshot(
    filled, admin_user, snapshot_dir, monkeypatch
):
    account = filled
    real_write = services.snapshot_write

    class CutAfterFirstBytes:
        def __init__(self, out):
            self.out, self.cut = out, False

        def write(self, data):
            if not self.cut:
                self.cut = True
                _drop_connection()
            return self.out.write(data)

        def __getattr__(self, name):
            return getattr(self.out, name)

    def write_then_cut(*, account, out, **kwargs):
        return real_write(account=account, out=CutAfterFirstBytes(out), **kwargs)

    monkeypatch.setattr(services, "snapshot_write", write_then_cut)

    snapshot = services.snapshot_take(account=account, kind="manual", actor=admin_user)

    connection.close()
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error
    assert not snapshots_for_account(account=account).exists()
    assert _good_files(snapshot_dir) == set()
    monkeypatch.setattr(services, "snapshot_write", real_write)
    assert services.snapshot_take(account=account, kind="manual").status == "succeeded"


def _rewrite(snapshot, change) -> None:
    storage = snapshot_storage()
    path = storage.path(snapshot.storage_name)
    with open(path, "rb") as original:
        data = original.read()
    with open(path, "wb") as damaged:
        damaged.write(change(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(
            lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0xFF]) + b[len(b) // 2 + 1 :],
            id="one-byte-flipped",
        ),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_a_damaged_file_is_refused_and_nothing_changes(filled, admin_user, damage):
    account = filled
    snapshot = _taken(account, admin_user)
    _changed(account, admin_user)
    before = live_rows(account)
    _rewrite(snapshot, damage)
    snapshots = Snapshot.objects.count()

    with pytest.raises(RestoreRefused):
        snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)
    with pytest.raises(RestoreRefused):
        restore.preview(snapshot=snapshot, kind="full")

    assert live_rows(account) == before
    assert _maintenance(account) is False
    assert Snapshot.objects.count() == snapshots  # not even a pre_restore snapshot


def test_storage_full_during_the_safety_snapshot_refuses_the_restore(
    filled, admin_user, snapshot_dir, monkeypatch
):
    account = filled
    snapshot = _taken(account, admin_user)
    _changed(account, admin_user)
    before = live_rows(account)
    files = _good_files(snapshot_dir)

    def disk_full(self, name, content, max_length=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PrivateFileSystemStorage, "save", disk_full)

    with pytest.raises(RestoreRefused, match="safety snapshot"):
        snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    assert live_rows(account) == before
    assert _maintenance(account) is False
    assert _good_files(snapshot_dir) == files
    if connection.vendor == "postgresql":
        # The safety copy is written inside the restore's transaction (a delta): it went with
        # the rollback, and nothing says a restore happened.
        assert not Snapshot.objects.filter(account=account, kind=Snapshot.Kind.PRE_RESTORE)
        return
    failed = Snapshot.objects.get(account=account, kind=Snapshot.Kind.PRE_RESTORE)
    assert failed.status == Snapshot.Status.FAILED and "No space left" in failed.error
    assert not snapshots_for_account(account=account).filter(pk=failed.pk).exists()
