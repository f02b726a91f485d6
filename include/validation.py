"""Set-based validation of one staged file against the raw contract: each row is loaded or gets one reason.

The file sits in the temp table `_cvw_file`. `stage_typed` casts it to the contract (`_cvw_typed`),
`check_columns` fails the whole file when a column cannot be the contract's, and `check_rows` gives each
row its first failing rule (`_cvw_checked._reason`, NULL = load it), in this order: missing required
value, unparsable or non-numeric value, value rules (negative quantity on a non-return, ...), timestamp in
the future (future_condition), a guest customer id (guest_rules), duplicate key within the file, key
already loaded, unknown order or customer. All in DuckDB SQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import duckdb

from include.mapping import KINDS, Mapping, MappingAdvice, Source, bound, quote
from include.raw_schema import KEYS, RAW_TABLES, Column
from include.value_casts import CONTRACT_NUMBERS, NumberFormat, date_format_params, has_zone, number_of, typed

WHOLE_NUMBER_TYPES = ("INTEGER", "BIGINT")  # contract types whose values are checked for being whole
# The ways exports write numbers, in the order advice prefers them where several read the same values: the
# default, then English thousands (so 1,234 reads as a thousand and more), then a comma locale without and
# with digit groups (12,50; 1.234,50; 1 234,50 with a space, a no-break or a narrow no-break one), then a
# point with spaces or apostrophes (1 234.50, 1'234.50).
WRITTEN_NUMBERS = (
    CONTRACT_NUMBERS,
    NumberFormat(".", ","),
    NumberFormat(","),
    NumberFormat(",", "."),
    NumberFormat(",", " "),
    NumberFormat(",", "\u00a0"),
    NumberFormat(",", "\u202f"),
    NumberFormat(".", " "),
    NumberFormat(".", "'"),
)


# Date formats exports write, tried for advice when those given (or ISO 8601) read none of a file's dates:
# day-first before month-first where both read the same values, then years of two digits.
DATE_PARTS = (
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
)
TIME_PARTS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
WRITTEN_DATES = tuple(day + time for day in DATE_PARTS for time in TIME_PARTS)
DATE_SAMPLE = 10_000  # values the formats are ranked on (_best_date_format)
GENERIC_DATE_HINT = " (pass its format, e.g. --date-format '%d/%m/%Y %H:%M')"


def day_month_swapped(date_format: str) -> str:
    """Return the strptime format with %d and %m exchanged: %d/%m/%Y for %m/%d/%Y."""
    return date_format.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def import_options(number_format: NumberFormat) -> str:
    """Return the cvw import options that read numbers written in `number_format`."""
    options = []
    if number_format.decimal != ".":
        options.append(f"--decimal-separator {_shell(number_format.decimal)}")
    if number_format.thousands is not None:
        options.append(f"--thousands-separator {_shell(number_format.thousands)}")
    if number_format.currency is not None:
        options.append(f"--currency-symbol {_shell(number_format.currency)}")
    return " ".join(options) or "none of --decimal-separator, --thousands-separator and --currency-symbol"


def _shell(text: str) -> str:
    """Return `text` quoted for a shell: '$', "'", and $'\\u202f' for a character no terminal shows."""
    if text.isprintable():
        return repr(text)
    return "$'" + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text) + "'"


def other_readings(current: NumberFormat, currency: str | None = None) -> list[NumberFormat]:
    """Return the ways of writing numbers advice may suggest to a load that read them as `current`: those
    of WRITTEN_NUMBERS, then, given the currency symbol the values carry, each of them with it."""
    ways = list(WRITTEN_NUMBERS)
    if currency is not None:
        ways += [replace(way, currency=currency) for way in WRITTEN_NUMBERS]
    return [one for one in ways if one != current]


# A currency symbol or code before a number (after its sign) or after it: up to five characters that are
# neither digits, signs, separators nor spaces ($, €, EUR, US$, kr, zł).
CURRENCY_MARKS = (
    r"^[+-]?([^0-9.,'+\s\x{a0}\x{202f}-]{1,5})[\s\x{a0}\x{202f}]*[0-9]",
    r"[0-9][\s\x{a0}\x{202f}]*([^0-9.,'+\s\x{a0}\x{202f}-]{1,5})$",
)


# A local timestamp written just now can be up to 14 hours ahead of UTC (UTC+14 is the largest offset).
FUTURE_TOLERANCE = timedelta(hours=14)
# A timestamp with a zone is an instant, in the future once it is after the load time; the allowance is only
# for the clock of the machine that stamped it running ahead of ours: 5 minutes, the clock skew Kerberos
# tolerates by default (clocks kept by NTP differ by far less).
ZONED_FUTURE_TOLERANCE = timedelta(minutes=5)

# Rules on parsed values, per table: (condition, reason); a NULL value passes.
VALUE_RULES: dict[str, list[tuple[str, str]]] = {
    "orders": [
        ("amount < 0", "negative amount"),
        ("discount_amount < 0", "negative discount_amount"),
        ("lower(status) not in ('completed', 'cancelled')", "status is neither completed nor cancelled"),
    ],
    "order_items": [
        ("line_number < 1", "line_number below 1"),
        ("quantity < 0", "negative quantity on a non-return"),
        ("unit_price < 0", "negative unit_price"),
        ("discount_amount < 0", "negative discount_amount"),
        ("returned_quantity < 0 or returned_quantity > quantity", "returned_quantity outside 0..quantity"),
    ],
    "products": [("list_price < 0", "negative list_price"), ("unit_cost < 0", "negative unit_cost")],
}

# An order line's order is not in the warehouse (this load's earlier files included).
ORDER_NOT_LOADED = "not exists (select 1 from raw.orders as known where known.order_id = checked.order_id)"

# Rules against rows already in the warehouse (this load's earlier files included), after duplicates.
REFERENCE_RULES: dict[str, list[tuple[str, str]]] = {
    "orders": [
        (
            "exists (select 1 from raw.customers) and "
            "not exists (select 1 from raw.customers as known where known.customer_id = checked.customer_id)",
            "order of an unknown customer",
        )
    ],
    "order_items": [
        (
            f"{ORDER_NOT_LOADED} and exists (select 1 from raw._rejects as rejected "
            "where rejected.table_name = 'orders' and rejected.order_id = checked.order_id)",
            "order line of a rejected order",
        ),
        (ORDER_NOT_LOADED, "order line of an unknown order"),
    ],
}

STAGE_TYPED = """
create or replace temp table _cvw_typed as
with delivered as (select row_number() over () as _row_number, {delivered} from _cvw_file)
select *, {casts} from delivered
"""

CHECK_ROWS = """
create or replace temp table _cvw_checked as
with
ruled as (select *, {rule} as _rule_reason from _cvw_typed),
ranked as (
    select *, row_number() over (partition by {keys}, _rule_reason is null order by _row_number) as _key_rank
    from ruled
)
select _row_number, {columns}, coalesce(_rule_reason, {later}) as _reason from ranked as checked
"""


def future_condition(column: str, zoned: str) -> str:
    """Return SQL true when the timestamp column is in the future: beyond its limit, a zoned one's or not."""
    return f"{column} > case when {zoned} then $zoned_future_limit else $future_limit end"


