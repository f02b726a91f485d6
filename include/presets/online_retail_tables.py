"""What the loaded lines of an Online Retail II file become: one order per invoice (amount = Σ quantity ×
price; `C…` invoices are cancellations: status 'cancelled', their units stored as positive quantities, so
they are never read as returns), the lines, and the customers (country of the latest invoice, region
derived) and products (most frequent description, list_price = median price) not in the warehouse yet.

Which lines load is include.presets.online_retail_lines.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from include.mapping import bound

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


def insert(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> dict[str, int]:
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
