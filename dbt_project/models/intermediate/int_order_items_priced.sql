{#
    One row per order line, priced: revenue net of returns and line discount, and margin from the
    product's unit_cost, or revenue x var gross_margin_rate when the cost is unknown. A returned unit
    gives back its share of the line discount, so a fully returned line is worth 0, never less:
    revenue = kept units x unit_price - discount x kept units / units, and 0 when the discount is larger
    (never negative: a negative revenue stopped training, whose Tweedie booster needs labels >= 0).

    A line whose order has not been loaded yet is kept with a null customer_id, ordered_at and
    is_cancelled (no mart counts it) and is completed when its order arrives.

    Incremental: a run prices the lines loaded since the last run (macro loaded_through) and re-prices
    the lines it already holds whose order or product was loaded since (a new order for a waiting line,
    a status or a cost change), then replaces them (delete+insert on order_id, line_number).
    `_loaded_at` is the latest load of the line, its order or its product. Changing var
    gross_margin_rate needs `--full-refresh` (the pre-hook stops an incremental run that would mix rates).
#}

{{
    config(
        materialized='incremental',
        unique_key=['order_id', 'line_number'],
        pre_hook=["{{ require_unchanged_margin_rate('unit_cost is null') }}"]
    )
}}

with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

{#- the columns of a line to price, read from staging or from the lines already priced -#}
{%- set line_columns = [
    'order_id', 'line_number', 'product_id', 'quantity', 'returned_quantity', 'unit_price', 'discount_amount',
    '_loaded_at',
] %}

{% if is_incremental() -%}
{%- set loaded_from = loaded_through(this) %}
-- the relations, not the CTEs order_items and orders: DuckDB copies a CTE read more than once in full (every
-- line, every order) before a filter
new_lines as (
    select
        {{ line_columns | join(',\n        ') }}
    from {{ ref('stg_shop__order_items') }}
    where _loaded_at > {{ loaded_from }}
),

reloaded_orders as (
    select order_id
    from {{ ref('stg_shop__orders') }}
    where _loaded_at > {{ loaded_from }}
),

reloaded_products as (
    select product_id
    from products
    where _loaded_at > {{ loaded_from }}
),

-- lines already priced whose order or product changed, and that were not themselves reloaded: the few lines
-- of a changed order or product first, then those not reloaded (a join of every line priced to the new ones
-- first took a fifth of a day's run of this model at 1M customers)
lines_to_reprice as (
    select
        priced.{{ line_columns | join(',\n        priced.') }}
    from {{ this }} as priced
    where
        (
            priced.order_id in (select reloaded_orders.order_id from reloaded_orders)
            or priced.product_id in (select reloaded_products.product_id from reloaded_products)
        )
        and not exists (
            select 1 from new_lines
            where new_lines.order_id = priced.order_id and new_lines.line_number = priced.line_number
        )
),

lines as (
    select * from new_lines
    union all
    select * from lines_to_reprice
),

-- the orders of the lines to price: DuckDB misjudged the lines as millions and hashed every order to join
-- them (half of a day's run of this model at 1M customers)
orders_of_lines as (
    select * from {{ ref('stg_shop__orders') }}
    where order_id in (select lines.order_id from lines)
),
{%- else %}
lines as (
    select
        {{ line_columns | join(',\n        ') }}
    from order_items
),

orders_of_lines as (
    select * from orders
),
{%- endif %}

joined as (
    select
        lines.order_id,
        lines.line_number,
        orders.customer_id,
        orders.ordered_at,
        orders.status = 'cancelled' as is_cancelled,
        lines.product_id,
        products.category,
        lines.quantity,
        lines.returned_quantity,
        lines.quantity - lines.returned_quantity as kept_quantity,
        lines.unit_price,
        products.unit_cost,
        lines.discount_amount,
        -- the part of the line discount that stays with the kept units
        case
            when lines.quantity = 0 then 0
            else lines.discount_amount * (lines.quantity - lines.returned_quantity) / lines.quantity
        end as kept_discount_amount,
        -- the latest load of the line, its order or its product
        greatest(lines._loaded_at, orders._loaded_at, products._loaded_at) as _loaded_at
    from lines
    left join orders_of_lines as orders
        on lines.order_id = orders.order_id
    left join products
        on lines.product_id = products.product_id
),

priced as (
    select
        order_id,
        line_number,
        customer_id,
        ordered_at,
        is_cancelled,
        product_id,
        category,
        quantity,
        returned_quantity,
        kept_quantity,
        unit_price,
        unit_cost,
        unit_cost is not null as has_unit_cost,
        quantity * unit_price as gross_amount,
        kept_quantity * unit_price as kept_gross_amount,
        discount_amount,
        kept_discount_amount,
        -- a discount above the line's amount makes the goods free, not a payment to the customer
        greatest(kept_quantity * unit_price - kept_discount_amount, 0) as revenue,
        case
            when unit_cost is not null
                then kept_quantity * (unit_price - unit_cost) - kept_discount_amount
            else greatest(kept_quantity * unit_price - kept_discount_amount, 0) * {{ gross_margin_rate() }}
        end as margin,
        _loaded_at
    from joined
),

final as (
    select * from priced
)

select * from final