def future_limits(loaded_at: datetime) -> dict[str, datetime]:
    """Return the bound parameters of future_condition for a load at `loaded_at` (UTC, no zone)."""
    return {
        "future_limit": loaded_at + FUTURE_TOLERANCE,
        "zoned_future_limit": loaded_at + ZONED_FUTURE_TOLERANCE,
    }


def first_reason(rules: list[tuple[str, str]], prefix: str) -> tuple[str, dict[str, str]]:
    """Return a SQL case giving the reason of the first rule whose condition holds, and its parameters."""
    params = {f"{prefix}_{index}": reason for index, (_, reason) in enumerate(rules)}
    cases = " ".join(f"when {condition} then ${prefix}_{index}" for index, (condition, _) in enumerate(rules))
    return f"case {cases} end", params


def _source_column(name: str) -> str:
    """Return the quoted name of the staged column holding a contract column's value as delivered."""
    return quote(f"src__{name}")


def check_date_format(con: duckdb.DuckDBPyConnection, date_format: str | list[str] | None) -> None:
    """Raise ValueError when the date format is not one DuckDB's strptime understands."""
    if date_format is None:
        return
    try:
        con.execute("select try_strptime('', $date_format)", {"date_format": date_format})
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        raise ValueError(
            f"The date format {date_format!r} is not a strptime format ({reason}): "
            "write it like '%d/%m/%Y %H:%M'."
        ) from None


