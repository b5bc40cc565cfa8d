"""Snapshots at rest: encrypted when SNAPSHOT_ENCRYPTION_KEY is set, read back with the current
or an old key, and refused (never read as garbage) with a wrong key, a changed byte, chunks
moved, dropped or cut off. Files stay 0600 and have no URL."""

import base64
import io
import os
import struct

import pytest
import zstandard
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from backups import encryption, services
from backups.encryption import HEADER_BYTES, MAGIC, DecryptingReader, EncryptingWriter
from backups.models import Snapshot
from backups.restore import snapshot_restore
from backups.snapshot_format import SnapshotInvalid, snapshot_write
from backups.snapshot_reading import SnapshotReader
from backups.storage import snapshot_storage
from backups.tests.factories import account_fill, live_rows
from crm import services as crm_services
from crm.models import Company
from crm.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _new_key() -> tuple[bytes, str]:
    key = os.urandom(32)
    return key, base64.b64encode(key).decode()


@pytest.fixture
def key(settings) -> bytes:
    raw, text = _new_key()
    settings.SNAPSHOT_ENCRYPTION_KEY = text
    settings.SNAPSHOT_ENCRYPTION_OLD_KEYS = ""
    return raw


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 256 bytes, so a small account's snapshot has many of them."""
    monkeypatch.setattr(encryption, "CHUNK_PLAIN", 256)


def _stored(snapshot: Snapshot) -> bytes:
    with snapshot_storage().open(snapshot.storage_name, "rb") as fileobj:
        return fileobj.read()


def _rows(data: bytes, account, checksum=None) -> dict[str, list[tuple]]:
    reader = SnapshotReader(io.BytesIO(data), account_id=account.pk, checksum=checksum)
    return {section.table: list(section.rows()) for section in reader.sections()}


def _split(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """An encrypted file as (header, chunks with their length prefix, anything after)."""
    header, chunks, pos = data[:HEADER_BYTES], [], HEADER_BYTES
    while pos + 4 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos : pos + 4 + length])
        pos += 4 + length
    return header, chunks, data[pos:]


def _encrypt(plain: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    for start in range(0, len(plain), 100):  # the compressor writes in pieces
        writer.write(plain[start : start + 100])
        writer.flush()
    writer.finish()
    return out.getvalue()


def _decrypt(data: bytes, key: bytes) -> bytes:
    reader = DecryptingReader(
        io.BytesIO(data[HEADER_BYTES:]),
        header=data[:HEADER_BYTES],
        keys={encryption.key_id(key): key},
    )
    parts = []
    while part := reader.read(77):
        parts.append(part)
    return b"".join(parts)


# --- Round trips ----------------------------------------------------------------------------


def test_take_verify_and_restore_an_encrypted_snapshot(
    key, account, other_account, admin_user, snapshot_dir
):
    account_fill(account, actor=admin_user)
    account_fill(other_account, prefix="other ")
    before = live_rows(account)

    snapshot = services.snapshot_take(account=account, kind="manual", actor=admin_user)

    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    data = _stored(snapshot)
    assert data.startswith(MAGIC + bytes.fromhex(encryption.key_id(key)))
    assert encryption.current_key_id() == encryption.key_id(key)
    assert _rows(data, account, snapshot.checksum) == before
    assert services.snapshot_verify(snapshot=snapshot) == snapshot.counts
    [path] = [p for p in snapshot_dir.rglob("*") if p.is_file()]
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)

    for company in Company.objects.for_account(account)[:3]:
        crm_services.record_delete(record=company, actor=admin_user)
    assert live_rows(account) != before
    outcome = snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    assert live_rows(account) == before
    pre_restore = Snapshot.objects.get(pk=outcome.pre_restore_snapshot_id)
    assert _stored(pre_restore).startswith(MAGIC)  # the safety copy is encrypted too


def test_the_stored_bytes_hold_no_plaintext(key, account):
    ContactFactory(account=account, first_name="Quetzalcoatl-7f3a", last_name="Unique")
    out = io.BytesIO()
    snapshot_write(account=account, out=out)
    data = out.getvalue()

    assert b"Quetzalcoatl-7f3a" not in data
    assert ZSTD_MAGIC not in data[:64]  # not a zstandard frame: nothing to decompress
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    # ...while the same bytes, decrypted, are the compressed snapshot holding the name.
    plain = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(_decrypt(data, key))).read()
    assert b"Quetzalcoatl-7f3a" in plain


def test_two_files_of_the_same_data_differ(key, account):
    """A new random nonce prefix for every file: the same account twice gives other bytes."""
    first, second = io.BytesIO(), io.BytesIO()
    snapshot_write(account=account, out=first)
    snapshot_write(account=account, out=second)
    assert first.getvalue()[:HEADER_BYTES] != second.getvalue()[:HEADER_BYTES]


def test_a_plaintext_snapshot_stays_readable_once_a_key_is_set(settings, account, admin_user):
    account_fill(account, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind="manual")
    assert _stored(snapshot).startswith(ZSTD_MAGIC)

    settings.SNAPSHOT_ENCRYPTION_KEY = _new_key()[1]

    assert services.snapshot_verify(snapshot=snapshot) == snapshot.counts
    assert _rows(_stored(snapshot), account) == live_rows(account)


