{#
    One row per (customer_id, cutoff_date, horizon_days): every customer_features row at a cutoff whose
    whole horizon window has been observed (cutoff_date + horizon_days <= the as-of date), for each of
    var label_horizons. The horizon window is cutoff_date <= ordered_at < cutoff_date + horizon_days;
    only completed orders count.
#}

with

features as (
    select * from {{ ref('customer_features') }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
),

orders as (
    select * from {{ ref('int_orders_valued') }}
),

horizons as (
    {%- for horizon_days in var('label_horizons') %}
    select {{ horizon_days | int }} as horizon_days
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

label_windows as (
    select
        features.customer_id,
        features.cutoff_date,
        horizons.horizon_days,
        cutoffs.cutoff_at,
        {{ dbt.dateadd('day', 'horizons.horizon_days', 'cutoffs.cutoff_at') }} as horizon_end_at,
        cutoffs.data_end_date
    from features
    inner join cutoffs
        on features.cutoff_date = cutoffs.cutoff_date
    cross join horizons
),

complete_windows as (
    select
        customer_id,
        cutoff_date,
        horizon_days,
        cutoff_at,
        horizon_end_at,
        cast(horizon_end_at as date) as horizon_end_date
    from label_windows
    where cast(horizon_end_at as date) <= data_end_date
),

completed_orders as (
    select
        customer_id,
        order_id,
        ordered_at,
        revenue,
        margin
    from orders
    where not is_cancelled
),

window_orders as (
    select
        complete_windows.customer_id,
        complete_windows.cutoff_date,
        complete_windows.horizon_days,
        complete_windows.horizon_end_date,
        count(completed_orders.order_id) as orders,
        coalesce(sum(completed_orders.revenue), 0) as revenue,
        coalesce(sum(completed_orders.margin), 0) as margin
    from complete_windows
    left join completed_orders
        on
            complete_windows.customer_id = completed_orders.customer_id
            and completed_orders.ordered_at >= complete_windows.cutoff_at
            and completed_orders.ordered_at < complete_windows.horizon_end_at
    group by
        complete_windows.customer_id,
        complete_windows.cutoff_date,
        complete_windows.horizon_days,
        complete_windows.horizon_end_date
),

final as (
    select
        customer_id,
        cutoff_date,
        horizon_days,
        horizon_end_date,
        orders,
        revenue,
        margin,
        orders = 0 as is_churned
    from window_orders
)

select * from final