def stage_typed(con: duckdb.DuckDBPyConnection, sources: list[Source], mapping: Mapping) -> None:
    """Create `_cvw_typed`: row number, each contract column as delivered (src__) and cast to the contract.

    A timestamp column also gets `zoned__<name>`: whether its value carried a zone
    (include.value_casts.has_zone).
    """
    delivered, casts = [], []
    date_formats = date_format_params(mapping.date_format)
    number_format = mapping.number_format
    for source in sources:
        column, value = source.column, _source_column(source.column.name)
        delivered.append(f"{source.value} as {value}")
        cast = typed(column.sql_type, value, source.source_type, len(date_formats), number_format)
        casts.append(f"{cast} as {quote(column.name)}")
        if column.sql_type in WHOLE_NUMBER_TYPES:
            number = number_of(value, source.source_type, number_format)
            casts.append(f"{number} as {quote('num__' + column.name)}")
        if column.sql_type == "TIMESTAMP":
            zoned = has_zone(value, source.source_type, len(date_formats))
            casts.append(f"{zoned} as {quote('zoned__' + column.name)}")
    sql = STAGE_TYPED.format(delivered=", ".join(delivered), casts=", ".join(casts))
    params: dict[str, object] = {**date_format_params(mapping.date_format)}
    for source in sources:
        params |= source.params
    con.execute(sql, bound(sql, params))


def check_columns(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    table: str,
    file_name: str,
    number_format: NumberFormat = CONTRACT_NUMBERS,
    date_formats: tuple[str, ...] = (),
) -> None:
    """Raise ValueError when a column has values but none parses, or a required column is empty throughout.

    The sentence of a column of numbers or dates that none parses names the options that read them, when a
    common way of writing them does (number_format and date_formats: how this load reads them).
    """
    counts = []
    for source in sources:
        name = source.column.name
        counts += [f"count({_source_column(name)})", f"count({quote(name)})", f"min({_source_column(name)})"]
    row = con.execute(f"select count(*), {', '.join(counts)} from _cvw_typed").fetchone()
    rows = row[0]
    for index, source in enumerate(sources):
        delivered, parsed, sample = row[1 + 3 * index : 4 + 3 * index]
        column = source.column
        if rows and column.required and delivered == 0:
            raise MappingAdvice(
                f"{file_name}: {source.label} is empty in every row, and raw.{table}.{column.name} is "
                "required: map the column that holds it, or fill it."
            )
        if delivered and not parsed and column.sql_type in KINDS:
            hint = ""
            if column.sql_type == "TIMESTAMP":
                hint = _dates_hint(con, column.name, delivered, date_formats)
            elif column.sql_type != "VARCHAR":
                hint = _numbers_hint(con, column.name, delivered, number_format)
            raise MappingAdvice(
                f"{file_name}: no value of {source.label} parses as {KINDS[column.sql_type]} for "
                f"raw.{table}.{column.name} (e.g. {str(sample)!r}): fix the column or the mapping{hint}."
            )


def _delivered(name: str) -> str:
    """Return SQL selecting a staged column's delivered values, as text (`delivered`), where it has one."""
    value = _source_column(name)
    return f"select cast({value} as varchar) as delivered from _cvw_typed where {value} is not null"


def _rejected(names: list[str], reason: str) -> str:
    """Return SQL selecting, as text (`delivered`), the values of the named columns that `check_rows`
    rejected their row for, with the reason `{reason} {name}` (e.g. non-numeric amount)."""
    return " union all ".join(
        f"select cast({_source_column(name)} as varchar) as delivered from _cvw_checked join _cvw_typed "
        f"using (_row_number) where _reason = '{reason} {name}'"
        for name in names
    )


