"""Reading one delivered file, CSV or Parquet, into the temp table `_cvw_file`, all text for CSV.

A CSV line DuckDB's reader cannot split into the header's columns (too many or too few fields, invalid
UTF-8, more than MAX_LINE_SIZE bytes, a quoted value's line breaks included) is not a row: it goes to the
temp table `_cvw_malformed`, numbered among the file's data rows, so the load quarantines it like any other
invalid row (include/ingest.py). A file that cannot be read right (not CSV or Parquet, a double quote that
never closes, a first line too long) fails whole with one sentence.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zlib
from itertools import islice
from pathlib import Path

import duckdb

from include.csv_lines import (
    DELIMITERS,
    MAX_LINE_SIZE,
    above_header,
    blank_lines_above,
    ends_with_a_delimiter,
    first_line,
    holds_an_open_quote,
    is_blank,
    is_gzipped,
    is_sep_line,
    lines_above_header,
    open_csv,
    records_cut,
    refuse_mixed_line_breaks,
    refuse_what_is_not_text,
    starts_with_a_sep_line,
)
from include.mapping import quote

SUFFIXES = (".parquet", ".csv", ".csv.gz")  # in any case: ORDERS.CSV, as Windows tools name exports, too
SNIFF_LINES = 20_480  # the lines DuckDB's sniffer reads for a CSV file's dialect (its default sample_size)
CSV_DIALECT = "a valid CSV file, with a header line and values quoted, if at all, in double quotes that close"
# DuckDB's CSV reader skips a line it cannot split into the header's columns and records it in these tables.
CSV_REJECT_TABLES = ("_cvw_csv_errors", "_cvw_csv_scans")
# text in: the contract's casts decide types. The quote and escape are RFC 4180's double quote, not guessed:
# a guess taken from the first rows reads a file's other quoted values with their quotes, or reads
# apostrophes as quotes and merges the lines between two of them
CSV_OPTIONS = (
    f"all_varchar = true, header = true, quote = '\"', escape = '\"', max_line_size = {MAX_LINE_SIZE + 1}, "
    f"sample_size = {SNIFF_LINES}"
)
CSV_REJECTS = (
    f"store_rejects = true, rejects_table = '{CSV_REJECT_TABLES[0]}', rejects_scan = '{CSV_REJECT_TABLES[1]}'"
)
STAGE = "create or replace temp table _cvw_file as select * from {reader}"
# A malformed CSV line's data row number, its text, and its reject reason naming the reader's errors, e.g.
# "malformed CSV line (too many columns)", with its size when it is too long. The reader numbers the line
# among all lines, the skipped blank ones included (the header is line 1), and its text, and its size, start
# with the line breaks of the blank lines right above it: data rows do not count them ($blank_lines_above:
# how many blank lines precede each of the $lines), nor hold them.
MALFORMED = """
create or replace temp table _cvw_malformed as
with
blank as (
    select unnest($lines::ubigint[]) as line, unnest($blank_lines_above::bigint[]) as lines_above,
        unnest($file_texts::varchar[]) as file_text
),
errors as (
    select line, column_idx, ltrim(csv_line, chr(13) || chr(10)) as csv_line,
        lower(error_type::varchar) || coalesce(format(
            ': {:,} bytes, more than {:,}',
            try_cast(regexp_extract(error_message, 'Actual Size: ?([0-9]+) bytes', 1) as bigint)
            - (length(csv_line) - length(ltrim(csv_line, chr(13) || chr(10)))),
            $max_line_size
        ), '') as error
    from _cvw_csv_errors
)
select (line - 1 - any_value(blank.lines_above))::bigint as data_row,
    -- the reader's text of a line not in UTF-8 loses its bytes and the delimiter after them: the file's own
    -- bytes, each non-UTF-8 one written \\xNN, keep it as delivered
    coalesce(
        case when bool_or(error = 'invalid encoding') then any_value(blank.file_text) end,
        first(csv_line order by column_idx)
    ) as csv_line,
    'malformed CSV line (' || string_agg(distinct error, ', ' order by error) || ')' as reason
