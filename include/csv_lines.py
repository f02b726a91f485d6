"""A CSV file's lines read in Python as DuckDB's reader counts them: records, the header, what is above it.

The loader (include/file_staging.py) asks these of a file before and after DuckDB reads it: where its header
line is, which lines are blank, whether a double quote stays open, which line breaks it mixes, what a file
named as CSV really holds. A line is a record (RFC 4180): a quoted value's line breaks are inside it.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from functools import partial
from itertools import count, takewhile
from pathlib import Path
from typing import IO

# The bytes a CSV line may have, its line break not counted (DuckDB's default max_line_size): a longer line
# is a malformed one. DuckDB's reader rejects a line of max_line_size bytes already, so it is given one more.
# A line is a record: a quoted value's line breaks are inside it, a value of many short lines makes it long.
MAX_LINE_SIZE = 2_000_000
DELIMITERS = ",;\t|"  # the delimiters DuckDB's sniffer tries


def is_gzipped(path: Path) -> bool:
    """Return whether the file is named as gzip-compressed (.gz, in any case)."""
    return path.name.lower().endswith(".gz")


def open_csv(path: Path, mode: str = "rb", **text: str) -> IO:
    """Open a CSV file as `open` does, decompressing a .csv.gz on the way.

    In binary mode, a file whose lines end in a carriage return alone (CR, as classic Mac and Excel's
    "CSV (Macintosh)" write them) reads with line feeds instead, byte for byte, so its lines are lines here
    as they are to DuckDB's reader: read whole, the file was one line (too long, or its rows misnumbered).
    """
    file = (gzip.open if is_gzipped(path) else open)(path, mode, **text)
    if mode == "rb" and _breaks_lines_with_cr(file):
        return io.BufferedReader(_CarriageReturnsAsLineFeeds(file))
    return file


def _breaks_lines_with_cr(file: IO[bytes]) -> bool:
    """Return whether the first line break of a binary file is a carriage return alone; rewind the file."""
    head = file.read(1 << 16)
    file.seek(0)
    first = re.search(b"\r\n|\r|\n", head)
    return first is not None and first.group() == b"\r" and first.end() < len(head)


class _CarriageReturnsAsLineFeeds(io.RawIOBase):
    """A binary file read with each carriage return as a line feed: a CR-only file's lines, same sizes."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        data = self.file.read(len(buffer)).replace(b"\r", b"\n")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.file.close()
        super().close()


def is_blank(path: Path) -> bool:
    """Return whether a CSV file (gzipped or not) holds nothing but blank lines, or nothing at all."""
    with open_csv(path) as file:
        return not any(
            line.strip(b" \t\r\n\xef\xbb\xbf") for line in iter(partial(file.readline, 1 << 16), b"")
        )


# What a file named as CSV holds when it starts with these bytes, and what to do with it.
NOT_CSV_TEXT = {
    b"\x1f\x8b": ("gzip-compressed", "give it a name ending in .csv.gz"),
    b"PK\x03\x04": (
        "a ZIP archive (an Excel .xlsx workbook is one)",
        "export the sheet as CSV UTF-8, or unzip it",
    ),
    b"\xd0\xcf\x11\xe0": ("an Excel .xls workbook", "export the sheet as CSV UTF-8"),
    b"PAR1": ("a Parquet file", "give it a name ending in .parquet"),
    b"\xff\xfe": ('UTF-16 text (Excel\'s "Unicode Text")', "save it as CSV UTF-8"),
    b"\xfe\xff": ("UTF-16 text", "save it as CSV UTF-8"),
}


def refuse_what_is_not_text(path: Path) -> None:
    """Fail a file named as CSV whose first bytes say it is something else, naming what it is.

    DuckDB's reader takes such bytes for text: a gzip, ZIP or Parquet file gave a header of binary
    characters, so the file "lacked the required column order_id"; UTF-16 text failed its sniffer.
    """
    with open_csv(path) as file:
        head = file.read(4)
    if is_gzipped(path) and head.startswith(b"\x1f\x8b"):  # named .gz and decompressed once already
        raise ValueError(f"{path.name} is gzip-compressed twice: decompress it once, then load it again.")
    for start, (what, fix) in NOT_CSV_TEXT.items():
        if head.startswith(start):
            raise ValueError(f"{path.name} is {what}, not a UTF-8 CSV file: {fix}, then load it again.")


def lines_above_header(path: Path) -> int:
    """Return how many lines come before a CSV file's header line: blank ones, and Excel's `sep=;` line."""
    with open_csv(path) as file:
        lines = enumerate(records_cut(file), start=1)
        return sum(1 for _ in takewhile(lambda numbered: above_header(*numbered), lines))


def above_header(number: int, line: bytes) -> bool:
    """Return whether the line numbered `number` (from 1) of a CSV file is no data: blank, or `sep=;` first.

    Excel reads a first line `sep=;` as the file's delimiter, and exports for Excel write one.
    """
    return _is_blank_line(line) or (number == 1 and is_sep_line(line))


def is_sep_line(line: bytes) -> bool:
    """Return whether a line is Excel's `sep=X`, naming the delimiter X, after a UTF-8 file's BOM, if any."""
    return (
        re.fullmatch(b"(?:\xef\xbb\xbf)?sep=[" + re.escape(DELIMITERS.encode()) + b"]\r?\n?", line)
        is not None
    )


def starts_with_a_sep_line(path: Path) -> bool:
    """Return whether a CSV file's first line is Excel's `sep=;`."""
    with open_csv(path) as file:
        return is_sep_line(next(records_cut(file), b""))


def _is_blank_line(line: bytes) -> bool:
    """Return whether a line of a CSV file holds nothing but its line break (and a UTF-8 file's BOM)."""
    return not line.rstrip(b"\r\n").removeprefix(b"\xef\xbb\xbf")


