"""Snapshots at rest: AES-256-GCM in streamed chunks, when ``SNAPSHOT_ENCRYPTION_KEY`` is set.

The encryption sits between the zstandard compressor and the file (so the SHA-256 ``checksum``
of a Snapshot row is over the stored, encrypted bytes)::

    CRMSNAPENC1\\n                        magic (12 bytes)
    key id                               8 bytes: the start of SHA-256(key), to pick the key
    nonce prefix                         8 random bytes, new for every file
    then chunks, each                    [4-byte big-endian length][ciphertext + 16-byte tag]

Every chunk holds up to ``CHUNK_PLAIN`` bytes of the compressed stream. Its nonce is the prefix
followed by the chunk's 4-byte index; its associated data binds the file's header, the index
and a "last chunk" flag. So a changed byte, a chunk moved, dropped or copied from another file,
and a file cut after any chunk are all refused: only the chunk flagged last may end the file.
A wrong key is never tried: the key id in the header names the key, and a server without it
says so instead of reading garbage.

Keys: ``SNAPSHOT_ENCRYPTION_KEY`` encrypts (and reads); ``SNAPSHOT_ENCRYPTION_OLD_KEYS``
(comma-separated) only read, for rotation (docs/deployment.md). A key is 32 random bytes,
base64 encoded (standard or URL-safe alphabet). A snapshot file without the magic is a plaintext
one from before encryption was turned on: it stays readable.
"""

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

MAGIC = b"CRMSNAPENC1\n"
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_PREFIX_BYTES = 8
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_PREFIX_BYTES
TAG_BYTES = 16
CHUNK_PLAIN = 1 << 20  # plaintext (compressed stream) bytes per chunk
MAX_CHUNKS = 1 << 32  # the counter's 4 bytes: 4 PiB per file, far beyond any account
_LENGTH = struct.Struct(">I")
_AAD = struct.Struct(">IB")  # chunk index, last-chunk flag (after the file's header)

GENERATE_KEY_HINT = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'


# --- Keys -----------------------------------------------------------------------------------


def key_decode(value: str) -> bytes:
    """A key setting's text as its 32 bytes; ``ValueError`` with a clear message otherwise.
    Both base64 alphabets are accepted (``-_`` or ``+/``), padding optional."""
    text = value.strip()
    standard = text.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("it is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"it decodes to {len(key)} bytes, not {KEY_BYTES}")
    return key


def key_id(key: bytes) -> str:
    """The key's name in a file's header (hex): the start of its SHA-256, which says nothing
    usable about the key itself."""
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES].hex()


def _setting_key(name: str, value: str) -> bytes:
    try:
        return key_decode(value)
    except ValueError as error:
        raise ImproperlyConfigured(
            f"{name} is invalid: {error}. It must be 32 random bytes, base64 encoded; "
            f"generate one with: {GENERATE_KEY_HINT}"
        ) from None


def current_key() -> bytes | None:
    """The key new snapshots are encrypted with, or None (snapshots are stored plain)."""
    value = getattr(settings, "SNAPSHOT_ENCRYPTION_KEY", "") or ""
    if not value.strip():
        return None
    return _setting_key("SNAPSHOT_ENCRYPTION_KEY", value)


def current_key_id() -> str:
    """The id of the key new snapshots are encrypted with; "" when snapshots are stored plain.
    (Anything that reuses a stored file must not mix files of different keys.)"""
    key = current_key()
    return key_id(key) if key is not None else ""


def old_keys() -> list[bytes]:
    """The keys kept only to read snapshots taken before the last rotation."""
    value = getattr(settings, "SNAPSHOT_ENCRYPTION_OLD_KEYS", "") or ""
    if isinstance(value, list | tuple):
        items = list(value)
    else:
        items = value.split(",")
    return [_setting_key("SNAPSHOT_ENCRYPTION_OLD_KEYS", item) for item in items if item.strip()]


def read_keys() -> dict[str, bytes]:
    """Every key this server can read with, by key id."""
    keys = old_keys()
    key = current_key()
    if key is not None:
        keys.append(key)
    return {key_id(k): k for k in keys}


def settings_problems() -> list[str]:
    """What is wrong with the key settings (for the system check), in words."""
    problems = []
    for read in (current_key, old_keys):
        try:
            read()
        except ImproperlyConfigured as error:
            problems.append(str(error))
    return problems