from errors
inner join blank using (line)
group by line
"""


def loadable(file_name: str) -> bool:
    """Return whether a file name ends in one of the SUFFIXES, in any case."""
    return file_name.lower().endswith(SUFFIXES)


def _is_parquet(path: Path) -> bool:
    """Return whether the file is named as Parquet (.parquet, in any case)."""
    return path.name.lower().endswith(".parquet")


def stage_file(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """Read a CSV (all text) or Parquet file into the temp table `_cvw_file`; return {column: type}.

    A CSV line that does not split into the header's columns (too many or too few fields, an unclosed
    quote, invalid UTF-8, more than MAX_LINE_SIZE bytes) is not a row of `_cvw_file`: it goes to
    `_cvw_malformed`, which write_rejects copies to raw._rejects, so such a line is quarantined like any
    other invalid row.
    """
    if not loadable(path.name):
        raise ValueError(f"{path.name} is neither CSV nor Parquet: give a .csv, .csv.gz or .parquet file.")
    for table in CSV_REJECT_TABLES:
        con.execute(f"drop table if exists {table}")
    try:  # insertion order is kept: `row_number() over ()` on a scan of _cvw_file is the row's place in it
        if _is_parquet(path):
            con.execute(STAGE.format(reader="read_parquet(?)"), [str(path)])
        else:
            _stage_csv(con, path)
    except duckdb.Error as error:
        if not _is_parquet(path):
            refuse_mixed_line_breaks(path)
        reason = str(error).splitlines()[0]
        valid = "a valid Parquet file" if _is_parquet(path) else CSV_DIALECT
        raise ValueError(f"{path.name} cannot be read ({reason}): check that it is {valid}.") from None
    except (OSError, EOFError, zlib.error) as error:  # Python's reading of a .csv.gz (the sniffing sample)
        if not is_gzipped(path):
            raise
        raise ValueError(
            f"{path.name} cannot be read ({error}): check that it is a complete gzip-compressed CSV file (a "
            "transfer cut short leaves it incomplete: deliver it again)."
        ) from None
    if _is_parquet(path):
        _untyped_as_text(con)
        columns = "data_row bigint, csv_line varchar, reason varchar"
        con.execute(f"create or replace temp table _cvw_malformed ({columns})")
    else:
        _refuse_an_unclosed_quote(con, path)
        _stage_malformed(con, path)
    for table in CSV_REJECT_TABLES:
        con.execute(f"drop table if exists {table}")
    return {name: sql_type for name, sql_type, *_ in con.execute("describe _cvw_file").fetchall()}


def repeated_columns(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    """Return the names a staged file's header holds more than once, lower-cased (case tells none apart).

    DuckDB's readers rename a repeat (`Date`, `date` become `Date`, `date_1`), so a contract column read by
    that name would silently take the first of them; the loader refuses the file instead (mapping.resolve).
    A CSV header is split as DuckDB split it: by the delimiter that gives as many names as it staged.
    """
    if _is_parquet(path):
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    else:
        staged = len(con.execute("describe _cvw_file").fetchall())
        header = first_line(path)
        splits = [next(csv.reader([header], delimiter=d), []) for d in DELIMITERS]
        # or by one more, the last unnamed: the header line ended with it (_without_an_unnamed_last_column)
        unnamed_last = [split[:-1] for split in splits if split[-1:] == [""]]
        names = next((split for split in [*splits, *unnamed_last] if len(split) == staged), [])
    lowered = [name.strip().lstrip("\ufeff").lower() for name in names]  # a BOM is no part of a name
    return {name for name in lowered if lowered.count(name) > 1}


def _untyped_as_text(con: duckdb.DuckDBPyConnection) -> None:
    """Make each staged column of Parquet's null or UUID type text, as the contract reads it.

    pandas writes an object column of only None (a discount no order had that day) with the null type: it
    holds no value, so it is missing throughout. A UUID (Parquet's logical type, which PostgreSQL, Spark
    and DuckDB exports use for uuid keys) is its text, 8-4-4-4-12 hex digits. No contract type would take
    either otherwise: the whole file would fail for a column with nothing in it, or for uuid keys.
    """
    for name, sql_type, *_ in con.execute("describe _cvw_file").fetchall():
        if sql_type in ('"NULL"', "UUID"):
            con.execute(f"alter table _cvw_file alter column {quote(name)} set data type varchar")


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Read a CSV file, all text, into `_cvw_file`; DuckDB's reader records the lines it rejects."""
    reader, params = f"read_csv(?, {CSV_OPTIONS}, {CSV_REJECTS}", [str(path)]
    if is_blank(path):  # DuckDB reads it as a column 'column0', which the contract's columns are not
        raise ValueError(
            f"{path.name} is empty, without even the header line a CSV file starts with: deliver it with its "
            "header (a file of no rows is its header line alone), or leave it out."
        )
    refuse_what_is_not_text(path)
    # given the dialect, the reader no longer skips the blank lines above the header: they are skipped for it
    given = ", auto_detect = false, delim = ?, columns = ?, skip = ?"
    dialect = _dialect_without_long_lines(con, path)
    if not dialect and (starts_with_a_sep_line(path) or ends_with_a_delimiter(path) or not _sniffs(path)):
        # a line the sniffer samples that the reader cannot split, a double quote that never closes or text
        # after one that does (`"c3"x`), among other quoted values, fails it ("Error when sniffing file"):
        # given the header's dialect, the reader rejects that line as it does one beyond the sample (an
        # unclosed quote then fails the file); the sniffer takes Excel's `sep=;` line for the header
        dialect = _dialect_of_header(path)
    if dialect:
        dialect = _without_an_unnamed_last_column(path, dialect)
    if not dialect:
        con.execute(STAGE.format(reader=f"{reader})"), params)
        if not _read_whole(con, path):
            return
        # such a line, alone, made the sniffer read every line whole, as one column: the same
        dialect = _dialect_of_header(path)
        if not dialect:
            return
        for table in CSV_REJECT_TABLES:
            con.execute(f"drop table if exists {table}")
    con.execute(STAGE.format(reader=f"{reader}{given})"), [*params, *dialect, lines_above_header(path)])


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


