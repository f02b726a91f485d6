"""Column mappings: which column of a user's file feeds which contract column, and how its text is parsed.

A mapping names a raw table and, for any of its contract columns, the file's column (`columns`), a value
for every row (`constants`) or a value where the file's is empty (`defaults`), and the strptime format(s)
of text timestamps (`date_format`). Contract columns it does not name are read from the file's column of
the same name, when there is one. As YAML (`--mapping orders.yaml`):

    table: orders
    columns: {order_id: OrderNo, customer_id: Client, ordered_at: Date, amount: Total}
    date_format: "%d/%m/%Y %H:%M"
    constants: {sales_channel: web}
    defaults: {status: completed}

The SQL built here only reads: file columns are quoted names taken from the file's own description,
contract columns come from include/raw_schema.py, and every value is a named, bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from include.raw_schema import RAW_TABLES, Column

# Families of DuckDB types, and the families each contract type accepts from a file.
NUMBER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
ACCEPTS = {
    "VARCHAR": {"text", "number"},
    "TIMESTAMP": {"text", "time"},
    "DOUBLE": {"text", "number"},
    "INTEGER": {"text", "number"},
    "BIGINT": {"text", "number"},
}
NEEDS = {
    "VARCHAR": "text or whole numbers",
    "TIMESTAMP": "timestamps or text such as 2024-01-31 13:45:00",
    "DOUBLE": "numbers",
    "INTEGER": "whole numbers",
    "BIGINT": "whole numbers",
}
KINDS = {
    "TIMESTAMP": "a timestamp",
    "DOUBLE": "a number",
    "INTEGER": "a whole number",
    "BIGINT": "a whole number",
}


class MappingAdvice(ValueError):
    """A file fails whole in a way a column mapping (cvw import's --map, --date-format) would fix."""


@dataclass(frozen=True)
class Mapping:
    """How one file's columns become the contract columns of one raw table."""

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    date_format: str | list[str] | None = None
    constants: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """Where one contract column's values come from in one file, as SQL over the staged file."""

    column: Column
    value: str  # SQL of the file's value, NULL when absent or empty
    source_type: str  # DuckDB type of `value`
    label: str  # for messages: "column 'Date'" or "constant 'web'"
    params: dict[str, object] = field(default_factory=dict)


def quote(identifier: str) -> str:
    """Return an identifier quoted for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def type_family(duckdb_type: str) -> str:
    """Return text, number, time or other for a DuckDB type name."""
    name = duckdb_type.upper()
    if name.endswith("]"):  # a list or array of values (TIMESTAMP[], DOUBLE[3]) is never one value
        return "other"
    if name == "VARCHAR":
        return "text"
    if name.startswith(NUMBER_TYPES):
        return "number"
    if name == "DATE" or name.startswith("TIMESTAMP"):
        return "time"
    return "other"


def parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """Return {contract_column: value} from repeated `--flag contract_column=value` arguments."""
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(
                f"{flag} {pair!r} is not of the form CONTRACT_COLUMN=VALUE: "
                f"write it like {flag} order_id=OrderNo."
            )
        parsed[name.strip()] = value.strip()
    return parsed


def read_mapping_file(path: Path) -> dict:
    """Return the content of a YAML mapping file as a dict, or raise ValueError naming the problem."""
    try:
        content = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        message = f"The mapping file {path} cannot be read ({error.strerror}): check the path."
        raise ValueError(message) from None
    except yaml.YAMLError as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"The mapping file {path} is not valid YAML ({reason}): fix it.") from None
    if not isinstance(content, dict):
        raise ValueError(f"The mapping file {path} must hold a YAML mapping with `table:` and `columns:`.")
    unknown = set(content) - {"table", "columns", "date_format", "constants", "defaults"}
    if unknown:
        raise ValueError(
            f"The mapping file {path} has unknown keys {sorted(unknown)}: "
            "use table, columns, date_format, constants and defaults."
        )
    for key in ("columns", "constants", "defaults"):
        if not isinstance(content.get(key) or {}, dict):
            raise ValueError(f"In the mapping file {path}, `{key}` must map contract columns to values.")
    return content


def build_mapping(
    table: str | None,
    columns: dict[str, str] | None = None,
    date_format: str | list[str] | None = None,
    constants: dict[str, object] | None = None,
    defaults: dict[str, object] | None = None,
    base: dict | None = None,
) -> Mapping:
    """Return a checked mapping: the YAML content in `base`, overridden by the other arguments."""
    base = base or {}
    if table and base.get("table") and table != base["table"]:
        raise ValueError(
            f"--table {table} contradicts `table: {base['table']}` in the mapping file: keep one."
        )
    table = table or base.get("table")
    if table not in RAW_TABLES:
        raise ValueError(f"{table!r} is not a raw table: choose one of {', '.join(RAW_TABLES)}.")
    merged = {
        "columns": {**(base.get("columns") or {}), **(columns or {})},
        "constants": {**(base.get("constants") or {}), **(constants or {})},
        "defaults": {**(base.get("defaults") or {}), **(defaults or {})},
    }
    names = [column.name for column in RAW_TABLES[table]]
    for part, entries in merged.items():
        for name, value in entries.items():
            if name not in names:
                raise ValueError(
                    f"{name!r} in the mapping's {part} is not a column of raw.{table}: "
                    f"use one of {', '.join(names)}."
                )
            if value is None or not str(value).strip():  # YAML's null would become the text 'None'
                raise ValueError(
                    f"{name!r} in the mapping's {part} has no value (empty, or YAML's null): give one, or "
                    f"leave {name} out of {part}."
                )
    both = set(merged["columns"]) & set(merged["constants"])
    if both:
        raise ValueError(f"{sorted(both)} are both mapped to a file column and given a constant: keep one.")
    date_format = date_format or base.get("date_format")
    if date_format is not None and not isinstance(date_format, str | list):
        raise ValueError("date_format must be a strptime format such as '%d/%m/%Y %H:%M', or a list of them.")
    return Mapping(
        table=table,
        columns={key: str(value) for key, value in merged["columns"].items()},
        date_format=date_format,
        constants={key: str(value) for key, value in merged["constants"].items()},
        defaults={key: str(value) for key, value in merged["defaults"].items()},
    )


def _find(name: str, described: dict[str, str]) -> str | None:
    """Return the file's column called `name`, matched exactly or else case-insensitively, or None."""
    if name in described:
        return name
    matches = [column for column in described if column.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def resolve(
    mapping: Mapping, described: dict[str, str], file_name: str, repeated: Collection[str] = ()
) -> list[Source]:
    """Return the source of every contract column, or raise ValueError for a column the file lacks.

    `repeated`: the lower-cased names the file's header holds more than once; a contract column read by one
    of them raises too, as it is not clear which of the columns it is.
    """
    sources = []
    for column in RAW_TABLES[mapping.table]:
        if column.name in mapping.constants:
            value = mapping.constants[column.name]
            sources.append(
                Source(
                    column,
                    f"cast(${column.name}_constant as varchar)",
                    "VARCHAR",
                    f"constant {value!r}",
                    {f"{column.name}_constant": value},
                )
            )
            continue
        wanted = mapping.columns.get(column.name, column.name)
        found = _find(wanted, described)
        if found is not None and found.lower() in repeated:
            raise ValueError(
                f"{file_name} has more than one column named {found!r} (names that differ only in case "
                f"count as the same): rename or drop all but one, so it is clear which is {column.name}."
            )
        if found is None and column.name in mapping.columns:
            raise ValueError(
                f"{file_name} has no column {wanted!r}, which the mapping gives for {column.name}: "
                f"map one of its columns ({', '.join(described)})."
            )
        if column.name in mapping.defaults:
            # the file's value as text the way it would be read without a default (17850.0 is '17850')
            as_text = None if found is None else typed("VARCHAR", quote(found), described[found], 0)
            text = "null" if as_text is None else blank_is_null(as_text)
            default = mapping.defaults[column.name]
            sources.append(
                Source(
                    column,
                    f"coalesce({text}, ${column.name}_default)",
                    "VARCHAR",
                    f"column {found or column.name!r} with default {default!r}",
                    {f"{column.name}_default": default},
                )
            )
            continue
        if found is None:
            if column.required:
                raise MappingAdvice(
                    f"{file_name} lacks the required column {column.name} of raw.{mapping.table}: add it, "
                    f"or map one of its columns to it (--map {column.name}=YOUR_COLUMN; its columns: "
                    f"{', '.join(described)})."
                )
            sources.append(Source(column, "null", "VARCHAR", "absent"))
            continue
        source_type = described[found]
        if type_family(source_type) not in ACCEPTS[column.sql_type]:
            raise MappingAdvice(
                f"{file_name}: column {found!r} is {source_type}, which cannot become {column.name} "
                f"({column.sql_type}) of raw.{mapping.table}: deliver {NEEDS[column.sql_type]} in it, "
                "or map another column."
            )
        value = blank_is_null(quote(found)) if type_family(source_type) == "text" else quote(found)
        if column.sql_type == "VARCHAR" and type_family(source_type) == "number":
            # delivered as its text (17850.0 is '17850'), so a NaN or infinity is no value as delivered:
            # in a required column it is `missing <column>` (rule 1), not a NULL key loaded past the rule
            value, source_type = typed("VARCHAR", value, source_type, 0), "VARCHAR"
        sources.append(Source(column, value, source_type, f"column {found!r}"))
    return sources


def blank_is_null(value: str) -> str:
    """Return SQL of a text value without surrounding spaces, tabs and line breaks; NULL when none is left."""
    return f"nullif(trim({value}, ' ' || chr(9) || chr(10) || chr(13)), '')"


def typed(sql_type: str, value: str, source_type: str, date_formats: int) -> str:
    """Return SQL turning `value` (of `source_type`) into `sql_type`: NULL where it does not parse.

    date_formats: how many strptime formats text timestamps are read with (bound by date_format_params);
    0 reads them as ISO 8601.
    """
    family = type_family(source_type)
    if sql_type == "VARCHAR":
        if source_type.upper() in ("FLOAT", "DOUBLE") or source_type.upper().startswith("DECIMAL"):
            # 17850.0 is the customer id 17850: integral numbers lose the fraction a float column gave them,
            # up to 2**53, the largest a double holds exactly (beyond it, digits would claim a precision the
            # value lost); NaN and infinities are no value at all
            number = f"cast({value} as double)"
            return (
                f"case when not isfinite({number}) then null "
                f"when {number} = trunc({number}) and abs({number}) <= {2**53} "
                f"then cast(cast({number} as bigint) as varchar) else cast({value} as varchar) end"
            )
        return f"cast({value} as varchar)"
    if sql_type == "TIMESTAMP":
        return finite_timestamp(value, source_type, date_formats)
    if sql_type == "DOUBLE":
        return number_of(value, source_type)
    number = as_number(value, family == "text")
    low, high = (-(2**31), 2**31 - 1) if sql_type == "INTEGER" else (-(2**63), 2**63 - 1)
    return (
        f"case when {number} = trunc({number}) and {number} between {low} and {high} "
        f"then cast({number} as {sql_type}) end"
    )


# A time, spaces, then a UTC offset (+02:00, +0200, -05) or Z: the spaces are dropped before the ISO cast.
SPACED_OFFSET = r"([0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)\s+([+-][0-9]{2}(?::?[0-9]{2})?|Z)$"


def date_format_params(date_format: str | list[str] | None) -> dict[str, str]:
    """Return the date format(s) as the bound parameters finite_timestamp reads: date_format_1, ..."""
    formats = [date_format] if isinstance(date_format, str) else list(date_format or [])
    return {f"date_format_{number}": fmt for number, fmt in enumerate(formats, 1)}


# A zone after the time of an ISO 8601 text, as DuckDB's timestamptz cast reads one: an offset (+02:00,
# +0200, -05, +05:30:00), Z, or a name (UTC, EST, Europe/Paris), after spaces or none. DuckDB's TIMESTAMP
# cast drops a zone silently, and a zero offset gives the same UTC time as none, so the text tells.
ISO_ZONE = r"[0-9]:[0-9]{2}(?:\.[0-9]+)?\s*(?:Z|[+-][0-9]{2}(?::?[0-9]{2}){0,2}|[A-Za-z][A-Za-z0-9_/+-]*)\s*$"
ZONED_SOURCE_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")  # Parquet's instants, at any precision


def _text_readings(value: str, date_formats: int) -> list[tuple[str, str]]:
    """Return (SQL of the TIMESTAMP, SQL of whether it had a zone) of each way text is read, in order.

    The formats in turn, then ISO 8601 (unambiguous: year first). A format's zone is its own (%z makes
    DuckDB's strptime return a TIMESTAMP WITH TIME ZONE; decided once, on a NULL), ISO text's its ending.
    """
    readings = [
        (
            f"cast(try_strptime({value}, $date_format_{n}) as timestamp)",
            f"typeof(try_strptime(cast(null as varchar), $date_format_{n})) = 'TIMESTAMP WITH TIME ZONE'",
        )
        for n in range(1, date_formats + 1)
    ]
    # an offset after a space (`2019-02-08 15:21:46 -0500`, as Shopify and Ruby write it) is the same
    # offset: DuckDB's cast reads it only when it follows the time directly
    joined = f"regexp_replace({value}, '{SPACED_OFFSET}', '\\1\\2')"
    iso = f"cast(timezone('UTC', try_cast({joined} as timestamptz)) as timestamp)"
    iso = f"case when regexp_matches({value}, '[0-9]') then {iso} end"
    return [*readings, (iso, f"regexp_matches({value}, '{ISO_ZONE}')")]


def has_zone(value: str, source_type: str, date_formats: int) -> str:
    """Return SQL telling whether `value` as finite_timestamp reads it carried a zone, so is an instant.

    Text read by a format with %z (or %Z) or as ISO 8601 text ending in a zone (ISO_ZONE), and a Parquet
    TIMESTAMP WITH TIME ZONE carry one. Meaningful only where finite_timestamp gives a timestamp.
    """
    if type_family(source_type) != "text":
        return "true" if source_type.upper().startswith(ZONED_SOURCE_TYPES) else "false"
    *formats, (_, iso_zoned) = _text_readings(value, date_formats)
    # ISO 8601 is read last: where it did not parse either, there is no timestamp to judge
    readings = [f"case when year({one}) >= 1000 then {zoned} end" for one, zoned in formats]
    return f"coalesce({', '.join([*readings, iso_zoned])})"


def finite_timestamp(value: str, source_type: str, date_formats: int) -> str:
    """Return SQL turning `value` (text, a date or a timestamp) into a finite TIMESTAMP, NULL where none.

    DuckDB reads the text `infinity` and `-infinity` (what PostgreSQL exports for an unbounded timestamp) as
    timestamps; they are no moment at which anything happened, so they are unparsable, as a date past the
    years a TIMESTAMP holds is. So is its word `epoch`, which it reads as 1970-01-01: a text timestamp
    without a digit is no date a shop wrote.

    Text is read with each of the `date_formats` formats in turn, the first that parses winning, as
    strptime with a list of formats does, then as ISO 8601; but a year below 1000 does not parse: DuckDB's
    %Y reads one to four digits, so `01/03/24` with `%d/%m/%Y` was the year 24 (Python's strptime needs four
    digits), and its ISO cast reads `2/3/24` as the year 2 and `24-03-02` as the year 24: one such order put
    every monthly cutoff of the spine in the first century. A later `%y` format reads them.
    """
    # A zone in the value (an offset such as +02:00 or Z, a zone name, a %z format) turns it into UTC;
    # a value without one is taken as delivered. Both need the connection's TimeZone to be UTC
    # (include.warehouse.connect sets it), or a zoned value would become the machine's local time.
    family = type_family(source_type)
    if family == "text":
        # the formats in turn, then ISO 8601, each only with a year of four digits
        parsed = [one for one, _ in _text_readings(value, date_formats)]
        timestamp = (
            f"coalesce({', '.join(f'case when year({one}) >= 1000 then {one} end' for one in parsed)})"
        )
    elif source_type.upper().endswith("_NS"):
        # TIMESTAMP_NS, TIMESTAMPTZ_NS (pandas' datetime64[ns]): cut to the microsecond, as text is. DuckDB's
        # cast rounds, and 23:59:59.9999999 became midnight: an order placed before a cutoff counted after it
        nanos = f"epoch_ns({value})"  # since 1970-01-01 UTC; floored below, also before 1970
        timestamp = f"make_timestamp(({nanos} - ({nanos} % 1000 + 1000) % 1000) // 1000)"
    elif source_type.upper().startswith(ZONED_SOURCE_TYPES):
        timestamp = f"cast(timezone('UTC', {value}) as timestamp)"
    else:  # a DATE beyond the years a TIMESTAMP holds (294,247 AD) does not become one: NULL, no error
        timestamp = f"try_cast({value} as timestamp)"
    return f"case when isfinite({timestamp}) then {timestamp} end"


def as_number(value: str, text: bool) -> str:
    """Return SQL reading `value` (text, or else a number) as a double, NULL when it is not a number.

    DuckDB's cast of text also reads digit separators (`1_000` as 1000); the contract has no thousands
    separators, so text with one is not a number.
    """
    if not text:
        return f"try_cast({value} as double)"
    return f"case when strpos({value}, '_') = 0 then try_cast({value} as double) end"


def number_of(value: str, source_type: str) -> str:
    """Return SQL reading `value` (of `source_type`: text or a number) as a finite double, else NULL."""
    number = as_number(value, type_family(source_type) == "text")
    return f"case when isfinite({number}) then {number} end"


def bound(sql: str, params: dict[str, object]) -> dict[str, object]:
    """Return the named parameters the SQL uses, taken from `params` (DuckDB rejects unused ones)."""
    return {name: params[name] for name in dict.fromkeys(re.findall(r"\$(\w+)", sql)) if name in params}
