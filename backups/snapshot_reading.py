"""Reading a snapshot file back (its layout: backups.snapshot_format): every check of the file
(checksum, version, account, each section's name and row count, the trailer), and the rows as
COPY text lines, blocks of them, or Python values."""

import hashlib
import io
import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import zstandard
from django.utils.translation import gettext as _

from backups import encryption
from backups.snapshot_format import (
    END_OF_SECTION,
    MAGIC,
    SUPPORTED_VERSIONS,
    TABLES_BY_NAME,
    SnapshotInvalid,
)

READ_CHUNK = 1 << 20

_UNESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape_match(match: re.Match) -> str:
    octal, hexa, char = match.groups()
    if octal:
        return chr(int(octal, 8))
    if hexa:
        return chr(int(hexa, 16))
    return _SIMPLE.get(char, char)


def copy_fields(line: bytes) -> list[str | None]:
    """One COPY text line as its column values (strings, None for NULL)."""
    values: list[str | None] = []
    for raw in line.rstrip(b"\n").decode().split("\t"):
        if raw == "\\N":
            values.append(None)
        elif "\\" in raw:
            values.append(_UNESCAPE.sub(_unescape_match, raw))
        else:
            values.append(raw)
    return values


@dataclass
class Section:
    """One table of a snapshot being read, once: iterate ``lines()`` (COPY text),
    ``blocks(size)`` (lists of those lines) or ``rows()`` (tuples of Python values, by the
    model's fields of the same column names)."""

    table: str
    columns: list[str]
    rows_expected: int
    _lines: Callable[[], Iterator[bytes]] = field(repr=False)
    _blocks: Callable[[int], Iterator[list[bytes]]] | None = field(default=None, repr=False)

    def lines(self) -> Iterator[bytes]:
        return self._lines()

    def blocks(self, size: int) -> Iterator[list[bytes]]:
        """The same lines, in lists of about ``size`` bytes: a reader that compares or copies
        whole windows needs no Python step per line (a million lines read one by one cost
        about 1.5 s)."""
        if self._blocks is not None:
            return self._blocks(size)
        return line_blocks(self._lines(), size)

    def rows(self) -> Iterator[tuple]:
        model_fields = {f.column: f for f in TABLES_BY_NAME[self.table].fields}
        converters = [model_fields[c].to_python if c in model_fields else str for c in self.columns]
        for line in self._lines():
            yield tuple(
                None if value is None else convert(value)
                for convert, value in zip(converters, copy_fields(line), strict=True)
            )