def test_chunks_of_every_size_round_trip(small_chunks):
    key = os.urandom(32)
    for size in [0, 1, 255, 256, 257, 512, 513, 5000]:
        plain = os.urandom(size)
        data = _encrypt(plain, key)
        assert _decrypt(data, key) == plain, size
        header, chunks, rest = _split(data)
        assert len(chunks) == max(1, -(-size // 256)) and rest == b""


# --- Keys -----------------------------------------------------------------------------------


def test_a_wrong_key_is_a_clear_error_never_garbage(key, settings, account):
    account_fill(account)
    snapshot = services.snapshot_take(account=account, kind="manual")
    settings.SNAPSHOT_ENCRYPTION_KEY = _new_key()[1]

    with pytest.raises(SnapshotInvalid) as error:
        services.snapshot_verify(snapshot=snapshot)
    assert encryption.key_id(key) in error.value.message
    assert "does not have" in error.value.message
    assert "SNAPSHOT_ENCRYPTION_OLD_KEYS" in error.value.message


def test_an_encrypted_snapshot_without_any_key_is_a_clear_error(key, settings, account):
    snapshot = services.snapshot_take(account=account, kind="manual")
    settings.SNAPSHOT_ENCRYPTION_KEY = ""

    with pytest.raises(SnapshotInvalid, match=f"key id {encryption.key_id(key)}"):
        services.snapshot_verify(snapshot=snapshot)


def test_after_rotation_the_old_key_still_reads(key, settings, account, admin_user):
    account_fill(account, actor=admin_user)
    old = services.snapshot_take(account=account, kind="manual")
    new_key, new_text = _new_key()
    settings.SNAPSHOT_ENCRYPTION_KEY = new_text
    settings.SNAPSHOT_ENCRYPTION_OLD_KEYS = (
        f" {_new_key()[1]} , {base64.urlsafe_b64encode(key).decode().rstrip('=')}"
    )

    new = services.snapshot_take(account=account, kind="manual")

    assert _stored(new).startswith(MAGIC + bytes.fromhex(encryption.key_id(new_key)))
    assert services.snapshot_verify(snapshot=old) == old.counts
    assert services.snapshot_verify(snapshot=new) == new.counts
    assert _rows(_stored(old), account) == _rows(_stored(new), account)

    settings.SNAPSHOT_ENCRYPTION_OLD_KEYS = ""  # 7 days later: the old key is gone
    with pytest.raises(SnapshotInvalid, match="does not have"):
        services.snapshot_verify(snapshot=old)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(os.urandom(16)).decode(), "16 bytes, not 32"),
        (base64.b64encode(os.urandom(33)).decode(), "33 bytes, not 32"),
    ],
)
def test_the_system_check_rejects_a_bad_key(settings, value, problem):
    settings.SNAPSHOT_ENCRYPTION_KEY = value

    errors = [e for e in run_checks() if e.id == "backups.E001"]

    assert len(errors) == 1
    assert "SNAPSHOT_ENCRYPTION_KEY" in errors[0].msg and problem in errors[0].msg
    assert "base64.b64encode(os.urandom(32))" in errors[0].msg
    assert value not in errors[0].msg  # a key, even a bad one, is not printed


def test_the_system_check_rejects_a_bad_old_key_and_accepts_good_ones(settings):
    key = os.urandom(32)
    settings.SNAPSHOT_ENCRYPTION_KEY = base64.urlsafe_b64encode(key).decode().rstrip("=")
    settings.SNAPSHOT_ENCRYPTION_OLD_KEYS = base64.b64encode(os.urandom(32)).decode()
    assert [e for e in run_checks() if e.id == "backups.E001"] == []

    settings.SNAPSHOT_ENCRYPTION_OLD_KEYS += ",short"
    [error] = [e for e in run_checks() if e.id == "backups.E001"]
    assert "SNAPSHOT_ENCRYPTION_OLD_KEYS" in error.msg

    settings.SNAPSHOT_ENCRYPTION_KEY = ""
    settings.SNAPSHOT_ENCRYPTION_OLD_KEYS = ""
    assert [e for e in run_checks() if e.id == "backups.E001"] == []
    assert encryption.current_key_id() == ""


def test_a_bad_key_fails_the_snapshot_instead_of_storing_it_plain(settings, account, snapshot_dir):
    settings.SNAPSHOT_ENCRYPTION_KEY = "too-short"

    snapshot = services.snapshot_take(account=account, kind="manual")

    assert snapshot.status == Snapshot.Status.FAILED
    assert "ImproperlyConfigured" in snapshot.error and "too-short" not in snapshot.error
    assert not [p for p in snapshot_dir.rglob("*") if p.is_file()]
    with pytest.raises(ImproperlyConfigured):
        encryption.current_key_id()


# --- Damage ---------------------------------------------------------------------------------