# --- Writing --------------------------------------------------------------------------------


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + _AAD.pack(index, 1 if last else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + _LENGTH.pack(index)


class EncryptingWriter:
    """A file-like ``write``/``flush`` target for the compressor: gathers the compressed stream
    into chunks, encrypts each and writes it to ``raw``. ``finish()`` writes the last chunk
    (flagged so); ``flush()`` does not, as the compressor flushes its target more than once."""

    def __init__(self, raw: BinaryIO, key: bytes) -> None:
        self.raw = raw
        self._aesgcm = AESGCM(key)
        self._prefix = os.urandom(NONCE_PREFIX_BYTES)
        self._header = MAGIC + bytes.fromhex(key_id(key)) + self._prefix
        self._buffer = bytearray()
        self._index = 0
        self._finished = False
        raw.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._finished:
            raise ValueError("the encrypted stream is finished")
        self._buffer += data
        # Keep at least one byte back: the chunk written by finish() must be the last one.
        if len(self._buffer) > CHUNK_PLAIN:
            view = memoryview(self._buffer)
            start = 0
            while len(self._buffer) - start > CHUNK_PLAIN:
                self._emit(view[start : start + CHUNK_PLAIN], last=False)
                start += CHUNK_PLAIN
            view.release()
            del self._buffer[:start]
        return len(data)

    def _emit(self, plain, *, last: bool) -> None:
        if self._index >= MAX_CHUNKS:
            raise ValueError("too many chunks for one encrypted file")
        sealed = self._aesgcm.encrypt(
            _nonce(self._prefix, self._index), plain, _aad(self._header, self._index, last)
        )
        self.raw.write(_LENGTH.pack(len(sealed)))
        self.raw.write(sealed)
        self._index += 1

    def flush(self) -> None:
        self.raw.flush()

    def finish(self) -> None:
        """Encrypt what is left as the last chunk (possibly empty)."""
        if self._finished:
            return
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._finished = True
        self.raw.flush()


@contextmanager
def encrypting(raw: BinaryIO) -> Iterator[BinaryIO]:
    """The target the compressor should write into: ``raw`` itself when no key is set, else an
    EncryptingWriter in front of it, finished when the block ends without an error."""
    key = current_key()
    if key is None:
        yield raw
        return
    writer = EncryptingWriter(raw, key)
    yield writer
    writer.finish()


# --- Reading --------------------------------------------------------------------------------


def _invalid(message: str):
    from backups.snapshot_format import SnapshotInvalid

    return SnapshotInvalid(message)


def _read_exactly(raw: BinaryIO, size: int) -> bytes:
    parts = []
    while size > 0:
        part = raw.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


class DecryptingReader:
    """The plaintext (compressed stream) of an encrypted snapshot file, read chunk by chunk:
    every chunk is authenticated before any of its bytes is handed on, and the file must end
    exactly after its last chunk. Errors are SnapshotInvalid."""

    def __init__(self, raw: BinaryIO, *, header: bytes, keys: dict[str, bytes]) -> None:
        self.raw = raw
        self._header = header
        wanted = header[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES].hex()
        if wanted not in keys:
            raise _invalid(
                _(
                    "This snapshot was encrypted with a key this server does not have "
                    "(key id %(key_id)s). Set SNAPSHOT_ENCRYPTION_KEY or "
                    "SNAPSHOT_ENCRYPTION_OLD_KEYS."
                )
                % {"key_id": wanted}
            )
        self._aesgcm = AESGCM(keys[wanted])
        self._prefix = header[len(MAGIC) + KEY_ID_BYTES :]
        self._index = 0
        self._ended = False
        self._plain = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        """Decrypt the next chunk into the buffer; False after the last one."""
        if self._ended:
            return False
        length_bytes = _read_exactly(self.raw, _LENGTH.size)
        if not length_bytes:
            raise _invalid(
                _("The encrypted snapshot file is cut short (its last part is missing).")
            )
        if len(length_bytes) < _LENGTH.size:
            raise _invalid(_("The encrypted snapshot file is cut short."))
        (length,) = _LENGTH.unpack(length_bytes)
        if not TAG_BYTES <= length <= CHUNK_PLAIN + TAG_BYTES:
            raise _invalid(_("The encrypted snapshot file is damaged (a part has a bad length)."))
        sealed = _read_exactly(self.raw, length)
        if len(sealed) < length:
            raise _invalid(_("The encrypted snapshot file is cut short."))
        plain = self._open(sealed, last=False)
        if plain is None:  # the last chunk is sealed with its flag set
            plain = self._open(sealed, last=True)
            if plain is None:
                raise _invalid(
                    _(
                        "The encrypted snapshot file is damaged or was altered "
                        "(part %(index)s does not authenticate)."
                    )
                    % {"index": self._index + 1}
                )
            self._ended = True
            if self.raw.read(1):
                raise _invalid(
                    _("The encrypted snapshot file is damaged (data after its last part).")
                )
        self._index += 1
        self._plain = plain
        self._offset = 0
        return True

    def _open(self, sealed: bytes, *, last: bool) -> bytes | None:
        nonce = _nonce(self._prefix, self._index)
        try:
            return self._aesgcm.decrypt(nonce, sealed, _aad(self._header, self._index, last))
        except InvalidTag:
            return None

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._plain[self._offset :]]
            self._plain, self._offset = b"", 0
            while self._next_chunk():
                parts.append(self._plain)
            self._plain = b""
            return b"".join(parts)
        while self._offset >= len(self._plain):
            if not self._next_chunk():
                return b""
        end = self._offset + size
        data = self._plain[self._offset : end]
        self._offset = min(end, len(self._plain))
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Prefixed:
    """``head`` (bytes already read to look for the magic) then the rest of ``raw``: no seek
    needed, so any readable file object will do."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self.raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self.raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self.raw.read(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def decrypting(raw: BinaryIO, *, keys: dict[str, bytes] | None = None) -> BinaryIO:
    """The compressed stream of a snapshot file: decrypted when the file is encrypted (with a
    key from ``keys``, by default the settings'), as it is when the file is a plaintext one."""
    head = _read_exactly(raw, HEADER_BYTES)
    if not head.startswith(MAGIC):
        return _Prefixed(head, raw)
    if len(head) < HEADER_BYTES:
        raise _invalid(_("The encrypted snapshot file is cut short."))
    return DecryptingReader(raw, header=head, keys=read_keys() if keys is None else keys)