def _dates_hint(con: duckdb.DuckDBPyConnection, name: str, delivered: int, given: tuple[str, ...]) -> str:
    """Return which date format reads a column none of whose values parsed, or the generic hint."""
    best = _best_date_format(con, _delivered(name), given)
    if best is None:
        return GENERIC_DATE_HINT
    reads, date_format, ambiguous = best
    hint = f" ({reads:,} of its {delivered:,} values read as dates with --date-format {date_format!r}"
    if ambiguous:
        hint += (
            f", and as many with {day_month_swapped(date_format)!r}: no day in them is above the 12th, so "
            "only the shop knows which is right; see the rows each gives with --dry-run"
        )
    return hint + ")"


def _best_date_format(
    con: duckdb.DuckDBPyConnection, values: str, given: tuple[str, ...]
) -> tuple[int, str, bool] | None:
    """Return how many of the texts `values` selects (as `delivered`) the best date format not `given` reads
    (of WRITTEN_DATES: the most read, the first of equals), that format, and whether the same with day and
    month swapped reads as many, so the values cannot tell which is right; None when none reads any.

    The formats are ranked on the first DATE_SAMPLE values (every format on 2M values took 33 s), then the
    best and its swap counted on all. A format reads a value as finite_timestamp does: strptime, and a year
    of four digits.
    """
    candidates = [one for one in WRITTEN_DATES if one not in given]
    sample = _date_reads(con, f"select * from ({values}) limit {DATE_SAMPLE}", candidates)
    best = max(candidates, key=sample.__getitem__)  # max keeps the first of equals
    if not sample[best]:
        return None
    swapped = day_month_swapped(best)
    found = _date_reads(con, values, [best, swapped] if swapped != best else [best])
    return found[best], best, swapped != best and found[swapped] == found[best]


def _date_reads(con: duckdb.DuckDBPyConnection, values: str, formats: list[str]) -> dict[str, int]:
    """Return how many of the texts `values` selects (as `delivered`) each format reads."""
    counts = ", ".join(
        f"count(*) filter (where year(try_strptime(delivered, $format_{n})) >= 1000)"
        for n in range(len(formats))
    )
    params = {f"format_{n}": one for n, one in enumerate(formats)}
    row = con.execute(f"select {counts} from ({values})", params).fetchone()
    return dict(zip(formats, row, strict=True))


def date_format_rejects(
    con: duckdb.DuckDBPyConnection, table: str, given: tuple[str, ...] = ()
) -> str | None:
    """Return advice when rows `check_rows` rejected for an unparsable date read with a common date format.

    When a given format is that one with day and month swapped, the rows it did read (days up to the 12th)
    are likely on wrong dates, and the advice says so and how to replace them.
    """
    dates = [c.name for c in RAW_TABLES[table] if c.sql_type == "TIMESTAMP"]
    if not dates:
        return None
    best = _best_date_format(con, _rejected(dates, "unparsable date in"), given)
    if best is None:
        return None
    rows, date_format, ambiguous = best
    advice = f"{rows:,} of the rows with an unparsable date read as dates with --date-format {date_format!r}"
    swapped = [one for one in given if day_month_swapped(one) == date_format]
    if swapped:
        return (
            f"{advice}, which reads day and month the other way round from {swapped[0]!r}: the rows this "
            "load took with it are likely on wrong dates (see them with --dry-run; cvw import --reload "
            "--allow-updates with the right format replaces them)"
        )
    if ambiguous:
        advice += f" (and as many with {day_month_swapped(date_format)!r}: see which is right with --dry-run)"
    return f"{advice} (cvw import --reload gives them another chance)"


def _numbers_hint(con: duckdb.DuckDBPyConnection, name: str, delivered: int, current: NumberFormat) -> str:
    """Return how another way of writing numbers reads a column none of whose values parsed, or ''."""
    best = _best_reading(con, _delivered(name), current)
    if best is None:
        return ""
    reads, _, reading = best
    return f" ({reads:,} of its {delivered:,} values read as numbers with {import_options(reading)})"


