{#
    One row per customer and cutoff for every customer with any order (completed or cancelled) before
    the cutoff: order counts, revenue and order-timing features from orders placed strictly before
    the cutoff's midnight. Windows are the N days before the cutoff: cutoff_date - N <= order_date
    < cutoff_date. Amounts count completed orders only; cancellation_rate uses all orders. Unit counts
    (items_*, return_rate, avg_items_per_order) are null for a customer none of whose completed orders
    has lines (e.g. a shop that delivers orders alone): unknown, not zero.
#}

{%- set windows = [30, 90, 180, 365] %}

with

orders as (
    select * from {{ ref('int_orders_valued') }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
),

orders_before_cutoffs as (
    select
        orders.customer_id,
        cutoffs.cutoff_date,
        orders.ordered_at,
        orders.is_cancelled,
        orders.has_lines,
        -- 1 = the day before the cutoff; always >= 1 since ordered_at < cutoff_at
        {{ days_between('orders.order_date', 'cutoffs.cutoff_date') }} as days_before_cutoff,
        orders.items,
        orders.returned_items,
        orders.gross_amount,
        orders.discount_amount,
        orders.revenue,
        orders.margin,
        orders.sales_channel,
        orders.completed_order_number,
        orders.days_since_previous_order
    from cutoffs
    inner join orders
        on cutoffs.cutoff_at > orders.ordered_at
),

aggregated as (
    select
        customer_id,
        cutoff_date,
        count(*) as all_orders_lifetime,
        sum(case when is_cancelled then 1 else 0 end) as cancelled_orders_lifetime,
        sum(case when not is_cancelled then 1 else 0 end) as orders_lifetime,
        {%- for days in windows %}
        sum(case when not is_cancelled and days_before_cutoff <= {{ days }} then 1 else 0 end)
            as orders_{{ days }}d,
        {%- endfor %}
        sum(case when not is_cancelled then revenue else 0 end) as revenue_lifetime,
        {%- for days in windows %}
        sum(case when not is_cancelled and days_before_cutoff <= {{ days }} then revenue else 0 end)
            as revenue_{{ days }}d,
        {%- endfor %}
        sum(
            case when not is_cancelled and days_before_cutoff between 91 and 180 then revenue else 0 end
        ) as revenue_prior_90d,
        sum(case when not is_cancelled then margin else 0 end) as margin_lifetime,
        {%- for days in windows %}
        sum(case when not is_cancelled and days_before_cutoff <= {{ days }} then margin else 0 end)
            as margin_{{ days }}d,
        {%- endfor %}
        sum(case when not is_cancelled and has_lines then 1 else 0 end) as lined_orders_lifetime,
        sum(case when not is_cancelled then items else 0 end) as items_lifetime,
        {%- for days in windows %}
        sum(case when not is_cancelled and days_before_cutoff <= {{ days }} then items else 0 end)
            as items_{{ days }}d,
        {%- endfor %}
        sum(case when not is_cancelled then returned_items else 0 end) as returned_items_lifetime,
        sum(case when not is_cancelled then gross_amount else 0 end) as gross_amount_lifetime,
        sum(case when not is_cancelled then discount_amount else 0 end) as discount_amount_lifetime,
        min(case when not is_cancelled then ordered_at end) as first_order_at,
        max(case when not is_cancelled then ordered_at end) as last_order_at,
        min(case when not is_cancelled then days_before_cutoff end) as days_since_last_order,
        max(case when not is_cancelled then days_before_cutoff end) as days_since_first_order,
        sum(case when completed_order_number = 1 then revenue end) as first_order_value,
        max(case when completed_order_number = 1 then sales_channel end) as first_order_sales_channel,
        avg(cast(days_since_previous_order as {{ type_double() }})) as mean_days_between_orders,
        stddev_samp(cast(days_since_previous_order as {{ type_double() }})) as std_days_between_orders
    from orders_before_cutoffs
    group by
        customer_id,
        cutoff_date
),

final as (
    select
        customer_id,
        cutoff_date,
        cast(all_orders_lifetime as {{ dbt.type_bigint() }}) as all_orders_lifetime,
        cast(cancelled_orders_lifetime as {{ dbt.type_bigint() }}) as cancelled_orders_lifetime,
        cast(orders_lifetime as {{ dbt.type_bigint() }}) as orders_lifetime,
        {%- for days in windows %}
        cast(orders_{{ days }}d as {{ dbt.type_bigint() }}) as orders_{{ days }}d,
        {%- endfor %}
        revenue_lifetime,
        {%- for days in windows %}
        revenue_{{ days }}d,
        {%- endfor %}
        revenue_prior_90d,
        {{ symmetric_change('revenue_90d', 'revenue_prior_90d') }} as revenue_trend_90d,
        margin_lifetime,
        {%- for days in windows %}
        margin_{{ days }}d,
        {%- endfor %}
        case when lined_orders_lifetime > 0 then cast(items_lifetime as {{ dbt.type_bigint() }}) end
            as items_lifetime,
        {%- for days in windows %}
        case when lined_orders_lifetime > 0 then cast(items_{{ days }}d as {{ dbt.type_bigint() }}) end
            as items_{{ days }}d,
        {%- endfor %}
        case when lined_orders_lifetime > 0 then cast(returned_items_lifetime as {{ dbt.type_bigint() }}) end
            as returned_items_lifetime,
        {{ safe_divide('revenue_lifetime', 'orders_lifetime') }} as avg_order_value,
        {%- for days in windows %}
        {{ safe_divide('revenue_' ~ days ~ 'd', 'orders_' ~ days ~ 'd') }} as avg_order_value_{{ days }}d,
        {%- endfor %}
        {{ safe_divide('items_lifetime', 'lined_orders_lifetime') }} as avg_items_per_order,
        {{ symmetric_change('orders_90d', 'orders_180d - orders_90d') }} as orders_trend_90d,
        {{ safe_divide('discount_amount_lifetime', 'gross_amount_lifetime') }} as discount_share,
        {{ safe_divide('cancelled_orders_lifetime', 'all_orders_lifetime') }} as cancellation_rate,
        {{ safe_divide('returned_items_lifetime', 'case when lined_orders_lifetime > 0 then items_lifetime end') }}
            as return_rate,
        first_order_at,
        last_order_at,
        days_since_first_order,
        days_since_last_order,
        first_order_value,
        first_order_sales_channel,
        mean_days_between_orders,
        std_days_between_orders,
        {{ safe_divide('days_since_last_order', 'mean_days_between_orders') }} as last_gap_to_mean_gap
    from aggregated
)

select * from final
