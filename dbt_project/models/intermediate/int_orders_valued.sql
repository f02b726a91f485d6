{#
    One row per order (completed and cancelled), valued from its lines: revenue and margin net of
    returns and discounts. The order's discount_amount is its whole discount, line discounts included
    (as in `amount` = lines - discounts), so only the part not already on the lines is subtracted:
    greatest(order discount - line discounts, 0), times the kept share of the gross amount (returned
    goods give their discount back). That discount lowers the margin as it would if it had been granted
    on the lines in proportion to their amounts: by all of a line's share where its unit cost is known,
    by var gross_margin_rate of it where margin is that share of revenue. An order without lines is
    valued at its charged amount. Completed
    orders also get their sequence number and the days since the customer's previous completed order.

    Incremental by customer (delete+insert on customer_id): a run revalues every order of the customers
    with an order loaded, or a line priced, since the last run (macro loaded_through), and of the former
    customers of orders reloaded since under another customer, since sequence numbers and gaps run over
    a customer's orders. A post-hook deletes the rows of orders that changed customer.
#}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        pre_hook=["{{ require_unchanged_margin_rate('not has_lines') }}"],
        post_hook=["{{ delete_orders_of_former_customers(ref('stg_shop__orders')) }}"]
    )
}}

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('int_order_items_priced') }}
),

{% if is_incremental() -%}
{%- set loaded_from = loaded_through(this) %}
-- the relations, not the CTEs orders and order_items: DuckDB copies a CTE read more than once in full
-- (every order and line) before a filter
changed_customers as (
    select customer_id
    from {{ ref('stg_shop__orders') }}
    where _loaded_at > {{ loaded_from }}
    union
    select customer_id
    from {{ ref('int_order_items_priced') }}
    where _loaded_at > {{ loaded_from }} and customer_id is not null
    union
    select customer_id
    from {{ replaced_order_customers(loaded_from) }} as replaced
),

orders_to_value as (
    select orders.*
    from orders
    inner join changed_customers
        on orders.customer_id = changed_customers.customer_id
),

lines_to_value as (
    select order_items.*
    from order_items
    inner join changed_customers
        on order_items.customer_id = changed_customers.customer_id
),
{%- else %}
orders_to_value as (
    select * from orders
),

lines_to_value as (
    select * from order_items
),
{%- endif %}

-- amounts summed exactly (macro exact_sum): a float sum's last bits follow the order DuckDB's threads add
-- the lines in, and two builds of the same lines gave one order 202.95999999999998 and 202.96
order_lines as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as items,
        sum(returned_quantity) as returned_items,
        {{ exact_sum('gross_amount') }} as gross_amount,
        {{ exact_sum('kept_gross_amount') }} as kept_gross_amount,
        -- the kept gross amount weighted by what a unit of discount takes off each line's margin: all of it
        -- where the unit cost is known, var gross_margin_rate of it where margin is a share of revenue
        {{ exact_sum(
            'case when unit_cost is not null then kept_gross_amount'
            ~ ' else kept_gross_amount * ' ~ gross_margin_rate() ~ ' end'
        ) }} as margin_kept_gross_amount,
        {{ exact_sum('discount_amount') }} as line_discount_amount,
        {{ exact_sum('revenue') }} as line_revenue,
        {{ exact_sum('margin') }} as line_margin,
        max(_loaded_at) as _loaded_at
    from lines_to_value
    group by order_id
),

order_discounts as (
    select
        orders.order_id,
        coalesce(order_lines.line_discount_amount, 0) as line_discount_amount,
        -- the whole-order discount not already granted on the lines, less the share of returned goods
        greatest(
            orders.order_discount_amount - coalesce(order_lines.line_discount_amount, 0),
            0
        ) as unallocated_discount_amount,
        greatest(
            orders.order_discount_amount - coalesce(order_lines.line_discount_amount, 0),
            0
        ) * coalesce({{ safe_divide('order_lines.kept_gross_amount', 'order_lines.gross_amount') }}, 0)
            as kept_unallocated_discount_amount,
        -- what that discount takes off the margin: as if granted on the lines in proportion to their amounts
        greatest(
            orders.order_discount_amount - coalesce(order_lines.line_discount_amount, 0),
            0
        ) * coalesce({{ safe_divide('order_lines.margin_kept_gross_amount', 'order_lines.gross_amount') }}, 0)
            as unallocated_discount_margin_amount
    from orders_to_value as orders
    left join order_lines
        on orders.order_id = order_lines.order_id
),

valued as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        cast(orders.ordered_at as date) as order_date,
        orders.status,
        orders.status = 'cancelled' as is_cancelled,
        orders.sales_channel,
        orders.charged_amount,
        order_lines.order_id is not null as has_lines,
        coalesce(order_lines.line_count, 0) as line_count,
        cast(coalesce(order_lines.items, 0) as {{ dbt.type_bigint() }}) as items,
        cast(coalesce(order_lines.returned_items, 0) as {{ dbt.type_bigint() }}) as returned_items,
        coalesce(order_lines.returned_items, 0) > 0 as has_return,
        coalesce(
            order_lines.gross_amount,
            orders.charged_amount + orders.order_discount_amount
        ) as gross_amount,
        order_discounts.line_discount_amount + order_discounts.unallocated_discount_amount as discount_amount,
        -- an order discount above its lines' revenue makes the order free, never worth less than 0
        case
            when order_lines.order_id is null then orders.charged_amount
            else greatest(order_lines.line_revenue - order_discounts.kept_unallocated_discount_amount, 0)
        end as revenue,
        coalesce(
            order_lines.line_margin - order_discounts.unallocated_discount_margin_amount,
            orders.charged_amount * {{ gross_margin_rate() }}
        ) as margin,
        -- the latest load of the order, its lines or their products
        greatest(orders._loaded_at, order_lines._loaded_at) as _loaded_at
    from orders_to_value as orders
    inner join order_discounts
        on orders.order_id = order_discounts.order_id
    left join order_lines
        on orders.order_id = order_lines.order_id
),

completed_sequence as (
    select
        order_id,
        row_number() over (
            partition by customer_id
            order by ordered_at, order_id
        ) as completed_order_number,
        {{ days_between(
            'lag(order_date) over (partition by customer_id order by ordered_at, order_id)',
            'order_date'
        ) }} as days_since_previous_order
    from valued
    where not is_cancelled
),

final as (
    select
        valued.order_id,
        valued.customer_id,
        valued.ordered_at,
        valued.order_date,
        valued.status,
        valued.is_cancelled,
        valued.sales_channel,
        valued.charged_amount,
        valued.has_lines,
        valued.line_count,
        valued.items,
        valued.returned_items,
        valued.has_return,
        valued.gross_amount,
        valued.discount_amount,
        {{ safe_divide('valued.discount_amount', 'valued.gross_amount') }} as discount_share,
        valued.revenue,
        valued.margin,
        completed_sequence.completed_order_number,
        completed_sequence.days_since_previous_order,
        valued._loaded_at
    from valued
    left join completed_sequence
        on valued.order_id = completed_sequence.order_id
)

select * from final
