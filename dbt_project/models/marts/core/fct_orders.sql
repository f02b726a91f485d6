{#
    One row per order (completed and cancelled) with its value net of returns and discounts, for BI.
    Orders without lines are valued at their charged amount (margin at var gross_margin_rate), so the
    mart is complete for shops that deliver orders alone.

    A view of int_orders_valued, which values each order once: a daily run has nothing to copy here, and
    the warehouse holds the orders once, where a table rewrote every order of each customer with a new
    order (about 124,000 rows a day at 1M customers; docs/benchmarks.md). Its contract names and types
    the columns; a view enforces no constraint, so its data tests check what the table's not-null
    constraints did.
#}

{{ config(materialized='view') }}

with

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        order_date,
        status,
        is_cancelled,
        sales_channel,
        charged_amount,
        has_lines,
        cast(line_count as {{ dbt.type_bigint() }}) as line_count,
        items,
        returned_items,
        has_return,
        gross_amount,
        discount_amount,
        revenue,
        margin,
        cast(completed_order_number as {{ dbt.type_bigint() }}) as completed_order_number,
        coalesce(completed_order_number = 1, false) as is_first_order,
        cast(days_since_previous_order as {{ dbt.type_bigint() }}) as days_since_previous_order
    from {{ ref('int_orders_valued') }}
)

select * from final
