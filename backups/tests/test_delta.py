"""The restore's safety copy as a delta (backups.delta, backups.restore.safety): it costs what
the restore changes, and it still undoes the restore exactly, is drilled, exported and kept as
long as it needs its base."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backups import services
from backups.delta import merged_lines, snapshot_reader
from backups.drill import drill_full, drill_quick
from backups.export import export_stream
from backups.models import Snapshot
from backups.restore import snapshot_restore
from backups.snapshot_format import SnapshotInvalid, Table
from backups.storage import snapshot_storage
from backups.tests.factories import live_rows, snapshot_taken
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company, Contact, Lead
from recyclebin import services as bin_services
from recyclebin.models import BinEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the safety copy is a delta on PostgreSQL (a whole snapshot on SQLite)")


def _drift(account, actor) -> None:
    """Some of everything since the snapshot: an edit, a bulk edit, a create, a delete (to the
    bin) and a purge."""
    company = Company.objects.filter(account=account).order_by("pk").first()
    crm_services.record_update(record=company, actor=actor, data={"title": "Renamed"})
    Lead.objects.filter(account=account).update(title="bulk edit")
    crm_services.record_create(
        account=account, actor=actor, entity=ENTITIES["company"], data={"title": "Newer"}
    )
    contact = Contact.objects.filter(account=account, bin_entry__isnull=True).first()
    crm_services.record_delete(record=contact, actor=actor)
    binned = BinEntry.objects.filter(account=account, title__endswith="binned").get()
    bin_services.bin_purge(account=account, entry_ids=[binned.pk], actor=actor)


def _pre(outcome) -> Snapshot:
    return Snapshot.objects.get(pk=outcome.pre_restore_snapshot_id)


@pytest.mark.parametrize("kind", ["full", "entities", "recover"])
def test_the_safety_copy_is_a_delta_that_undoes_the_restore_exactly(
    postgres_only, filled, admin_user, other_account, kind
):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    _drift(account, admin_user)
    before = live_rows(account)
    other = live_rows(other_account)
    entity_types = ["company", "lead"] if kind == "entities" else None

    outcome = snapshot_restore(
        snapshot=snapshot, kind=kind, entity_types=entity_types, actor=admin_user
    )
    pre = _pre(outcome)

    assert pre.kind == Snapshot.Kind.PRE_RESTORE and pre.base_id == snapshot.pk
    assert pre.format_version == 2 and pre.status == Snapshot.Status.SUCCEEDED
    assert pre.counts == {t: len(rows) for t, rows in before.items()}
    with snapshot_reader(pre) as reader:  # read back merged with its base: the account before
        merged = {s.table: list(s.rows()) for s in reader.sections()}
    assert {t: sorted(rows) for t, rows in merged.items()} == {
        t: sorted(rows) for t, rows in before.items()
    }
    assert drill_quick(pre).passed and drill_full(pre).passed

    undo = snapshot_restore(snapshot=pre, kind="full", actor=admin_user)

    assert live_rows(account) == before
    assert live_rows(other_account) == other
    # A delta's own safety copy is a whole snapshot: a delta never builds on a delta.
    assert _pre(undo).base_id is None and _pre(undo).format_version == 1


def test_the_delta_holds_only_what_differs(postgres_only, filled, admin_user):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    company = Company.objects.filter(account=account).order_by("pk").first()
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Renamed"})

    pre = _pre(snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user))

    with snapshot_storage().open(pre.storage_name, "rb") as fileobj:
        from backups.snapshot_reading import SnapshotReader

        raw = SnapshotReader(fileobj, account_id=account.pk, checksum=pre.checksum)
        sections = {s.table: (list(s.lines()), s.columns) for s in raw.sections()}
        modes = {t["name"]: t["mode"] for t in raw.header["tables"]}
    assert set(modes.values()) == {"delta"}
    lines, columns = sections["crm_company"]
    assert len(lines) == 1 and lines[0].startswith(f"+{company.pk}\t".encode())
    assert b"Renamed" in lines[0]
    assert all(not lines for table, (lines, _c) in sections.items() if table != "crm_company")
    assert pre.size_bytes < snapshot.size_bytes


def test_after_total_loss_the_safety_copy_is_empty_and_undoes(postgres_only, filled, admin_user):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    for table in reversed(_tables()):
        table.queryset(account.pk).delete()
    assert not any(live_rows(account).values())

    outcome = snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)
    pre = _pre(outcome)

    assert set(pre.counts.values()) == {0}
    assert drill_full(pre).passed
    snapshot_restore(snapshot=pre, kind="full", actor=admin_user)
    assert not any(live_rows(account).values())


def _tables() -> list[Table]:
    from backups.snapshot_format import TABLES

    return list(TABLES)


def test_a_table_with_a_column_the_snapshot_lacks_is_kept_whole(
    postgres_only, filled, admin_user, monkeypatch
):
    account = filled
    Company.objects.filter(account=account).update(website="https://old.example")
    without_website = property(
        lambda self: [f for f in self.model._meta.concrete_fields if f.column != "website"]
    )
    with monkeypatch.context() as patch:
        patch.setattr(Table, "fields", without_website)
        snapshot = snapshot_taken(account, admin_user)
    Company.objects.filter(account=account).update(website="https://new.example")
    before = live_rows(account)

    pre = _pre(snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user))
    with snapshot_reader(pre) as reader:
        modes = {t["name"]: t["mode"] for t in reader.delta.header["tables"]}
    assert modes["crm_company"] == "full"
    snapshot_restore(snapshot=pre, kind="full", actor=admin_user)

    assert live_rows(account) == before  # the websites too


def test_a_damaged_delta_or_a_changed_base_fails_its_drill(postgres_only, filled, admin_user):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    _drift(account, admin_user)
    pre = _pre(snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user))

    Snapshot.objects.filter(pk=snapshot.pk).update(checksum="0" * 64)
    pre.refresh_from_db()
    outcome = drill_quick(pre)
    assert not outcome.passed and "builds on" in outcome.error

    Snapshot.objects.filter(pk=snapshot.pk).update(checksum=pre.base.checksum)
    path = snapshot_storage().path(pre.storage_name)
    with open(path, "r+b") as fileobj:
        fileobj.seek(40)
        byte = fileobj.read(1)
        fileobj.seek(40)
        fileobj.write(bytes([byte[0] ^ 0xFF]))
    assert not drill_quick(pre).passed
    with pytest.raises(SnapshotInvalid), snapshot_reader(pre):
        pass


def test_the_base_is_kept_as_long_as_its_delta(postgres_only, filled, admin_user):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    Snapshot.objects.filter(pk=snapshot.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    _drift(account, admin_user)
    pre = _pre(snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user))
    snapshot.refresh_from_db()
    assert snapshot.expires_at == pre.expires_at

    # Even forced to expire first, the base stays while its delta is kept...
    Snapshot.objects.filter(pk=snapshot.pk).update(expires_at=timezone.now() - timedelta(days=1))
    services.snapshots_expire()
    assert Snapshot.objects.filter(pk=snapshot.pk).exists()
    with snapshot_reader(pre) as reader:
        assert sum(1 for s in reader.sections() for _l in s.lines()) == sum(pre.counts.values())
    # ... and both go once the delta's time is up, the delta first.
    Snapshot.objects.filter(pk=pre.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert services.snapshots_expire() == 2
    assert not Snapshot.objects.filter(pk__in=[snapshot.pk, pre.pk]).exists()


def test_a_delta_exports_the_account_as_it_was(postgres_only, filled, admin_user):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    before = Company.objects.filter(account=account).count()
    crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Newer"}
    )
    pre = _pre(snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user))

    data = b"".join(export_stream(pre))

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("companies.csv").decode("utf-8-sig")
    companies = list(csv.DictReader(io.StringIO(text)))
    assert len(companies) == before + 1
    assert "Newer" in {row["title"] for row in companies}


def test_a_failed_restore_leaves_no_safety_copy(postgres_only, filled, admin_user, monkeypatch):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    _drift(account, admin_user)
    before = live_rows(account)
    files = sorted(p.name for p in _snapshot_files(account))

    def broken(table_name):
        if table_name == "crm_deal":
            raise RuntimeError("the disk went away")

    monkeypatch.setattr("backups.restore.postgresql.table_applied", broken)
    with pytest.raises(RuntimeError):
        snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    assert live_rows(account) == before
    assert not Snapshot.objects.filter(account=account, kind=Snapshot.Kind.PRE_RESTORE).exists()
    assert sorted(p.name for p in _snapshot_files(account)) == files


def _snapshot_files(account):
    from pathlib import Path

    folder = Path(snapshot_storage().path(str(account.pk)))
    return list(folder.iterdir()) if folder.exists() else []


# --- Merging, without a database ----------------------------------------------------------


def test_merged_lines_apply_the_changes_in_id_order():
    base = [b"1\ta\tx\n", b"2\tb\tx\n", b"4\td\tx\n", b"6\tf\tx\n"]
    delta = [b"+0\tzero\n", b"-2\n", b"+4\tD\n", b"+5\te\n", b"+9\ti\n"]

    merged = list(merged_lines(base, ["id", "name", "gone"], delta, ["id", "name"]))

    assert merged == [b"0\tzero\n", b"1\ta\n", b"4\tD\n", b"5\te\n", b"6\tf\n", b"9\ti\n"]
    assert list(merged_lines(base, ["id", "name", "gone"], [], ["id", "name", "gone"])) == base


def test_merged_lines_refuse_to_remove_a_row_the_base_lacks():
    with pytest.raises(SnapshotInvalid):
        list(merged_lines([b"1\ta\n"], ["id", "name"], [b"-3\n"], ["id", "name"]))
    with pytest.raises(SnapshotInvalid):
        list(merged_lines([b"5\ta\n"], ["id", "name"], [b"-3\n"], ["id", "name"]))
