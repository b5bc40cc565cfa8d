"""Content-addressed snapshot files: the content hash, an unchanged account's nightly snapshot
sharing the earlier file, and a shared file deleted only with the last row naming it."""

import io
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from backups import services
from backups.models import Snapshot
from backups.snapshot_format import snapshot_write
from backups.tests.factories import account_fill
from crm.models import Activity, Company, Contact, Deal, Lead
from recyclebin.models import BinEntry, HiddenLink

pytestmark = pytest.mark.django_db(transaction=True)


def _files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _content_hash(account) -> str:
    return snapshot_write(account=account, out=io.BytesIO()).content_hash


def _yesterday(*snapshots: Snapshot, days: int = 1) -> None:
    """The clock moves on: these were taken ``days`` earlier."""
    for snapshot in snapshots:
        Snapshot.objects.filter(pk=snapshot.pk).update(
            day=snapshot.day - timedelta(days=days),
            taken_at=snapshot.taken_at - timedelta(days=days),
            expires_at=snapshot.expires_at - timedelta(days=days),
        )


def _bump(model):
    """A change to one row of ``model`` (each table of a snapshot in turn)."""

    def change(account):
        if model is HiddenLink:
            HiddenLink.objects.filter(entry__account=account).first().delete()
        elif model is BinEntry:
            BinEntry.objects.filter(account=account).update(title="renamed in the bin")
        else:
            row = model._base_manager.filter(account=account).order_by("pk").first()
            field = {
                Company: "phone",
                Contact: "phone",
                Lead: "phone",
                Deal: "title",
                Activity: "subject",
            }[model]
            model._base_manager.filter(pk=row.pk).update(**{field: "changed"})

    return change


def test_the_content_hash_is_the_data_not_the_time(account, admin_user):
    account_fill(account, actor=admin_user)
    first = snapshot_write(account=account, out=io.BytesIO())
    second = snapshot_write(account=account, out=io.BytesIO())

    assert first.taken_at != second.taken_at
    assert len(first.content_hash) == 64
    assert first.content_hash == second.content_hash


@pytest.mark.parametrize(
    "change",
    [_bump(m) for m in (Company, Contact, Lead, Deal, Activity, BinEntry, HiddenLink)],
    ids=["company", "contact", "lead", "deal", "activity", "bin_entry", "hidden_link"],
)
def test_any_change_to_any_table_changes_the_content_hash(account, admin_user, change):
    account_fill(account, actor=admin_user)
    before = _content_hash(account)

    change(account)

    assert _content_hash(account) != before


def test_a_new_row_a_renamed_account_and_another_key_change_the_content_hash(
    account, admin_user, settings
):
    account_fill(account, actor=admin_user)
    before = _content_hash(account)
    account_fill(account, actor=admin_user, prefix="more ")
    grown = _content_hash(account)
    assert grown != before

    account.name = "Acme Renamed"
    account.save()
    renamed = _content_hash(account)
    assert renamed != grown

    # After a key is set (or rotated) no file written before it is shared.
    settings.SNAPSHOT_ENCRYPTION_KEY = "A" * 43 + "="
    assert _content_hash(account) != renamed


def test_an_unchanged_account_shares_yesterdays_file(account, admin_user, snapshot_dir):
    account_fill(account, actor=admin_user)
    yesterday = services.snapshot_take(account=account, kind="nightly")
    _yesterday(yesterday)

    today = services.snapshot_take(account=account, kind="nightly")

    assert today.status == Snapshot.Status.SUCCEEDED and today.pk != yesterday.pk
    assert today.file_shared and not Snapshot.objects.get(pk=yesterday.pk).file_shared
    assert today.storage_name == yesterday.storage_name
    assert today.checksum == yesterday.checksum and today.size_bytes == yesterday.size_bytes
    assert today.content_hash == yesterday.content_hash
    assert today.taken_at > yesterday.taken_at
    assert len(_files(snapshot_dir)) == 1
    assert services.snapshot_verify(snapshot=today) == today.counts


def test_a_changed_account_stores_a_new_file(account, admin_user, snapshot_dir):
    account_fill(account, actor=admin_user)
    yesterday = services.snapshot_take(account=account, kind="nightly")
    _yesterday(yesterday)
    Company.objects.filter(account=account).update(phone="+49 1")

    today = services.snapshot_take(account=account, kind="nightly")

    assert not today.file_shared and today.storage_name != yesterday.storage_name
    assert today.content_hash != yesterday.content_hash
    assert len(_files(snapshot_dir)) == 2


def test_a_manual_snapshot_keeps_a_file_of_its_own(account, admin_user, snapshot_dir):
    account_fill(account, actor=admin_user)
    nightly = services.snapshot_take(account=account, kind="nightly")

    manual = services.snapshot_take(account=account, kind="manual")

    assert not manual.file_shared and manual.storage_name != nightly.storage_name
    assert manual.content_hash == nightly.content_hash
    assert len(_files(snapshot_dir)) == 2


