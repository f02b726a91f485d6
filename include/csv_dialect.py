"""The dialect (delimiter and columns) a CSV file is read with, when DuckDB's sniffer, left to itself,
would fail or read it wrong: a line it samples too long or that does not split, Excel's `sep=;` line, a
header line ending with the delimiter. The loader (include/file_staging.py) then gives the reader this
dialect, and the reader rejects such lines one by one as malformed instead of failing the file.
"""

from __future__ import annotations

import csv
import io
import tempfile
from itertools import islice
from pathlib import Path

import duckdb

from include.csv_lines import MAX_LINE_SIZE, above_header, first_line, is_sep_line, open_csv, records_cut

SNIFF_LINES = 20_480  # the lines DuckDB's sniffer reads for a CSV file's dialect (its default sample_size)
CSV_DIALECT = "a valid CSV file, with a header line and values quoted, if at all, in double quotes that close"
# text in: the contract's casts decide types. The quote and escape are RFC 4180's double quote, not guessed:
# a guess taken from the first rows reads a file's other quoted values with their quotes, or reads
# apostrophes as quotes and merges the lines between two of them
CSV_OPTIONS = (
    f"all_varchar = true, header = true, quote = '\"', escape = '\"', max_line_size = {MAX_LINE_SIZE + 1}, "
    f"sample_size = {SNIFF_LINES}"
)


def _sniff(path: Path, columns: str, options: str = "") -> tuple | None:
    """Return the `columns` DuckDB's sniffer gives of a CSV file (sniff_csv with `options`); None if it fails.

    On a connection of its own: a failure aborts the transaction it happens in, the load's among them.
    """
    scratch = duckdb.connect()
    try:
        query = f"select {columns} from sniff_csv(?, {CSV_OPTIONS}{options})"
        return scratch.execute(query, [str(path)]).fetchone()
    except duckdb.Error:
        return None
    finally:
        scratch.close()


def sniffs(path: Path) -> bool:
    """Return whether DuckDB's sniffer finds a CSV file's dialect, the lines it cannot split left out."""
    return _sniff(path, "Delimiter", ", ignore_errors = true") is not None


def dialect_without_long_lines(con: duckdb.DuckDBPyConnection, path: Path) -> list[object]:
    """Return [delimiter, columns] when a line the sniffer samples is too long, sniffed without it; else [].

    DuckDB's sniffer, which reads the first SNIFF_LINES lines for the dialect, fails the whole file on a
    line longer than MAX_LINE_SIZE bytes, which its reader, given the dialect, rejects as a malformed line.
    A line is a record: a quoted value of many short lines makes it too long. (The sniffer counts a line's
    line break, as here: CR LF makes a line of MAX_LINE_SIZE bytes too long.)
    """
    with open_csv(path) as file:
        if all(len(line) <= MAX_LINE_SIZE + 1 for line in islice(records_cut(file), SNIFF_LINES)):
            return []
    with tempfile.TemporaryDirectory() as directory:
        sample = Path(directory) / "sample.csv"
        with open_csv(path) as file, sample.open("wb") as kept:
            for number, line in enumerate(islice(records_cut(file), SNIFF_LINES), start=1):
                if number == 1 and is_sep_line(line):  # Excel's `sep=;` is no header (above_header)
                    continue
                if len(line) <= MAX_LINE_SIZE + 1:
                    kept.write(line)
                elif number == 1:  # a header line of short lines: a double quote that closes late or never
                    quote = ", a double quote in it holding the lines" if b"\n" in line[:-1] else ""
                    raise ValueError(
                        f"{path.name} cannot be read: its first line is longer than {MAX_LINE_SIZE:,} bytes"
                        f"{quote}, the most a CSV line may have. Check that it is {CSV_DIALECT}."
                    )
        # the sample's other malformed lines do not decide the dialect, as in the reader, which stores rejects
        query = f"select Delimiter, Columns from sniff_csv(?, {CSV_OPTIONS}, ignore_errors = true)"
        try:
            delimiter, columns = con.execute(query, [str(sample)]).fetchone()
        except duckdb.Error as error:  # named after the file, not after its sample
            reason = str(error).splitlines()[0].replace(str(sample), path.name)
            raise ValueError(
                f"{path.name} cannot be read ({reason}): check that it is {CSV_DIALECT}."
            ) from None
    return [delimiter, {column["name"]: column["type"] for column in columns}]


def dialect_of_header(path: Path) -> list[object]:
    """Return [delimiter, columns] of a CSV file as DuckDB's sniffer reads its header line alone; [] if not.

    The header line is the first that is not blank, as first_line says.
    """
    with tempfile.TemporaryDirectory() as directory:
        header = Path(directory) / "header.csv"
        with open_csv(path) as file:
            lines = enumerate(records_cut(file), start=1)
            header.write_bytes(next((line for n, line in lines if not above_header(n, line)), b""))
        sniffed = _sniff(header, "Delimiter, Columns")
    if sniffed is None:
        return []
    delimiter, columns = sniffed
    return [delimiter, {column["name"]: column["type"] for column in columns}]


def without_an_unnamed_last_column(path: Path, dialect: list[object]) -> list[object]:
    """Return the [delimiter, columns] of a CSV file without the header's last column when it has no name
    and no row the sniffer samples has a value in it.

    A header line ending with the delimiter names one column more than such rows hold (DuckDB calls it
    `column4`): each row was rejected as missing a column. Without it, a row ending with the delimiter too
    (nothing after it) loads as well, and one with a value there is malformed (too many columns). A column
    only its name is missing from keeps its values, which no contract column reads.
    """
    delimiter, columns = dialect
    names = next(csv.reader([first_line(path)], delimiter=str(delimiter)), [])
    if len(names) != len(columns) or len(names) < 2 or names[-1].strip() != "":
        return dialect
    with open_csv(path) as file:
        lines = enumerate(islice(records_cut(file), SNIFF_LINES), start=1)
        rows = (line for number, line in lines if not above_header(number, line))
        next(rows, None)  # the header line
        for line in rows:
            try:
                text = io.StringIO(line.decode("utf-8", "replace"))
                fields = next(csv.reader(text, delimiter=str(delimiter)))
            except (csv.Error, StopIteration):  # the reader's to reject
                continue
            if len(fields) >= len(names) and fields[len(names) - 1].strip():
                return dialect
    return [delimiter, dict(list(columns.items())[:-1])]
