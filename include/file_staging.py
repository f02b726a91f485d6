"""Reading one delivered file, CSV or Parquet, into the temp table `_cvw_file`, all text for CSV.

A CSV line DuckDB's reader cannot split into the header's columns (too many or too few fields, invalid
UTF-8, more than MAX_LINE_SIZE bytes, a quoted value's line breaks included) is not a row: it goes to the
temp table `_cvw_malformed`, numbered among the file's data rows, so the load quarantines it like any other
invalid row (include/ingest.py). A file that cannot be read right (not CSV or Parquet, a double quote that
never closes, a first line too long) fails whole with one sentence.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import duckdb

from include.csv_dialect import (
    CSV_DIALECT,
    CSV_OPTIONS,
    dialect_of_header,
    dialect_without_long_lines,
    sniffs,
    without_an_unnamed_last_column,
)
from include.csv_lines import (
    DELIMITERS,
    MAX_LINE_SIZE,
    blank_lines_above,
    ends_with_a_delimiter,
    first_line,
    holds_an_open_quote,
    is_blank,
    is_gzipped,
    lines_above_header,
    refuse_mixed_line_breaks,
    refuse_what_is_not_text,
    starts_with_a_sep_line,
)
from include.mapping import quote

SUFFIXES = (".parquet", ".csv", ".csv.gz")  # in any case: ORDERS.CSV, as Windows tools name exports, too
# DuckDB's CSV reader skips a line it cannot split into the header's columns and records it in these tables.
CSV_REJECT_TABLES = ("_cvw_csv_errors", "_cvw_csv_scans")
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
        # or by one more, the last unnamed: the header line ended with it (without_an_unnamed_last_column)
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
    dialect = dialect_without_long_lines(con, path)
    if not dialect and (starts_with_a_sep_line(path) or ends_with_a_delimiter(path) or not sniffs(path)):
        # a line the sniffer samples that the reader cannot split, a double quote that never closes or text
        # after one that does (`"c3"x`), among other quoted values, fails it ("Error when sniffing file"):
        # given the header's dialect, the reader rejects that line as it does one beyond the sample (an
        # unclosed quote then fails the file); the sniffer takes Excel's `sep=;` line for the header
        dialect = dialect_of_header(path)
    if dialect:
        dialect = without_an_unnamed_last_column(path, dialect)
    if not dialect:
        con.execute(STAGE.format(reader=f"{reader})"), params)
        if not _read_whole(con, path):
            return
        # such a line, alone, made the sniffer read every line whole, as one column: the same
        dialect = dialect_of_header(path)
        if not dialect:
            return
        for table in CSV_REJECT_TABLES:
            con.execute(f"drop table if exists {table}")
    con.execute(STAGE.format(reader=f"{reader}{given})"), [*params, *dialect, lines_above_header(path)])


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