def _best_reading(
    con: duckdb.DuckDBPyConnection, values: str, current: NumberFormat
) -> tuple[int, str, NumberFormat] | None:
    """Return how many of the texts `values` selects (as `delivered`) the best other way of writing numbers
    reads, an example of them and that way; None when no way reads any.

    The ways are those of other_readings, with the currency symbol the texts carry most often. The best reads
    the most; of equals, the first (without a currency symbol before with it).
    """
    marks = " union all ".join(
        f"select regexp_extract(delivered, $mark_{n}, 1) as mark from ({values})" for n in range(2)
    )
    found = con.execute(
        f"select mark from ({marks}) where mark <> '' group by mark order by count(*) desc, mark limit 1",
        {f"mark_{n}": pattern for n, pattern in enumerate(CURRENCY_MARKS)},
    ).fetchone()
    readings = other_readings(current, found[0] if found else None)
    reads = ", ".join(
        f"{number_of('delivered', 'VARCHAR', one)} is not null as reads_{n}" for n, one in enumerate(readings)
    )
    counts = [
        f"count(*) filter (where reads_{n}), "
        # the longest as the example: 1.234.567,5 says more of how the file writes numbers than 1,234
        f"first(delivered order by length(delivered) desc, delivered) filter (where reads_{n})"
        for n in range(len(readings))
    ]
    row = con.execute(
        f"select {', '.join(counts)} from (select delivered, {reads} from ({values}))"
    ).fetchone()
    rows, sample, reading = max(
        zip(row[::2], row[1::2], readings, strict=True), key=lambda read: read[0]
    )  # max keeps the first of equals
    return (rows, sample, reading) if rows else None


def number_format_rejects(
    con: duckdb.DuckDBPyConnection, table: str, current: NumberFormat = CONTRACT_NUMBERS
) -> str | None:
    """Return advice when rows `check_rows` rejected as non-numeric hold numbers written another way.

    Read with a decimal point, `12,50` is no number, nor is `1,234.50` without a thousands separator: a
    comma locale's file loads its whole numbers and rejects the rest, and the reason alone does not say why.
    The advice names the way of writing numbers (WRITTEN_NUMBERS) that reads the most of those rows.
    """
    numbers = [
        c.name for c in RAW_TABLES[table] if c.sql_type == "DOUBLE" or c.sql_type in WHOLE_NUMBER_TYPES
    ]
    if not numbers:
        return None
    best = _best_reading(con, _rejected(numbers, "non-numeric"), current)
    if best is None:
        return None
    rows, sample, reading = best
    return (
        f"{rows:,} of the non-numeric rows hold numbers written like {sample!r}, which load with "
        f"{import_options(reading)} (cvw import --reload gives them another chance)"
    )


def guest_reason(table: str, guest: str) -> str:
    """Return the reason a row of the table whose customer_id is a guest id (`--guest-customer`) gets."""
    if table == "customers":
        return f"guest customer_id {guest!r} (--guest-customer): not a customer"
    return f"guest checkout: customer_id {guest!r} (--guest-customer)"