def line_blocks(lines: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    """Lines grouped into lists of at least ``size`` bytes (the last one shorter)."""
    block: list[bytes] = []
    length = 0
    for line in lines:
        block.append(line)
        length += len(line)
        if length >= size:
            yield block
            block, length = [], 0
    if block:
        yield block


class BlocksFile:
    """A read()-able file over blocks of COPY lines, for psycopg2's copy_expert: each read()
    returns one block's whole lines (psycopg2 sends whatever it gets), b"" at the end."""

    def __init__(self, blocks: Iterator[list[bytes]]) -> None:
        self.blocks = blocks
        self.error: Exception | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            return b"".join(next(self.blocks, []))
        except Exception as error:
            self.error = error  # psycopg2 reports it as QueryCanceled ("error in .read()")
            raise

    readline = read


def copy_in(cursor: Any, sql: str, blocks: Iterator[list[bytes]], size: int) -> None:
    """``COPY ... FROM STDIN`` of the blocks' lines. A file found damaged while it is read
    raises its own SnapshotInvalid, not the driver's cancelled COPY."""
    source = BlocksFile(blocks)
    try:
        cursor.copy_expert(sql, source, size)
    except Exception:
        if source.error is not None:
            raise source.error from None
        raise


def file_checksum(fileobj: BinaryIO) -> str:
    sha256 = hashlib.sha256()
    while chunk := fileobj.read(READ_CHUNK):
        sha256.update(chunk)
    return sha256.hexdigest()


class SnapshotReader:
    """Reads a snapshot file back, table by table, refusing one that does not verify::

        reader = SnapshotReader(fileobj, account_id=..., checksum=...)
        reader.header
        for section in reader.sections():
            for row in section.rows(): ...

    ``sections()`` must be consumed in order, each section's rows before the next one."""

    def __init__(self, fileobj: BinaryIO, *, account_id: int, checksum: str | None) -> None:
        if checksum is not None:
            if file_checksum(fileobj) != checksum:
                raise SnapshotInvalid(
                    _("The snapshot file does not match its checksum: it is damaged.")
                )
            fileobj.seek(0)
        decompressor = zstandard.ZstdDecompressor()
        source = encryption.decrypting(fileobj)  # as it is when the file is not encrypted
        self._stream = io.BufferedReader(
            decompressor.stream_reader(source, closefd=False), buffer_size=READ_CHUNK
        )
        self._ahead: deque[bytes] = deque()  # lines a block read past its section's end
        if self._readline() != MAGIC:
            raise SnapshotInvalid(_("This is not a snapshot file."))
        self.header = self._json_line()
        version = self.header.get("format_version")
        if version not in SUPPORTED_VERSIONS:
            raise SnapshotInvalid(
                _("The snapshot has format version %(version)s, which this version cannot read.")
                % {"version": version}
            )
        if self.header.get("account", {}).get("id") != account_id:
            raise SnapshotInvalid(_("The snapshot belongs to another account."))

    def _readline(self) -> bytes:
        if self._ahead:
            return self._ahead.popleft()
        try:
            return self._stream.readline()
        except zstandard.ZstdError as error:
            raise self._damaged(error) from error

    def _readlines(self, size: int) -> list[bytes]:
        """The lines read ahead, if any (whatever their size), else whole lines of at least
        ``size`` bytes (fewer only at the end of the file)."""
        if self._ahead:
            lines = list(self._ahead)
            self._ahead.clear()
            return lines
        try:
            return self._stream.readlines(max(size, 1))  # 0 or less: the whole rest
        except zstandard.ZstdError as error:
            raise self._damaged(error) from error

    @staticmethod
    def _damaged(error: Exception) -> SnapshotInvalid:
        return SnapshotInvalid(_("The snapshot file is damaged (%(error)s).") % {"error": error})

    @staticmethod
    def _cut_short(table: str) -> SnapshotInvalid:
        return SnapshotInvalid(
            _("The snapshot file is damaged (table %(table)s is cut short).") % {"table": table}
        )

    def _section_end(self, table: str) -> None:
        if self._readline() != END_OF_SECTION:
            raise SnapshotInvalid(
                _("The snapshot file is damaged (table %(table)s has extra rows).")
                % {"table": table}
            )

    def _json_line(self) -> dict:
        line = self._readline()
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise SnapshotInvalid(_("The snapshot file is damaged (a header is unreadable)."))
        return value

    @property
    def counts(self) -> dict[str, int]:
        return {t["name"]: t["rows"] for t in self.header["tables"]}

    def sections(self) -> Iterator[Section]:
        for expected in self.header["tables"]:
            head = self._json_line()
            if head.get("table") != expected["name"] or head.get("rows") != expected["rows"]:
                raise SnapshotInvalid(
                    _("The snapshot file is damaged (table %(table)s is not where expected).")
                    % {"table": expected["name"]}
                )
            reading = _SectionReading(self, expected["name"], expected["rows"])
            yield Section(
                expected["name"], head["columns"], expected["rows"], reading.lines, reading.blocks
            )
            if not reading.started:
                for _line in reading.lines():
                    pass
        trailer = self._json_line()
        if trailer.get("end") is not True or self._readline() != b"":
            raise SnapshotInvalid(_("The snapshot file is damaged (its end is missing)."))


class _SectionReading:
    """One section's rows, from the reader's stream where it stands, read once: line by line
    or in blocks (a reader that has moved on cannot be asked for an earlier section's rows)."""

    def __init__(self, reader: SnapshotReader, table: str, rows: int) -> None:
        self.reader = reader
        self.table = table
        self.rows = rows
        self.started = False

    def _start(self) -> None:
        if self.started:
            raise RuntimeError("a section is read once")
        self.started = True

    def lines(self) -> Iterator[bytes]:
        self._start()
        for _index in range(self.rows):
            line = self.reader._readline()
            if not line.endswith(b"\n") or line == END_OF_SECTION:
                raise self.reader._cut_short(self.table)
            yield line
        self.reader._section_end(self.table)

    def blocks(self, size: int) -> Iterator[list[bytes]]:
        self._start()
        left = self.rows
        while left:
            block = self.reader._readlines(size)
            if len(block) > left:  # into the next section: kept for its reader
                self.reader._ahead.extend(block[left:])
                del block[left:]
            # Only the file's last line can lack its newline.
            if not block or not block[-1].endswith(b"\n") or END_OF_SECTION in block:
                raise self.reader._cut_short(self.table)
            left -= len(block)
            yield block
        self.reader._section_end(self.table)
