"""Preset for UCI Online Retail II (Chen 2019, CC BY 4.0): invoice lines → orders, lines, customers, products.

Each input row is one invoice line. A line is loaded as a row of raw.order_items, or rejected to
raw._rejects (table_name order_items) with the first reason that applies, in this order:

    missing invoice number | missing stock code | missing/unparsable invoice date
    missing/non-numeric quantity, quantity is not a whole number | missing/non-numeric price
    negative quantity on a non-cancelled invoice (stock adjustment)
    zero quantity | negative price (bad-debt adjustment) | invoice date in the future
    no customer id (guest checkout)                  -- Customer ID empty; the 2010-2011 copy writes 0
    invoice with more than one customer id
    duplicate of a line already loaded               -- same invoice, stock code, quantity, price and
                                                        occurrence: the files overlap 2010-12-01..09
    line of an invoice already loaded from another file

Loaded lines make one order per invoice (amount = Σ quantity × price; `C…` invoices are cancellations:
status 'cancelled', their units stored as positive quantities, so they are never read as returns), and
add the customers (country of the latest invoice, region derived) and products (most frequent
description, list_price = median price) not in the warehouse yet. A price of 0 is a free line and loads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from include.file_staging import stage_file
from include.ingest import (
    FileLoad,
    already_loaded,
    drop_staged,
    log_load,
    rows_read,
    sha256_of,
)
from include.mapping import ACCEPTS, NEEDS, bound, quote
from include.raw_rejects import write_rejects
from include.validation import first_reason, future_condition, future_limits
from include.value_casts import blank_is_null, date_format_params, has_zone, number_of, type_family, typed

NAME = "online-retail-ii"
FILES = ("online_retail_ii_2009-12_2010-12.parquet", "online_retail_2010-12_2011-12.parquet")
# role: (contract type, names of the column in the published copies)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "invoice": ("VARCHAR", ("Invoice", "InvoiceNo")),
    "stock_code": ("VARCHAR", ("StockCode",)),
    "description": ("VARCHAR", ("Description",)),
    "quantity": ("INTEGER", ("Quantity",)),
    "invoiced_at": ("TIMESTAMP", ("InvoiceDate",)),
    "price": ("DOUBLE", ("Price", "UnitPrice")),
    "customer": ("VARCHAR", ("Customer ID", "CustomerID")),
    "country": ("VARCHAR", ("Country",)),
}
DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M"]  # copies: ISO text, or the CSV's US
EUROPE = (
    "Austria",
    "Belgium",
    "Bulgaria",
    "Channel Islands",
    "Croatia",
    "Cyprus",
    "Czech Republic",
    "Denmark",
    "EIRE",
    "Estonia",
    "European Community",
    "Finland",
    "France",
    "Germany",
    "Greece",
    "Hungary",
    "Iceland",
    "Ireland",
    "Italy",
    "Latvia",
    "Liechtenstein",
    "Lithuania",
    "Luxembourg",
    "Malta",
    "Netherlands",
    "Norway",
    "Poland",
    "Portugal",
    "Romania",
    "Slovakia",
    "Slovenia",
    "Spain",
    "Sweden",
    "Switzerland",
)
UNKNOWN_COUNTRIES = ("Unspecified",)  # stored as NULL country and region

RULES = [  # (condition on _cvw_lines, reason), in precedence order
    ("src__invoice is null", "missing invoice number"),
    ("src__stock_code is null", "missing stock code"),
    ("src__invoiced_at is null", "missing invoice date"),
    ("invoiced_at is null", "unparsable invoice date"),
    ("src__quantity is null", "missing quantity"),
    ("num__quantity is null", "non-numeric quantity"),
    ("quantity is null", "quantity is not a whole number"),
    ("src__price is null", "missing price"),
    ("price is null", "non-numeric price"),
    ("not is_cancelled and quantity < 0", "negative quantity on a non-cancelled invoice (stock adjustment)"),
    ("quantity = 0", "zero quantity"),
    ("price < 0", "negative price (bad-debt adjustment)"),
    (future_condition("invoiced_at", "zoned__invoiced_at"), "invoice date in the future"),
    ("customer is null", "no customer id (guest checkout)"),
]
LATER_RULES = [  # on the lines that passed RULES, against the warehouse
    (
        "min(customer) over invoice_lines <> max(customer) over invoice_lines",
        "invoice with more than one customer id",
    ),
    (
        """exists (
        select 1 from loaded_lines as known
        where known.order_id = checked.invoice and known.product_id = checked.stock_code
            and known.quantity = checked.line_quantity and known.unit_price = checked.price
            and known._occurrence = checked._occurrence
    )""",
        "duplicate of a line already loaded",
    ),
    (
        "exists (select 1 from raw.orders as known where known.order_id = checked.invoice)",
        "line of an invoice already loaded from another file",
    ),
]

STAGE_LINES = """
create or replace temp table _cvw_lines as
with
delivered as (select row_number() over () as _row_number, {delivered} from _cvw_file),
cast_lines as (select *, {casts} from delivered),
lines as (
    select
        * replace (
            -- '13085.0' (a CSV copy of the float column) is the customer 13085; 0 stands for none
            nullif(
                case when try_cast(customer as double) = trunc(try_cast(customer as double))
                    then cast(try_cast(try_cast(customer as double) as bigint) as varchar) else customer end,
                '0'
            ) as customer,
            nullif(description, 'Missing_Description') as description
        ),
        starts_with(invoice, 'C') as is_cancelled,
        case when starts_with(invoice, 'C') then abs(quantity) else quantity end as line_quantity
    from cast_lines
)
select *, {rule} as _rule_reason from lines
"""

CHECK_LINES = """
create or replace temp table _cvw_checked as
with
loaded_lines as (
    select
        order_id, product_id, quantity, unit_price,
        row_number() over (partition by order_id, product_id, quantity, unit_price order by line_number)
            as _occurrence
    from raw.order_items
    where order_id in (select invoice from _cvw_lines)
),
valid as (
    select
        *,
        row_number() over (partition by invoice, stock_code, line_quantity, price order by _row_number)
            as _occurrence
    from _cvw_lines
    where _rule_reason is null
)
select checked.*, {rule} as _reason from valid as checked window invoice_lines as (partition by invoice)
union all by name
select *, null as _occurrence, _rule_reason as _reason from _cvw_lines where _rule_reason is not null
"""

INSERTS = {
    "order_items": """
        insert into raw.order_items by name
        select
            invoice as order_id,
            row_number() over (partition by invoice order by _row_number) as line_number,
            stock_code as product_id,
            line_quantity as quantity,
            price as unit_price,
            $file as _source_file,
            $loaded_at as _loaded_at
        from loaded
    """,
    "orders": """
        insert into raw.orders by name
        select
            invoice as order_id,
            any_value(customer) as customer_id,
            min(invoiced_at) as ordered_at,
            round(sum(line_quantity * price), 2) as amount,
            case when bool_or(is_cancelled) then 'cancelled' else 'completed' end as status,
            $file as _source_file,
            $loaded_at as _loaded_at
        from loaded
        group by invoice
    """,
    "customers": """
        insert into raw.customers by name
        with latest as (
            select customer, first(country order by invoiced_at desc, _row_number desc) as country
            from loaded
            where customer not in (select customer_id from raw.customers where customer_id is not null)
            group by customer
        )
        select
            customer as customer_id,
            case when not list_contains($unknown, country) then country end as country,
            case
                when list_contains($unknown, country) then null
                when country = 'United Kingdom' then country
                when list_contains($europe, country) then 'Europe'
                when country is not null then 'Rest of world'
            end as region,
            $file as _source_file,
            $loaded_at as _loaded_at
        from latest
    """,
    "products": """
        insert into raw.products by name
        with product_lines as (
            select
                stock_code,
                description,
                count(*) over (partition by stock_code, description) as description_lines,
                median(price) filter (where not is_cancelled and price > 0) over (partition by stock_code)
                    as median_price
            from loaded
            where stock_code not in (select product_id from raw.products where product_id is not null)
        )
        select
            stock_code as product_id,
            first(description order by description is null, description_lines desc, description)
                as product_name,
            round(any_value(median_price), 2) as list_price,
            $file as _source_file,
            $loaded_at as _loaded_at
        from product_lines
        group by stock_code
    """,
}


def default_files(directory: Path) -> list[Path]:
    """Return the two published files in the directory, oldest first (the second's overlap is rejected)."""
    return [Path(directory) / name for name in FILES]


def _columns(described: dict[str, str], file_name: str) -> dict[str, tuple[str, str]]:
    """Return {role: (file column, its type)}, or raise ValueError for a missing or wrongly typed column."""
    found = {}
    for role, (sql_type, names) in COLUMNS.items():
        column = next((name for name in names if name in described), None)
        if column is None:
            raise ValueError(
                f"{file_name} lacks the column {' or '.join(names)} of an Online Retail II file: give the "
                "preset the UCI Online Retail II files, or import your file with --table and a mapping."
            )
        if type_family(described[column]) not in ACCEPTS[sql_type]:
            raise ValueError(
                f"{file_name}: column {column!r} is {described[column]}, which cannot be the "
                f"{role.replace('_', ' ')} of an Online Retail II line: it must hold {NEEDS[sql_type]}."
            )
        found[role] = (column, described[column])
    return found


def _stage_lines(
    con: duckdb.DuckDBPyConnection, columns: dict[str, tuple[str, str]], loaded_at: datetime
) -> None:
    """Create `_cvw_lines`: each file row typed, flagged as a cancellation, with its first failing rule."""
    delivered, casts = [], []
    for role, (column, source_type) in columns.items():
        value = quote(column)
        if type_family(source_type) == "text":
            value = blank_is_null(value)
        delivered.append(f"{value} as src__{role}")
        casts.append(f"{typed(COLUMNS[role][0], 'src__' + role, source_type, len(DATE_FORMATS))} as {role}")
    casts.append(f"{number_of('src__quantity', columns['quantity'][1])} as num__quantity")
    invoiced = columns["invoiced_at"][1]
    casts.append(f"{has_zone('src__invoiced_at', invoiced, len(DATE_FORMATS))} as zoned__invoiced_at")
    rule, params = first_reason(RULES, "rule")
    sql = STAGE_LINES.format(delivered=", ".join(delivered), casts=", ".join(casts), rule=rule)
    params |= {**date_format_params(DATE_FORMATS), **future_limits(loaded_at)}
    con.execute(sql, bound(sql, params))


def _check_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Create `_cvw_checked`: the staged lines with their final reason (NULL = load the line)."""
    rule, params = first_reason(LATER_RULES, "later")
    sql = CHECK_LINES.format(rule=rule)
    con.execute(sql, bound(sql, params))


def _insert(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> dict[str, int]:
    """Append the loaded lines, their orders and the new customers and products; return rows per table."""
    params = {
        "file": path.name,
        "loaded_at": loaded_at,
        "unknown": list(UNKNOWN_COUNTRIES),
        "europe": list(EUROPE),
    }
    con.execute("create or replace temp view loaded as select * from _cvw_checked where _reason is null")
    added = {table: con.execute(sql, bound(sql, params)).fetchone()[0] for table, sql in INSERTS.items()}
    con.execute("drop view loaded")
    return added


def load_file(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> FileLoad:
    """Load one Online Retail II file: lines, orders, new customers and products; reject the other lines."""
    sha256 = sha256_of(path)
    if already_loaded(con, "order_items", sha256):
        return FileLoad(path.name, "order_items", sha256, 0, True)
    _stage_lines(con, _columns(stage_file(con, path), path.name), loaded_at)
    _check_lines(con)
    added = _insert(con, path, loaded_at)
    rejects = write_rejects(con, "_cvw_checked", "order_items", path, sha256, loaded_at)
    read = rows_read(con)
    con.execute("drop table _cvw_lines")
    drop_staged(con)
    lines = added.pop("order_items")
    rejected = sum(rejects.values())
    load = FileLoad(path.name, "order_items", sha256, lines, False, read, rejected, rejects, added)
    return log_load(con, load, loaded_at)