def holds_an_open_quote(csv_line: str | None) -> bool:
    """Return whether a rejected line's text runs over its line break or ends inside a double quote."""
    text = (csv_line or '"').strip("\r\n")
    opening = re.compile(b"(?:^|[" + re.escape(DELIMITERS.encode()) + b'])"')
    return "\n" in text or "\r" in text or _quoted_at_end(text.encode(), False, opening)


def refuse_mixed_line_breaks(path: Path) -> None:
    """Fail the file, naming the line, when its lines end in CR LF and in LF alone, which DuckDB cannot read.

    DuckDB's reader takes one kind of line break per file: with both, its sniffer, or its reader past the
    lines it sampled, fails the whole file ("Error when sniffing file", "The CSV Parser state machine
    reached an invalid state"), which says nothing of line breaks. A carriage return alone within a line,
    outside double quotes (a value edited on a Mac), is a line break to it too.
    """
    with (gzip.open if is_gzipped(path) else open)(path, "rb") as file:
        records = records_cut(file)
        mixed = None
        try:
            crlf = next(records, b"").endswith(b"\r\n")
            for number, record in enumerate(records, start=2):
                if record.endswith(b"\n") and record.endswith(b"\r\n") != crlf:
                    mixed = (
                        number,
                        f"ends in {'LF alone' if crlf else 'CR LF'}",
                        "convert it to one (e.g. with dos2unix)",
                    )
                    break
                unquoted = re.sub(b'"(?:[^"]|"")*"', b"", record.rstrip(b"\r\n"))
                if b"\r" in unquoted:
                    mixed = (
                        number,
                        "holds a CR alone, outside double quotes",
                        "remove it, or quote its value,",
                    )
                    break
        except (OSError, EOFError, zlib.error):  # a .csv.gz cut short: DuckDB's error says so
            return
    if mixed is not None:
        number, what, fix = mixed
        raise ValueError(
            f"{path.name} cannot be read: its lines end in {'CR LF' if crlf else 'LF'}, but line {number} "
            f"{what}, and a file takes one kind of line break; {fix} and load it again."
        )


def blank_lines_above(path: Path, delimiter: str, lines: list[int]) -> tuple[list[int], list[str | None]]:
    """Return how many blank lines of a CSV file come before each of the lines (ascending; header = 1), and
    each line's text as in the file (a byte that is not UTF-8 written \\xNN, a line too long cut).

    Lines as DuckDB's reader counts them: a quoted value's line breaks, and blank lines in it, are inside
    one line.
    """
    counts: list[int] = []
    texts: list[str | None] = []
    blank = 0
    with open_csv(path) as file:
        records = records_cut(file, delimiter)
        for number in count(1):
            record = next(records, None)
            if record is None:  # not expected: DuckDB's reader counted more lines
                break
            if number == lines[len(counts)]:
                counts.append(blank)
                texts.append(record.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace"))
            if len(counts) == len(lines):
                break
            blank += above_header(number, record)
    missing = len(lines) - len(counts)
    return counts + [blank] * missing, texts + [None] * missing


def records_cut(file: IO[bytes], delimiters: str = DELIMITERS) -> Iterator[bytes]:
    """Yield the lines of a CSV file with their line breaks, a line too long cut: memory stays bounded.

    A line is a record, as DuckDB's reader counts, samples and limits lines: a quoted value's line breaks
    are inside it (RFC 4180). A double quote opens a value at a field's start, after a line break or one of
    the delimiters; elsewhere it is a character. One that never closes makes the rest of the file one line.
    """
    after_delimiter = b"[" + re.escape(delimiters.encode()) + b']"'
    # a part of a line too long does not start the line: a double quote first in it opens nothing
    opening = {True: re.compile(b"(?:^|" + after_delimiter[:-1] + b')"'), False: re.compile(after_delimiter)}
    record, quoted, line_start = bytearray(), False, True
    for part in iter(partial(file.readline, MAX_LINE_SIZE + 2), b""):  # a line too long comes in parts
        while part.endswith(b'"'):  # a part cut after a double quote: the next byte says if it is doubled
            following = file.read(1)
            if not following:
                break
            part += following
        record += part[: MAX_LINE_SIZE + 2 - len(record)]
        if quoted or b'"' in part:
            quoted = _quoted_at_end(part, quoted, opening[line_start])
        line_start = part.endswith(b"\n")
        if not quoted and line_start:
            yield bytes(record)
            record.clear()
    if record:
        yield bytes(record)


def _quoted_at_end(part: bytes, quoted: bool, opening: re.Pattern[bytes]) -> bool:
    """Return whether a quoted value is open after a line or part of one, given whether one was before it."""
    position = 0
    while True:
        if quoted:
            position = part.find(b'"', position) + 1
            if not position:
                return True
            if part[position : position + 1] == b'"':  # a double quote inside the value, doubled
                position += 1
            else:
                quoted = False
        elif opening_quote := opening.search(part, position):
            quoted, position = True, opening_quote.end()
        else:
            return False


def first_line(path: Path) -> str:
    """Return the header line of a CSV file (gzipped or not), without its line break, as text.

    That is its first line that is not blank nor Excel's `sep=;` (above_header): DuckDB's reader skips
    blank lines above the header, and the byte order mark of a UTF-8 file, which is no part of it.
    """
    with open_csv(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as file:
        lines = enumerate(file, start=1)
        return next((line.rstrip("\r\n") for n, line in lines if not above_header(n, line.encode())), "")


def ends_with_a_delimiter(path: Path) -> bool:
    """Return whether a CSV file's header line ends with one of the delimiters, as some exports write it."""
    return first_line(path)[-1:] in tuple(DELIMITERS)
