"""Column mappings: which column of a user's file feeds which contract column, and how its text is parsed.

A mapping names a raw table and, for any of its contract columns, the file's column (`columns`), a value
for every row (`constants`) or a value where the file's is empty (`defaults`), the strptime format(s)
of text timestamps (`date_format`), the decimal mark of text numbers (`decimal_separator`) and the
separator of their digit groups (`thousands_separator`) and the currency symbol they may carry
(`currency_symbol`), and the customer ids that stand for no customer (`guest_customer`). Contract
columns it does not name are read from the file's column of the same name, when there is one. As YAML
(`--mapping orders.yaml`):

    table: orders
    columns: {order_id: OrderNo, customer_id: Client, ordered_at: Date, amount: Total}
    date_format: "%d/%m/%Y %H:%M"
    decimal_separator: ","          # text numbers written 12,50 (default ".")
    thousands_separator: "."        # and 1.234,50 (default: none, 1234,50)
    currency_symbol: "€"            # and 1.234,50 € (default: none)
    guest_customer: "0"             # a customer_id meaning a guest checkout (or a list of them)
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
from include.value_casts import (
    THOUSANDS_SEPARATORS,
    NumberFormat,
    as_date_formats,
    blank_is_null,
    type_family,
    typed,
)

# The families of DuckDB types (value_casts.type_family) each contract type accepts from a file.
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
    decimal_separator: str = "."  # of text numbers: "." (12.50) or "," (12,50)
    thousands_separator: str | None = None  # of their digit groups: None (1234.50), or value_casts' choices
    currency_symbol: str | None = None  # that a text number may carry before or after it ($12.50, 12,50 €)
    guest_customers: tuple[str, ...] = ()  # customer_id values that stand for no customer (a guest checkout)

    @property
    def date_formats(self) -> tuple[str, ...]:
        """The strptime formats text timestamps are read with, in turn (ISO 8601 after them)."""
        return as_date_formats(self.date_format)

    @property
    def number_format(self) -> NumberFormat:
        """How the file writes its text numbers."""
        return NumberFormat(self.decimal_separator, self.thousands_separator, self.currency_symbol)


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


MAPPING_KEYS = (
    "table",
    "columns",
    "date_format",
    "decimal_separator",
    "thousands_separator",
    "currency_symbol",
    "guest_customer",
    "constants",
    "defaults",
)


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
    unknown = set(content) - set(MAPPING_KEYS)
    if unknown:
        raise ValueError(
            f"The mapping file {path} has unknown keys {sorted(unknown)}: "
            f"use {', '.join(MAPPING_KEYS[:-1])} and {MAPPING_KEYS[-1]}."
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
    decimal_separator: str | None = None,
    thousands_separator: str | None = None,
    currency_symbol: str | None = None,
    guest_customers: list[str] | None = None,
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
    decimal_separator = decimal_separator or base.get("decimal_separator") or "."
    if decimal_separator not in (".", ","):
        raise ValueError(
            f"The decimal separator {decimal_separator!r} is neither '.' (12.50) nor ',' (12,50): give one "
            "of them."
        )
    thousands_separator = thousands_separator or base.get("thousands_separator")
    if thousands_separator is not None and thousands_separator not in THOUSANDS_SEPARATORS:
        raise ValueError(
            f"The thousands separator {thousands_separator!r} is none of "
            f"{', '.join(repr(one) for one in THOUSANDS_SEPARATORS)}: give one of them, or none."
        )
    if thousands_separator == decimal_separator:
        raise ValueError(
            f"{thousands_separator!r} cannot be both the decimal and the thousands separator: a file writes "
            "1,234.50 or 1.234,50 (--decimal-separator ',' --thousands-separator '.')."
        )
    currency_symbol = currency_symbol or base.get("currency_symbol")
    if currency_symbol is not None and not re.fullmatch(r"[^\d\s+-]{1,5}", str(currency_symbol)):
        raise ValueError(
            f"The currency symbol {currency_symbol!r} is not one to five characters without digits, signs or "
            "spaces: give it as the file writes it, e.g. '$', '€', 'EUR' or 'CHF'."
        )
    guests = _guest_customers(table, guest_customers or base.get("guest_customer"))
    return Mapping(
        table=table,
        columns={key: str(value) for key, value in merged["columns"].items()},
        date_format=date_format,
        decimal_separator=decimal_separator,
        thousands_separator=thousands_separator,
        currency_symbol=currency_symbol,
        guest_customers=guests,
        constants={key: str(value) for key, value in merged["constants"].items()},
        defaults={key: str(value) for key, value in merged["defaults"].items()},
    )


def _guest_customers(table: str, given: str | list | None) -> tuple[str, ...]:
    """Return the checked guest customer ids of a mapping (`--guest-customer`, YAML `guest_customer`)."""
    if given is None:
        return ()
    values = given if isinstance(given, list) else [given]
    unusable = [v for v in values if v is None or isinstance(v, bool | dict | list) or not str(v).strip()]
    if unusable:
        raise ValueError(
            "guest_customer must be a customer id, or a list of them, as the file writes it (e.g. 0 or "
            f"GUEST), not {unusable[0]!r}."
        )
    if "customer_id" not in {column.name for column in RAW_TABLES[table]}:
        holders = [
            name for name, columns in RAW_TABLES.items() if any(c.name == "customer_id" for c in columns)
        ]
        raise ValueError(
            f"raw.{table} has no customer_id, so a guest customer id means nothing to it: give it when "
            f"importing {', '.join(holders)}."
        )
    # as contract values: text as written, a whole number as its digits (a float file's 0.0 is '0')
    return tuple(
        dict.fromkeys(
            str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip() for v in values
        )
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


def bound(sql: str, params: dict[str, object]) -> dict[str, object]:
    """Return the named parameters the SQL uses, taken from `params` (DuckDB rejects unused ones)."""
    return {name: params[name] for name in dict.fromkeys(re.findall(r"\$(\w+)", sql)) if name in params}
