"""SQL reading one value of a delivered file as a contract type: text, numbers, timestamps; NULL where not.

The loader (include/validation.py, the presets) builds each contract column's value from these: a value
that does not parse is NULL here, and the validation quarantines its row with the reason. Date formats are
bound parameters (date_format_params), never formatted into the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

# The DuckDB types of numbers (type_family).
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


def blank_is_null(value: str) -> str:
    """Return SQL of a text value without surrounding spaces, tabs and line breaks; NULL when none is left."""
    return f"nullif(trim({value}, ' ' || chr(9) || chr(10) || chr(13)), '')"


# Thousands separators a text number may group its digits with: a comma (1,234.50), a point (1.234,50), a
# space, a no-break or narrow no-break space (1 234,50, as French exports write it), an apostrophe (1'234.50).
THOUSANDS_SEPARATORS = (",", ".", " ", "\u00a0", "\u202f", "'")


@dataclass(frozen=True)
class NumberFormat:
    """How a file writes its text numbers: the decimal mark, the separator of digit groups and the currency
    symbol, if any."""

    decimal: str = "."  # "." (12.50) or "," (12,50)
    thousands: str | None = None  # one of THOUSANDS_SEPARATORS; None: a number has no digit groups
    currency: str | None = None  # a symbol or code a number may carry before or after it ($12.50, 12,50 €)


CONTRACT_NUMBERS = NumberFormat()  # the contract's own: a decimal point, no digit groups (1234.50)


# What may stand between a currency symbol and its number: a space, a no-break or a narrow no-break space.
CURRENCY_SPACES = "' ' || chr(160) || chr(8239)"


def _text(value: str) -> str:
    """Return a SQL string literal of `value` (a separator or a currency symbol)."""
    return "'" + value.replace("'", "''") + "'"


def without_currency(value: str, currency: str) -> str:
    """Return SQL of a text `value` without `currency` before it (after its sign, if any: -$12.50) or after
    it (12,50 €), and the spaces between them; a value that carries none stays as it is."""
    symbol, length = _text(currency), len(currency)
    return (
        f"case when starts_with({value}, {symbol}) "
        f"then ltrim(substr({value}, {length + 1}), {CURRENCY_SPACES}) "
        f"when starts_with({value}, '-' || {symbol}) or starts_with({value}, '+' || {symbol}) "
        f"then left({value}, 1) || ltrim(substr({value}, {length + 2}), {CURRENCY_SPACES}) "
        f"when ends_with({value}, {symbol}) "
        f"then rtrim(left({value}, length({value}) - {length}), {CURRENCY_SPACES}) "
        f"else {value} end"
    )


def typed(
    sql_type: str,
    value: str,
    source_type: str,
    date_formats: int,
    number_format: NumberFormat = CONTRACT_NUMBERS,
) -> str:
    """Return SQL turning `value` (of `source_type`) into `sql_type`: NULL where it does not parse.

    date_formats: how many strptime formats text timestamps are read with (bound by date_format_params);
    0 reads them as ISO 8601. number_format: how text numbers are written (as_number).
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
        return number_of(value, source_type, number_format)
    number = as_number(value, family == "text", number_format)
    low, high = (-(2**31), 2**31 - 1) if sql_type == "INTEGER" else (-(2**63), 2**63 - 1)
    return (
        f"case when {number} = trunc({number}) and {number} between {low} and {high} "
        f"then cast({number} as {sql_type}) end"
    )


# A time, spaces, then a UTC offset (+02:00, +0200, -05) or Z: the spaces are dropped before the ISO cast.
SPACED_OFFSET = r"([0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)\s+([+-][0-9]{2}(?::?[0-9]{2})?|Z)$"


def date_format_params(date_format: str | list[str] | None) -> dict[str, str]:
    """Return the date format(s) as the bound parameters finite_timestamp reads: date_format_1, ..."""
    return {f"date_format_{number}": fmt for number, fmt in enumerate(as_date_formats(date_format), 1)}


def as_date_formats(date_format: str | list[str] | None) -> tuple[str, ...]:
    """Return a mapping's date_format (one strptime format, a list of them, or none) as a tuple."""
    return (date_format,) if isinstance(date_format, str) else tuple(date_format or ())


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


def as_number(value: str, text: bool, number_format: NumberFormat = CONTRACT_NUMBERS) -> str:
    """Return SQL reading `value` (text, or else a number) as a double, NULL when it is not a number.

    DuckDB's cast of text also reads digit separators (`1_000` as 1000), which no export writes, so text with
    one is not a number. With a decimal comma (`12,50`, as spreadsheets of many locales write it) a point is
    not a number unless it is the thousands separator: `1.234` there is a thousand and more, never 1.234. With
    a thousands separator, a number holding it must group its digits by three from the first (`1,234,567.5`,
    not `1,23` or `12,3456`); without one, it holds none. With a currency symbol, a number may carry it once,
    before or after it (`$1,234.50`, `-$5`, `12,50 €`); a number with another symbol is none.
    """
    if not text:
        return f"try_cast({value} as double)"
    decimal, thousands = number_format.decimal, number_format.thousands
    if number_format.currency is not None:
        value = without_currency(value, number_format.currency)
    if decimal == ",":
        plain = (
            f"case when strpos({value}, '_') = 0 and strpos({value}, '.') = 0 "
            f"then try_cast(replace({value}, ',', '.') as double) end"
        )
    else:
        plain = f"case when strpos({value}, '_') = 0 then try_cast({value} as double) end"
    if thousands is None:
        return plain
    grouped = _text(f"[+-]?[0-9]{{1,3}}([{thousands}][0-9]{{3}})+([{decimal}][0-9]+)?")
    digits = f"replace(replace({value}, {_text(thousands)}, ''), {_text(decimal)}, '.')"
    return (
        f"case when strpos({value}, {_text(thousands)}) = 0 then {plain} "
        f"when regexp_full_match({value}, {grouped}) then try_cast({digits} as double) end"
    )


def number_of(value: str, source_type: str, number_format: NumberFormat = CONTRACT_NUMBERS) -> str:
    """Return SQL reading `value` (of `source_type`: text or a number) as a finite double, else NULL."""
    number = as_number(value, type_family(source_type) == "text", number_format)
    return f"case when isfinite({number}) then {number} end"
