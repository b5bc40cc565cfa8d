"""Restore drills (issue 17, items 1, 3 and 4): every finished snapshot is read back and its rows
compared with digests the database gave inside the snapshot's own transaction. A file damaged
after it was taken (a flipped byte, cut short, or with valid checksums but other rows) fails its
drill; then restores, previews, exports and proposals refuse it, the admin sees it, operators
are alerted, and the account's next snapshot does not share its file. On both databases."""

import hashlib
import io
import logging
from datetime import timedelta

import pytest
import zstandard
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backups import drill, restore, services, tasks
from backups.export import export_check
from backups.models import Snapshot
from backups.restore import RestoreRefused, snapshot_restore
from backups.snapshot_format import snapshot_write
from backups.storage import snapshot_storage
from backups.tests.factories import account_fill
from conftest import login_client
from crm.models import Company

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def taken(account, admin_user) -> Snapshot:
    """A manual snapshot of an account full of awkward values, not drilled yet."""
    account_fill(account, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    assert snapshot.status == Snapshot.Status.SUCCEEDED and snapshot.digests["tables"]
    assert snapshot.drill_status == Snapshot.Drill.PENDING
    return snapshot


def _rewrite(snapshot: Snapshot, change) -> None:
    path = snapshot_storage().path(snapshot.storage_name)
    with open(path, "rb") as original:
        data = original.read()
    with open(path, "wb") as damaged:
        damaged.write(change(data))


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _other_rows(snapshot: Snapshot) -> None:
    """Replace the file by one whose checksums are all valid and whose row counts match, but
    whose rows are not what the database held: one title differs. The database stays as the
    snapshot read it."""
    company = Company.objects.filter(account_id=snapshot.account_id).order_by("pk").first()
    Company.objects.filter(pk=company.pk).update(title="Not what was read")
    out = io.BytesIO()
    result = snapshot_write(account=snapshot.account, out=out)
    Company.objects.filter(pk=company.pk).update(title=company.title)
    _rewrite(snapshot, lambda _data: out.getvalue())
    Snapshot.objects.filter(pk=snapshot.pk).update(
        checksum=result.checksum, size_bytes=result.size_bytes, counts=result.counts
    )
    snapshot.refresh_from_db()


def _a_row_missing(snapshot: Snapshot) -> None:
    """Replace the file by one whose checksums are all valid and whose header counts are the
    database's, but whose first table with rows is one row short (a writer's bug, not a damage
    on disk): the rows are found wrong only as they are read."""
    path = snapshot_storage().path(snapshot.storage_name)
    with open(path, "rb") as original:
        lines = zstandard.ZstdDecompressor().stream_reader(original).read().split(b"\n")
    head = next(i for i, line in enumerate(lines) if line.startswith(b'{"table":"crm_company"'))
    del lines[head + 1]
    data = zstandard.ZstdCompressor().compress(b"\n".join(lines))
    _rewrite(snapshot, lambda _data: data)
    Snapshot.objects.filter(pk=snapshot.pk).update(
        checksum=hashlib.sha256(data).hexdigest(), size_bytes=len(data)
    )
    snapshot.refresh_from_db()


def test_a_fresh_snapshot_passes_its_drill(taken):
    assert drill.drill_run(snapshot_id=taken.pk) == "passed"

    taken.refresh_from_db()
    assert taken.drill_status == Snapshot.Drill.PASSED
    assert taken.drill_level == Snapshot.DrillLevel.QUICK
    assert taken.verified_at is not None and taken.drill_error == ""


DAMAGES = [
    pytest.param(_flip, "checksum", id="one-byte-flipped"),
    pytest.param(lambda data: data[: len(data) // 2], "checksum", id="truncated"),
    pytest.param(
        _other_rows, "differ from what the database held", id="valid-checksums-other-rows"
    ),
    pytest.param(_a_row_missing, "crm_company is cut short", id="valid-checksums-a-row-missing"),
]


@pytest.mark.parametrize(("damage", "says"), DAMAGES)
def test_a_file_damaged_after_it_was_taken_fails_its_drill(taken, damage, says, caplog, settings):
    settings.ADMINS = [("Operator", "ops@example.com")]
    if damage is _other_rows:
        damage(taken)
        services.snapshot_verify(snapshot=taken)  # every checksum and count still holds
    elif damage is _a_row_missing:
        damage(taken)
        services.snapshot_check(snapshot=taken)  # its checksum and the header's counts hold
    else:
        _rewrite(taken, damage)

    with caplog.at_level(logging.ERROR, logger="backups.drill"):
        assert drill.drill_run(snapshot_id=taken.pk) == "failed"

    taken.refresh_from_db()
    assert taken.drill_status == Snapshot.Drill.FAILED
    assert says in taken.drill_error
    assert taken.verified_at is None
    # The operators are alerted: an ERROR line and a mail to ADMINS.
    assert any(f"Snapshot #{taken.pk}" in r.getMessage() for r in caplog.records)
    assert len(mail.outbox) == 1 and f"Snapshot #{taken.pk}" in mail.outbox[0].subject


@pytest.fixture
def failed(taken) -> Snapshot:
    _other_rows(taken)
    drill.drill_run(snapshot_id=taken.pk)
    taken.refresh_from_db()
    assert taken.drill_status == Snapshot.Drill.FAILED
    return taken


def test_a_snapshot_that_failed_its_drill_is_refused_everywhere(failed, admin_user, api):
    with pytest.raises(RestoreRefused, match="failed its restore drill"):
        snapshot_restore(snapshot=failed, kind="full", actor=admin_user)
    with pytest.raises(RestoreRefused):
        restore.preview(snapshot=failed, kind="full")
    with pytest.raises(Exception, match="failed its restore drill"):
        export_check(failed)
    for path in ("export/", "preview/"):
        response = api.get(f"/api/v1/backups/snapshots/{failed.pk}/{path}")
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "snapshot_invalid"
    # Support never offers it: support/tests/test_drill_refusal.py.


def test_the_next_snapshot_does_not_share_a_failed_file(failed):
    # The account holds what the failed snapshot read: a nightly one would share its file.
    nightly = services.snapshot_take(account=failed.account, kind=Snapshot.Kind.NIGHTLY)

    assert nightly.status == Snapshot.Status.SUCCEEDED
    assert nightly.storage_name != failed.storage_name and not nightly.file_shared


def test_the_admin_sees_the_drill_on_the_page_and_in_the_api(taken, failed, api, admin_user):
    other = services.snapshot_take(account=taken.account, kind=Snapshot.Kind.MANUAL)
    drill.drill_run(snapshot_id=other.pk)

    rows = {row["id"]: row for row in api.get("/api/v1/backups/snapshots/").json()["results"]}

    assert rows[failed.pk]["verified_at"] is None
    assert rows[failed.pk]["drill"]["status"] == "failed"
    assert rows[failed.pk]["drill"]["level"] == "quick"
    assert "differ" in rows[failed.pk]["drill"]["error"]
    assert rows[other.pk]["drill"]["status"] == "passed" and rows[other.pk]["verified_at"]
    page = login_client(admin_user).get("/backups/").content.decode()
    assert 'data-drill="failed"' in page and 'data-drill="passed"' in page
    assert f"/backups/{failed.pk}/export/" not in page  # no download offered
    assert f"/backups/{other.pk}/export/" in page


def test_a_snapshot_not_drilled_yet_says_so(taken, api):
    (row,) = api.get("/api/v1/backups/snapshots/").json()["results"]

    assert row["verified_at"] is None
    assert row["drill"] == {"status": "pending", "level": None, "checked_at": None, "error": ""}


def test_the_sweep_drills_every_snapshot_due_once(taken, account, monkeypatch):
    second = services.snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    sent = []
    monkeypatch.setattr(tasks.snapshot_drill_batch, "delay", sent.append)

    assert tasks.drills_sweep() == 2
    assert sent == [[taken.pk, second.pk]]
    assert tasks.snapshot_drill_batch(sent[0]) == {"passed": 2}
    # Run again (a second delivery): nothing is due, nothing drilled twice.
    assert tasks.snapshot_drill_batch(sent[0]) == {"skipped": 2}
    assert drill.drills_due() == []


def test_a_drill_that_cannot_run_stays_due(taken, monkeypatch):
    def broken(snapshot):
        raise OSError("storage unreachable")

    monkeypatch.setattr(drill, "drill_quick", broken)

    assert drill.drill_run(snapshot_id=taken.pk) == "error"
    taken.refresh_from_db()
    assert taken.drill_status == Snapshot.Drill.PENDING
    assert drill.drills_due() == [taken.pk]


def test_a_claimed_drill_is_not_claimed_again_until_stale(taken):
    now = timezone.now()
    assert drill.drill_claim(snapshot_id=taken.pk, now=now)
    assert not drill.drill_claim(snapshot_id=taken.pk, now=now)
    assert drill.drills_due(now=now) == []
    assert drill.drill_claim(snapshot_id=taken.pk, now=now + drill.DRILL_STALE * 2)


def test_backup_status_exits_1_while_a_kept_snapshot_is_unproven(taken, capsys):
    call_command("backup_status")  # just taken: within its deadline
    Snapshot.objects.filter(pk=taken.pk).update(taken_at=timezone.now() - timedelta(hours=2))

    with pytest.raises(CommandError, match="1 kept snapshot"):
        call_command("backup_status")
    assert "not drilled past its deadline" in capsys.readouterr().err

    drill.drill_run(snapshot_id=taken.pk)
    call_command("backup_status")
    _other_rows(taken)
    Snapshot.objects.filter(pk=taken.pk).update(drill_status=Snapshot.Drill.PENDING)
    drill.drill_run(snapshot_id=taken.pk)
    with pytest.raises(CommandError):
        call_command("backup_status")
    assert "FAILED its drill" in capsys.readouterr().err


def test_verify_snapshot_runs_the_drill_now(taken, capsys):
    call_command("verify_snapshot", str(taken.pk))
    taken.refresh_from_db()
    assert taken.drill_status == Snapshot.Drill.PASSED
    assert "(quick drill)" in capsys.readouterr().out
    call_command("verify_snapshot", str(taken.pk), "--full")
    assert "(full drill)" in capsys.readouterr().out

    _rewrite(taken, _flip)
    with pytest.raises(CommandError, match="do NOT verify"):
        call_command("verify_snapshot", "--all")


def test_a_snapshot_taken_before_drills_is_drilled_on_its_counts(taken):
    Snapshot.objects.filter(pk=taken.pk).update(digests={})

    assert drill.drill_run(snapshot_id=taken.pk) == "passed"


def test_an_unchanged_account_shares_a_proven_file_and_its_drill_passes(taken):
    drill.drill_run(snapshot_id=taken.pk)
    nightly = services.snapshot_take(account=taken.account, kind=Snapshot.Kind.NIGHTLY)

    assert nightly.file_shared and nightly.storage_name == taken.storage_name
    assert drill.drill_run(snapshot_id=nightly.pk) == "passed"


def test_the_full_drill_restores_into_scratch_tables_and_leaves_the_account_alone(
    taken, account, admin_user
):
    from backups.tests.factories import live_rows

    Company.objects.filter(account=account).update(title="Changed since the snapshot")
    before = live_rows(account)
    counts = Snapshot.objects.count()

    outcome = drill.drill_full(taken)

    assert outcome == drill.DrillOutcome(True, Snapshot.DrillLevel.FULL)
    assert live_rows(account) == before  # the restore wrote only to its scratch tables
    assert Snapshot.objects.count() == counts  # no safety snapshot, no maintenance
    account.refresh_from_db()
    assert account.maintenance is False


def test_the_full_drill_fails_a_file_whose_rows_differ(taken):
    _other_rows(taken)

    outcome = drill.drill_full(taken)

    assert not outcome.passed and outcome.level == Snapshot.DrillLevel.FULL
    assert "restored from the file differ" in outcome.error


def test_pre_restore_snapshots_and_a_seventh_of_the_nightly_ones_get_the_full_drill(account):
    def level(**values) -> str:
        return drill.drill_level(Snapshot(account=account, **values))

    today = timezone.now().date()
    assert level(kind=Snapshot.Kind.PRE_RESTORE, day=today) == Snapshot.DrillLevel.FULL
    assert level(kind=Snapshot.Kind.MANUAL, day=today) == Snapshot.DrillLevel.QUICK
    week = [today + timedelta(days=n) for n in range(7)]
    full = [day for day in week if level(kind=Snapshot.Kind.NIGHTLY, day=day) == "full"]
    assert len(full) == 1 and full[0].weekday() == account.pk % 7


def test_a_restore_s_safety_snapshot_gets_the_full_drill(taken, admin_user):
    outcome = snapshot_restore(snapshot=taken, kind="full", actor=admin_user)
    pre = Snapshot.objects.get(pk=outcome.pre_restore_snapshot_id)

    assert drill.drill_run(snapshot_id=pre.pk) == "passed"
    pre.refresh_from_db()
    assert pre.drill_level == Snapshot.DrillLevel.FULL
