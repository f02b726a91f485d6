{#
    One row per order (completed and cancelled) with the customer's running totals through it, in the
    order the orders were placed (ordered_at, then order_id): what the customer's history holds just
    after the order. Each row is the customer's history from its ordered_at up to the next order's
    (next_ordered_at), so the history before any point in time is one row, found with
    `ordered_at < t and t <= next_ordered_at`: the marts over the cutoff spine look a customer's
    history up at each cutoff instead of re-aggregating every order once per cutoff. Of several orders
    placed at the same instant only the last one holds a span (the others end where they start).

    Amounts, items and gaps count completed orders only; all_orders and cancelled_orders count both.
    The gap sums hold days_since_previous_order (completed orders after the first), so the mean and
    the sample standard deviation of the gaps follow from them exactly. order_days counts the days with
    a completed order, and first_order_day_revenue sums every completed order of the first such day:
    BG/NBD and Gamma-Gamma count repeat purchases per day, as lifetimes does (ml.btyd).

    Incremental by customer (delete+insert on customer_id), like int_orders_valued: a run recomputes
    every order of the customers with an order valued since the last run, or with an order reloaded
    since under another customer; a post-hook deletes the rows of orders that changed customer.
#}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        post_hook=["{{ delete_orders_of_former_customers(ref('int_orders_valued')) }}"]
    )
}}

{%- set loaded_after = loaded_through(this) if is_incremental() else none %}

with

-- the orders of the customers to rebuild
orders_to_total as (
    {{ orders_of_changed_customers(ref('int_orders_valued'), loaded_after) }}
),

completed_values as (
    select
        order_id,
        customer_id,
        ordered_at,
        is_cancelled,
        completed_order_number,
        sales_channel,
        case when is_cancelled then 0 else 1 end as completed_order,
        case when is_cancelled then 0 else revenue end as completed_revenue,
        case when is_cancelled then 0 else margin end as completed_margin,
        case when not is_cancelled and has_lines then 1 else 0 end as lined_order,
        case when is_cancelled then 0 else items end as completed_items,
        case when is_cancelled then 0 else returned_items end as completed_returned_items,
        case when is_cancelled then 0 else gross_amount end as completed_gross_amount,
        case when is_cancelled then 0 else discount_amount end as completed_discount_amount,
        case when not is_cancelled then ordered_at end as completed_ordered_at,
        -- a completed order on a day without an earlier completed order of the customer
        case when completed_order_number = 1 or days_since_previous_order > 0 then 1 else 0 end
            as new_order_day,
        -- completed revenue of the customer's first day with a completed order (every order of that day)
        case
            when
                not is_cancelled
                and order_date = min(case when not is_cancelled then order_date end) over (
                    partition by customer_id
                )
                then revenue
            else 0
        end as first_order_day_revenue,
        days_since_previous_order,
        _loaded_at
    from orders_to_total
),

running as (
    select
        order_id,
        customer_id,
        ordered_at,
        coalesce(
            lead(ordered_at) over customer_orders,
            cast('9999-12-31' as {{ dbt.type_timestamp() }})
        ) as next_ordered_at,
        count(*) over customer_orders as all_orders,
        sum(case when is_cancelled then 1 else 0 end) over customer_orders as cancelled_orders,
        sum(completed_order) over customer_orders as orders,
        sum(completed_revenue) over customer_orders as revenue,
        sum(completed_margin) over customer_orders as margin,
        sum(lined_order) over customer_orders as lined_orders,
        sum(completed_items) over customer_orders as items,
        sum(completed_returned_items) over customer_orders as returned_items,
        sum(completed_gross_amount) over customer_orders as gross_amount,
        sum(completed_discount_amount) over customer_orders as discount_amount,
        min(completed_ordered_at) over customer_orders as first_order_at,
        max(completed_ordered_at) over customer_orders as last_order_at,
        sum(case when completed_order_number = 1 then completed_revenue end) over customer_orders
            as first_order_value,
        max(case when completed_order_number = 1 then sales_channel end) over customer_orders
            as first_order_sales_channel,
        sum(new_order_day) over customer_orders as order_days,
        sum(first_order_day_revenue) over customer_orders as first_order_day_revenue,
        count(days_since_previous_order) over customer_orders as gaps,
        sum(days_since_previous_order) over customer_orders as gap_days,
        sum(days_since_previous_order * days_since_previous_order) over customer_orders as gap_days_squared,
        _loaded_at
    from completed_values
    window customer_orders as (
        partition by customer_id
        order by ordered_at, order_id
        rows between unbounded preceding and current row
    )
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        next_ordered_at,
        cast(all_orders as {{ dbt.type_bigint() }}) as all_orders,
        cast(cancelled_orders as {{ dbt.type_bigint() }}) as cancelled_orders,
        cast(orders as {{ dbt.type_bigint() }}) as orders,
        revenue,
        margin,
        cast(lined_orders as {{ dbt.type_bigint() }}) as lined_orders,
        cast(items as {{ dbt.type_bigint() }}) as items,
        cast(returned_items as {{ dbt.type_bigint() }}) as returned_items,
        gross_amount,
        discount_amount,
        first_order_at,
        last_order_at,
        first_order_value,
        first_order_sales_channel,
        cast(order_days as {{ dbt.type_bigint() }}) as order_days,
        first_order_day_revenue,
        cast(gaps as {{ dbt.type_bigint() }}) as gaps,
        cast(gap_days as {{ dbt.type_bigint() }}) as gap_days,
        cast(gap_days_squared as {{ dbt.type_bigint() }}) as gap_days_squared,
        _loaded_at
    from running
)

select * from final