def _sniffs(path: Path) -> bool:
    """Return whether DuckDB's sniffer finds a CSV file's dialect, the lines it cannot split left out."""
    return _sniff(path, "Delimiter", ", ignore_errors = true") is not None


def _dialect_without_long_lines(con: duckdb.DuckDBPyConnection, path: Path) -> list[object]:
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


def _refuse_an_unclosed_quote(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Fail the file when a double quote in it never closes: every line after it belongs to one value.

    DuckDB's reader meets it one of two ways. In the lines it samples for the dialect, comma-separated
    columns no longer fit, and it reads each line whole as one column named after the header line. After
    them, it rejects the quote's line, with the rest of the file as its value, cut at 10,000 characters:
    the rows beyond were neither read nor rejected. Either way the file fails whole, naming the cause.
    The reader says the same ("Value with unterminated quote found.") of a quoted value closed and followed
    by more text (`"c3"x`): that line's text ends at its line break, with no quote left open, and it is a
    malformed line (`unquoted value`) like any other.
    """
    query = (
        f"select line, csv_line from {CSV_REJECT_TABLES[0]} where error_message ilike '%unterminated quote%'"
    )
    unclosed = [line for line, text in con.execute(query).fetchall() if holds_an_open_quote(text)]
    if unclosed:
        unclosed_line = min(unclosed)
        raise ValueError(
            f"{path.name} has a double quote that does not close on line {unclosed_line}: every line after "
            f"it would be one value. Check that it is {CSV_DIALECT}."
        )
    if _read_whole(con, path):
        columns = [name for name, *_ in con.execute("describe _cvw_file").fetchall()]
        raise ValueError(
            f"{path.name} does not split into columns (its header line {columns[0][:80]!r} is read as one "
            f"column; a double quote that does not close, early in the file, does that). Check that it is "
            f"{CSV_DIALECT}."
        )


def _read_whole(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Return whether DuckDB staged the CSV file's lines whole, as one column named after its header line.

    Or named `column0`, as it names the column when blank lines are above the header line.
    """
    columns = [name for name, *_ in con.execute("describe _cvw_file").fetchall()]
    header = first_line(path)
    # the header line read whole, unsplit (a quoted one-column header such as "id,name" is split: legal)
    return len(columns) == 1 and columns[0] in (header, "column0") and any(d in header for d in DELIMITERS)


def _dialect_of_header(path: Path) -> list[object]:
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


def _without_an_unnamed_last_column(path: Path, dialect: list[object]) -> list[object]:
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


def _stage_malformed(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Create `_cvw_malformed` from the lines DuckDB's reader rejected, numbered among the data rows."""
    query = f"select distinct line from {CSV_REJECT_TABLES[0]} order by line"
    lines = [line for (line,) in con.execute(query).fetchall()]
    blank, texts = [0] * len(lines), [None] * len(lines)
    (delimiter,) = con.execute(f"select first(delimiter) from {CSV_REJECT_TABLES[1]}").fetchone()
    if lines:
        blank, texts = blank_lines_above(path, delimiter or ",", lines)
    # a one-column file has no blank line to skip: DuckDB reads one as a row, an empty value
    if len(con.execute("describe _cvw_file").fetchall()) == 1:
        blank = [0] * len(lines)
    parameters = {"lines": lines, "blank_lines_above": blank, "file_texts": texts}
    con.execute(MALFORMED, {**parameters, "max_line_size": MAX_LINE_SIZE})