def _encrypted_snapshot(account) -> tuple[bytes, str]:
    account_fill(account)
    out = io.BytesIO()
    result = snapshot_write(account=account, out=out)
    return out.getvalue(), result.checksum


def test_a_flipped_byte_is_refused_by_the_checksum_and_by_authentication(
    key, small_chunks, account
):
    data, checksum = _encrypted_snapshot(account)
    header, chunks, _rest = _split(data)
    assert len(chunks) > 4
    damaged = bytearray(data)
    damaged[HEADER_BYTES + len(chunks[0]) + 10] ^= 0x01  # inside the second chunk

    with pytest.raises(SnapshotInvalid, match="checksum"):
        _rows(bytes(damaged), account, checksum)
    # Without the row's checksum the tag alone refuses it, before any of its bytes is used.
    with pytest.raises(SnapshotInvalid, match="part 2 does not authenticate"):
        _rows(bytes(damaged), account, None)
    with pytest.raises(SnapshotInvalid, match="part 2 does not authenticate"):
        _decrypt(bytes(damaged), key)


@pytest.mark.parametrize("where", ["key id", "nonce prefix", "length", "tag"])
def test_any_changed_byte_is_refused(key, small_chunks, account, where):
    data, _checksum = _encrypted_snapshot(account)
    header, chunks, _rest = _split(data)
    position = {
        "key id": len(MAGIC),
        "nonce prefix": HEADER_BYTES - 1,
        "length": HEADER_BYTES + 3,
        "tag": HEADER_BYTES + len(chunks[0]) - 1,
    }[where]
    damaged = bytearray(data)
    damaged[position] ^= 0x01

    with pytest.raises(SnapshotInvalid, match="does not have|authenticate|bad length|cut short"):
        _rows(bytes(damaged), account, None)


def test_a_file_without_its_last_chunk_is_refused(key, small_chunks, account):
    data, _checksum = _encrypted_snapshot(account)
    header, chunks, _rest = _split(data)

    truncated = header + b"".join(chunks[:-1])
    with pytest.raises(SnapshotInvalid, match="cut short"):
        _rows(truncated, account, None)
    with pytest.raises(SnapshotInvalid, match="cut short"):
        _decrypt(truncated, key)
    # Cut inside a chunk, or right after the header.
    for cut in [data[: len(data) - 5], data[: HEADER_BYTES + 2], data[:HEADER_BYTES]]:
        with pytest.raises(SnapshotInvalid, match="cut short"):
            _rows(cut, account, None)


def test_reordered_dropped_or_foreign_chunks_are_refused(key, small_chunks, account):
    data, _checksum = _encrypted_snapshot(account)
    header, chunks, _rest = _split(data)
    _other_header, other_chunks, _ = _split(_encrypt(b"x" * 2000, key))

    variants = {
        "swapped": [chunks[1], chunks[0], *chunks[2:]],
        "dropped": [chunks[0], *chunks[2:]],
        "repeated": [chunks[0], *chunks],
        "last moved earlier": [*chunks[:2], chunks[-1]],
        "from another file": [chunks[0], other_chunks[1], *chunks[2:]],
    }
    for name, changed in variants.items():
        with pytest.raises(SnapshotInvalid, match=r"part \d+ does not authenticate"):
            _decrypt(header + b"".join(changed), key)
            pytest.fail(name)
    with pytest.raises(SnapshotInvalid, match="data after its last part"):
        _decrypt(header + b"".join([*chunks, chunks[-1]]), key)


# --- Private files, no URL ------------------------------------------------------------------


def test_the_configured_storage_writes_owner_only_files_with_no_url(tmp_path, key, account):
    """The real settings (not this package's test folder): 0600 files, 0700 folders whatever
    the umask, and no URL for a file, not even from the storage itself."""
    from config.settings import base

    config = base.STORAGES["snapshots"]
    if config["BACKEND"] != "backups.storage.PrivateFileSystemStorage":
        pytest.skip("SNAPSHOT_STORAGE is not local here")
    storage = storages.create_storage(
        {**config, "OPTIONS": {**config["OPTIONS"], "location": tmp_path / "snaps"}}
    )
    previous = os.umask(0o000)
    try:
        name = storage.save("1/2-manual.crmsnap.zst", ContentFile(b"data"))
    finally:
        os.umask(previous)

    path = tmp_path / "snaps" / name
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)
    assert config["OPTIONS"]["base_url"] is None
    with pytest.raises(NotImplementedError, match="never served by URL"):
        storage.url(name)


def test_no_url_serves_a_snapshot_file(client, settings, snapshot_dir, account, admin_user):
    from django.urls import Resolver404, resolve

    snapshot = services.snapshot_take(account=account, kind="manual")
    client.force_login(admin_user)
    name = snapshot.storage_name
    for path in [f"/{name}", f"/snapshots/{name}", f"/media/{name}", f"/static/{name}"]:
        with pytest.raises(Resolver404):
            resolve(path)
        assert client.get(path).status_code == 404
    assert not str(snapshot_dir).startswith(str(settings.STATIC_ROOT))
    assert not getattr(settings, "MEDIA_URL", "").strip("/")
