"""Which lines of an Online Retail II file load, and the reason each other line is rejected.

A line is loaded as a row of raw.order_items, or rejected to raw._rejects (table_name order_items) with the
first reason that applies, in this order:

    missing invoice number | missing stock code | missing/unparsable invoice date
    missing/non-numeric quantity, quantity is not a whole number | missing/non-numeric price
    negative quantity on a non-cancelled invoice (stock adjustment)
    zero quantity | negative price (bad-debt adjustment) | invoice date in the future
    no customer id (guest checkout)                  -- Customer ID empty; the 2010-2011 copy writes 0
    invoice with more than one customer id
    duplicate of a line already loaded               -- same invoice, stock code, quantity, price and
                                                        occurrence: the files overlap 2010-12-01..09
    line of an invoice already loaded from another file

A price of 0 is a free line and loads. What a loaded line becomes is include.presets.online_retail_tables.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from include.mapping import ACCEPTS, NEEDS, bound, quote
from include.validation import first_reason, future_condition, future_limits
from include.value_casts import blank_is_null, date_format_params, has_zone, number_of, type_family, typed

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


def columns(described: dict[str, str], file_name: str) -> dict[str, tuple[str, str]]:
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


def stage_lines(
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


def check_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Create `_cvw_checked`: the staged lines with their final reason (NULL = load the line)."""
    rule, params = first_reason(LATER_RULES, "later")
    sql = CHECK_LINES.format(rule=rule)
    con.execute(sql, bound(sql, params))
