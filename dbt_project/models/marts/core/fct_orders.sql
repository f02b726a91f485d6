{#
    One row per order (completed and cancelled) with its value net of returns and discounts, for BI.
    Orders without lines are valued at their charged amount (margin at var gross_margin_rate), so the
    mart is complete for shops that deliver orders alone.
#}

with

orders as (
    select * from {{ ref('int_orders_valued') }}
),

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
    from orders
)

select * from final