def test_an_expired_or_missing_file_is_not_shared(account, snapshot_dir):
    old = services.snapshot_take(account=account, kind="nightly")
    _yesterday(old, days=2)
    Snapshot.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    expired_source = services.snapshot_take(account=account, kind="nightly")
    assert not expired_source.file_shared

    _yesterday(expired_source)
    (snapshot_dir / expired_source.storage_name).unlink()
    missing_source = services.snapshot_take(account=account, kind="nightly")
    assert not missing_source.file_shared
    assert services.snapshot_verify(snapshot=missing_source) == missing_source.counts


def test_deleting_a_row_keeps_the_file_another_row_shares(account, admin_user, snapshot_dir):
    account_fill(account, actor=admin_user)
    old = services.snapshot_take(account=account, kind="nightly")
    _yesterday(old)
    new = services.snapshot_take(account=account, kind="nightly")
    assert new.storage_name == old.storage_name
    [path] = _files(snapshot_dir)

    services.snapshot_delete(snapshot=old)

    assert path.exists(), "the file went while a snapshot still uses it"
    assert services.snapshot_verify(snapshot=new) == new.counts

    services.snapshot_delete(snapshot=new)

    assert not path.exists(), "the last snapshot went, its file must go with it"
    assert not Snapshot.objects.exists()


def test_retention_keeps_a_shared_file_until_its_last_snapshot_expires(account, snapshot_dir):
    first = services.snapshot_take(account=account, kind="nightly")
    _yesterday(first)
    second = services.snapshot_take(account=account, kind="nightly")
    [path] = _files(snapshot_dir)
    Snapshot.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert services.snapshots_expire() == 1

    assert path.exists()
    assert list(Snapshot.objects.values_list("pk", flat=True)) == [second.pk]
    Snapshot.objects.filter(pk=second.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert services.snapshots_expire() == 1

    assert not path.exists() and not Snapshot.objects.exists()


def test_failed_snapshot_cleanup_never_deletes_a_shared_file(account, snapshot_dir):
    kept = services.snapshot_take(account=account, kind="manual")
    [path] = _files(snapshot_dir)
    # A failed row left naming a file another snapshot uses (an interrupted run, say).
    failed = Snapshot.objects.create(
        account=account,
        kind="manual",
        status=Snapshot.Status.FAILED,
        taken_at=kept.taken_at,
        day=kept.day,
        expires_at=kept.expires_at,
        storage_name=kept.storage_name,
    )

    services.snapshots_expire()

    assert path.exists()
    assert Snapshot.objects.get(pk=failed.pk).storage_name == ""
    assert services.snapshot_verify(snapshot=kept) == kept.counts


def test_a_snapshot_failing_while_it_shares_leaves_the_shared_file(
    account, snapshot_dir, monkeypatch
):
    old = services.snapshot_take(account=account, kind="nightly")
    _yesterday(old)
    [path] = _files(snapshot_dir)
    save = Snapshot.save

    def refuse_shared(self, *args, **kwargs):
        if self.file_shared:
            raise OSError("the database went away")
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Snapshot, "save", refuse_shared)

    failed = services.snapshot_take(account=account, kind="nightly")

    assert failed.status == Snapshot.Status.FAILED and "went away" in failed.error
    assert failed.storage_name == "" and not failed.file_shared
    assert path.exists()
    assert _files(snapshot_dir) == [path]
    assert services.snapshot_verify(snapshot=Snapshot.objects.get(pk=old.pk))


@pytest.mark.postgres
def test_retention_waits_for_a_snapshot_sharing_the_file(account, snapshot_dir, monkeypatch):
    """The race: tonight's snapshot decides to share the file of the snapshot that retention is
    removing at that very moment. The delete must wait and then see the new row."""
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    old = services.snapshot_take(account=account, kind="nightly")
    _yesterday(old)
    [path] = _files(snapshot_dir)
    found, go_on = threading.Event(), threading.Event()
    shareable = services._shareable_file

    def slow_shareable(**kwargs):
        candidate = shareable(**kwargs)
        found.set()  # it chose the file and holds the lock; retention starts now
        assert go_on.wait(10)
        return candidate

    monkeypatch.setattr(services, "_shareable_file", slow_shareable)
    results = {}

    def take():
        try:
            results["new"] = services.snapshot_take(account=account, kind="nightly")
        finally:
            connections.close_all()

    def delete():
        try:
            services.snapshot_delete(snapshot=old)
            results["deleted"] = True
        finally:
            connections.close_all()

    taker = threading.Thread(target=take)
    taker.start()
    assert found.wait(10)
    deleter = threading.Thread(target=delete)
    deleter.start()
    deleter.join(1.0)
    assert deleter.is_alive(), "retention did not wait for the account's file lock"
    go_on.set()
    taker.join(20)
    deleter.join(20)

    new = results["new"]
    assert results["deleted"] and new.file_shared and new.storage_name == old.storage_name
    assert path.exists(), "retention deleted a file a new snapshot had just taken on"
    assert services.snapshot_verify(snapshot=new) == new.counts
    assert list(Snapshot.objects.values_list("pk", flat=True)) == [new.pk]
