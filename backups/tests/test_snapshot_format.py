"""The snapshot file: a full round trip on SQLite and PostgreSQL, only the account's rows, one
consistent point, and every kind of damage refused with a clear error."""

import io

import pytest
from django.db import connection, connections

from backups import snapshot_format
from backups.snapshot_format import FORMAT_VERSION, TABLES, SnapshotInvalid, snapshot_write
from backups.snapshot_reading import SnapshotReader, copy_fields
from backups.tests.factories import account_fill, live_rows
from crm.models import Company
from recyclebin.models import HiddenLink

pytestmark = pytest.mark.django_db(transaction=True)


def _write(account) -> tuple[bytes, snapshot_format.WriteResult]:
    out = io.BytesIO()
    result = snapshot_write(account=account, out=out)
    return out.getvalue(), result


def _plain(data: bytes) -> bytes:
    return snapshot_format.zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()


def _read_all(data: bytes, account, checksum) -> tuple[dict, dict[str, list[tuple]]]:
    reader = SnapshotReader(io.BytesIO(data), account_id=account.pk, checksum=checksum)
    rows = {section.table: list(section.rows()) for section in reader.sections()}
    return reader.header, rows


def test_round_trip_gives_back_every_row_exactly(account, other_account, admin_user):
    account_fill(account, actor=admin_user)
    account_fill(other_account, prefix="other ")
    assert HiddenLink.objects.filter(entry__account=account).exists()

    data, result = _write(account)
    header, rows = _read_all(data, account, result.checksum)

    live = live_rows(account)
    assert rows == live
    assert all(live[table.name] for table in TABLES), "every table has rows in this test"
    assert result.counts == {name: len(table_rows) for name, table_rows in live.items()}
    assert header["format_version"] == FORMAT_VERSION
    assert header["account"] == {"id": account.pk, "name": account.name}
    assert header["migration_state"]["backups"] == "0004_snapshot_base"
    assert header["migration_state"]["crm"]
    assert [t["name"] for t in header["tables"]] == [t.name for t in TABLES]
    assert header["tables"][1]["columns"] == [f.column for f in Company._meta.concrete_fields]
    assert len(result.checksum) == 64 and result.size_bytes == len(data)


def test_another_accounts_rows_are_never_in_the_file(account, other_account):
    account_fill(other_account, prefix="GLOBEX-ONLY ")
    data, result = _write(account)

    _header, rows = _read_all(data, account, result.checksum)
    assert all(not table_rows for table_rows in rows.values())
    assert b"GLOBEX-ONLY" not in _plain(data)


def test_the_text_is_copy_text_escaped():
    assert copy_fields(b"a\\tb\t\\N\tc\\\\d\\ne\t\n") == ["a\tb", None, "c\\d\ne", ""]
    assert snapshot_format._copy_text("x\ty\\\n") == "x\\ty\\\\\\n"
    assert snapshot_format._copy_text(None) == "\\N"
    assert snapshot_format._copy_text(True) == "t"