def guest_rules(table: str, guests: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return a rule per guest customer id for a table whose rows need a customer (orders, customers).

    Events need none: a guest's events load as an anonymous visitor's (ingest.load_table_file)."""
    if table not in ("orders", "customers"):
        return []
    return [
        (f"customer_id = $guest_{index}", guest_reason(table, guest)) for index, guest in enumerate(guests)
    ]


# Customer ids exports write where a checkout had no customer account: zeros, -1, or words such as GUEST.
GUEST_LIKE = (
    "regexp_full_match(customer_id, '0+|-0*1') "
    "or lower(customer_id) in ('guest', 'anonymous', 'unknown', 'none', 'null', 'n/a', 'na', '-')"
)


def guest_like_loads(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """Return a line per customer id that reads as a guest checkout's (GUEST_LIKE) among the rows
    `check_rows` let load, with their count and the option that keeps such rows out of the customer marts.

    A shop whose export writes `0` for "no account" (Online Retail II's second file does) would otherwise
    get one customer who buys every day, ranked first by every model."""
    if table not in ("orders", "customers", "events"):
        return None
    query = (
        f"select customer_id, count(*) from _cvw_checked where _reason is null and ({GUEST_LIKE}) "
        "group by 1 order by 2 desc, 1"
    )
    found = con.execute(query).fetchall()
    if not found:
        return None
    keeps = "kept as an anonymous visitor's" if table == "events" else "rejected as guest checkouts, counted"
    return "\n".join(
        f"customer_id {guest!r} has {rows:,} {table if rows > 1 else table[:-1]}: it reads as no customer "
        f"(a guest checkout); if it is one, --guest-customer {_shell(guest)} keeps such rows out of the "
        f"customer marts ({keeps}; rows loaded stay loaded: try it with --dry-run first)"
        for guest, rows in found
    )


def _row_rules(table: str, guests: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Return the (condition, reason) rules that judge a row on its own values, in precedence order."""
    columns = RAW_TABLES[table]
    whole = [column for column in columns if column.sql_type in WHOLE_NUMBER_TYPES]

    def unparsed(column: Column) -> str:
        return f"{_source_column(column.name)} is not null and {quote(column.name)} is null"

    # rule by rule, each over every column it concerns (docs/data-contract.md's table, in its order)
    rules = [(f"{_source_column(c.name)} is null", f"missing {c.name}") for c in columns if c.required]
    rules += [(unparsed(c), f"unparsable date in {c.name}") for c in columns if c.sql_type == "TIMESTAMP"]
    for column in columns:
        if column.sql_type == "DOUBLE":
            rules.append((unparsed(column), f"non-numeric {column.name}"))
        elif column in whole:
            number = quote("num__" + column.name)
            rules.append(
                (
                    f"{_source_column(column.name)} is not null and {number} is null",
                    f"non-numeric {column.name}",
                )
            )
    for column in whole:
        number = quote("num__" + column.name)
        rules.append((f"{number} <> trunc({number})", f"{column.name} is not a whole number"))
    rules += [(unparsed(c), f"{c.name} is out of range") for c in whole]
    rules += VALUE_RULES.get(table, [])
    for column in columns:
        if column.sql_type == "TIMESTAMP":
            condition = future_condition(quote(column.name), quote("zoned__" + column.name))
            rules.append((condition, f"{column.name} in the future"))
    return rules + guest_rules(table, guests)


def check_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    loaded_at: datetime,
    allow_updates: bool = False,
    guests: tuple[str, ...] = (),
) -> None:
    """Create `_cvw_checked`: every staged row with its contract values and its reason (NULL = load it).

    With allow_updates, a row whose key is loaded already with other values is a newer version (a status
    change, a correction) and loads; staging keeps the latest load of each key. Otherwise it is rejected.
    A duplicate is a row equal to its key's current version (no `_replaced_at`): a row equal to a replaced
    version (a status changed back) differs from the current one, so it is a newer version in its turn.
    guests: the customer ids that stand for no customer (mapping's guest_customers): orders and customers
    with one are rejected as guest checkouts.
    """
    names = [column.name for column in RAW_TABLES[table]]
    same_key = " and ".join(f"known.{quote(k)} = checked.{quote(k)}" for k in KEYS[table])
    same_row = " and ".join(f"known.{quote(n)} is not distinct from checked.{quote(n)}" for n in names)
    known = f"from raw.{quote(table)} as known"
    rule, params = first_reason(_row_rules(table, guests), "rule")
    updated = (
        []
        if allow_updates
        else [
            (f"exists (select 1 {known} where {same_key})", "key already loaded with different values"),
        ]
    )
    later, later_params = first_reason(
        [
            ("_key_rank > 1", "duplicate key within the file"),
            (
                f"exists (select 1 {known} where known._replaced_at is null and {same_row})",
                "duplicate of a row already loaded",
            ),
            *updated,
            *REFERENCE_RULES.get(table, []),
        ],
        "later",
    )
    sql = CHECK_ROWS.format(
        rule=rule,
        later=later,
        columns=", ".join(quote(name) for name in names),
        keys=", ".join(quote(key) for key in KEYS[table]),
    )
    params |= (
        later_params | future_limits(loaded_at) | {f"guest_{i}": guest for i, guest in enumerate(guests)}
    )
    con.execute(sql, bound(sql, params))