@pytest.mark.postgres
def test_postgres_reads_every_table_in_one_repeatable_read_transaction(
    account, admin_user, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("REPEATABLE READ is PostgreSQL's")
    account_fill(account, actor=admin_user)
    seen = []
    other = connections.create_connection("default")

    def between_tables(table):
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            isolation = cursor.fetchone()[0]
            cursor.execute("SHOW transaction_read_only")
            seen.append((isolation, cursor.fetchone()[0]))
        if table.name == "recyclebin_binentry":
            # Another connection writes while the snapshot runs: the file must not show it.
            with other.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO crm_company (account_id, title, industry, phone, email, website,"
                    " address, comments, created_at, updated_at) VALUES"
                    " (%s, 'written meanwhile', '', '', '', '', '', '', now(), now())",
                    [account.pk],
                )
            other.commit()

    monkeypatch.setattr(snapshot_format, "after_section", between_tables)
    before = live_rows(account)
    try:
        data, result = _write(account)
    finally:
        other.close()

    assert set(seen) == {("repeatable read", "on")}
    _header, rows = _read_all(data, account, result.checksum)
    assert rows == before
    assert Company.objects.filter(account=account, title="written meanwhile").exists()


def _recompressed(data: bytes, change) -> bytes:
    plain = _plain(data)
    return snapshot_format.zstandard.ZstdCompressor().compress(change(plain))


def test_a_flipped_byte_is_refused_by_the_checksum(account):
    account_fill(account)
    data, result = _write(account)
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01

    with pytest.raises(SnapshotInvalid, match="checksum"):
        SnapshotReader(io.BytesIO(bytes(damaged)), account_id=account.pk, checksum=result.checksum)


def test_a_damaged_file_is_refused_even_without_the_rows_checksum(account):
    account_fill(account)
    data, _result = _write(account)
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01

    with pytest.raises(SnapshotInvalid, match="damaged|not a snapshot"):
        _read_all(bytes(damaged), account, None)


def test_another_format_version_is_refused(account):
    data, _result = _write(account)
    changed = _recompressed(data, lambda b: b.replace(b'"format_version":1', b'"format_version":9'))

    with pytest.raises(SnapshotInvalid, match="format version 9"):
        SnapshotReader(io.BytesIO(changed), account_id=account.pk, checksum=None)


def test_another_accounts_snapshot_is_refused(account, other_account):
    data, result = _write(other_account)

    with pytest.raises(SnapshotInvalid, match="another account"):
        SnapshotReader(io.BytesIO(data), account_id=account.pk, checksum=result.checksum)


def test_a_cut_short_file_is_refused(account):
    account_fill(account)
    data, _result = _write(account)
    truncated = _recompressed(data, lambda b: b[: len(b) // 2])

    with pytest.raises(SnapshotInvalid, match="damaged"):
        _read_all(truncated, account, None)


def test_not_a_snapshot_is_refused(account):
    junk = snapshot_format.zstandard.ZstdCompressor().compress(b"hello\n")
    with pytest.raises(SnapshotInvalid, match="not a snapshot"):
        SnapshotReader(io.BytesIO(junk), account_id=account.pk, checksum=None)


def _sections_read(data: bytes, account, how) -> dict[str, list[bytes]]:
    """Every section's lines, the n-th section read by blocks of ``how(n)`` bytes, or line by
    line where it is None."""
    reader = SnapshotReader(io.BytesIO(data), account_id=account.pk, checksum=None)
    read = {}
    for n, section in enumerate(reader.sections()):
        size = how(n)
        if size is None:
            read[section.table] = list(section.lines())
        else:
            read[section.table] = [line for block in section.blocks(size) for line in block]
    return read


@pytest.mark.parametrize(
    "how",
    [lambda n: 1, lambda n: 500, lambda n: 1 << 20, lambda n: None if n % 2 else 7],
    ids=["a line a block", "a few lines a block", "a section a block", "blocks and lines"],
)
def test_blocks_give_back_the_lines_exactly(account, how):
    """A block that reads past its section's end keeps those lines for the next reader, so
    a file read by blocks of any size, or by blocks and lines in turn, is read to its end
    (trailer checked) with the same lines."""
    account_fill(account)
    data, _result = _write(account)

    by_lines = _sections_read(data, account, lambda n: None)
    assert all(by_lines.values()), "every table has rows in this test"
    assert _sections_read(data, account, how) == by_lines


def _company_rows_changed(plain: bytes, change) -> bytes:
    """The crm_company section's first data line replaced by the lines ``change`` makes of it."""
    lines = plain.split(b"\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"table":"crm_company"'))
    lines[at + 1 : at + 2] = change(lines[at + 1])
    return b"\n".join(lines)


@pytest.mark.parametrize("size", [None, 1, 1 << 20], ids=["lines", "small blocks", "big blocks"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda line: [], "crm_company is cut short"),
        (lambda line: [line, line], "crm_company has extra rows"),
    ],
    ids=["a row missing", "a row more"],
)
def test_a_section_with_a_row_missing_or_more_is_refused(account, size, change, message):
    account_fill(account)
    data, _result = _write(account)
    damaged = _recompressed(data, lambda plain: _company_rows_changed(plain, change))

    with pytest.raises(SnapshotInvalid, match=message):
        _sections_read(damaged, account, lambda n: size)


def test_a_section_passed_by_is_not_read_again(account):
    """Once the reader has moved on, an earlier section's rows cannot be read (they would be
    the next section's), by lines or by blocks; the next section still reads its own."""
    account_fill(account)
    data, _result = _write(account)
    expected = _sections_read(data, account, lambda n: None)
    reader = SnapshotReader(io.BytesIO(data), account_id=account.pk, checksum=None)
    sections = reader.sections()
    first = next(sections)
    second = next(sections)

    with pytest.raises(RuntimeError, match="read once"):
        list(first.lines())
    with pytest.raises(RuntimeError, match="read once"):
        list(first.blocks(1 << 20))
    assert [line for block in second.blocks(100) for line in block] == expected[second.table]
