{#
    One row per (customer_id, cutoff_date): every cutoff of int_cutoff_spine and every customer with a
    completed order strictly before it. Every feature reads only rows timestamped before the cutoff's
    midnight. Apart from customer_id, cutoff_date and is_scoring_date, every column is a model input.

    Incremental by cutoff (delete+insert on cutoff_date): a run builds the cutoffs the table lacks (a new
    month, the new scoring date) and every cutoff after the first day that data loaded since the last
    build touches (orders and their lines, events, and the first order of a customer whose profile was
    reloaded); the other cutoffs are kept, since a feature at a cutoff reads only data before it. The
    cutoff filter is a literal, so the warehouse pushes it into the joins of the intermediate views. A
    post-hook drops cutoffs that left the spine (yesterday's scoring date) and records the watermark.
#}

{{
    config(
        materialized='incremental',
        unique_key='cutoff_date',
        post_hook=[
            "delete from {{ this }} where cutoff_date not in (select cutoff_date from {{ ref('int_cutoff_spine') }})",
            "{{ record_watermark('customer_features', [
                ref('int_orders_valued'), ref('int_events_sessionized'), ref('stg_shop__customers')
            ]) }}",
        ]
    )
}}

{#- a profile reload touches the customer's first order: it can change tenure and days_signup_to_first_order -#}
{%- set reloaded_profiles_first_orders %}
    (
        select
            orders.order_date,
            customers._loaded_at
        from {{ ref('int_orders_valued') }} as orders
        inner join {{ ref('stg_shop__customers') }} as customers
            on orders.customer_id = customers.customer_id
    )
{%- endset %}
{%- set cutoffs_to_build = spine_cutoffs_to_build([
    (ref('int_orders_valued'), 'order_date'),
    (ref('int_events_sessionized'), 'activity_date'),
    (reloaded_profiles_first_orders, 'order_date'),
], stale_cutoffs) %}

with

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

order_features as (
    select * from {{ ref('int_orders_aggregated_to_cutoffs') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

item_features as (
    select * from {{ ref('int_order_items_aggregated_to_cutoffs') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

session_features as (
    select * from {{ ref('int_sessions_aggregated_to_cutoffs') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

calendar as (
    select
        cutoff_date,
        cast(extract(month from cutoff_date) as integer) as cutoff_month,
        -- 15 November of the cutoff's year: the start of the Black Friday to Christmas peak
        cast(
            {{ dbt.dateadd('day', 14, dbt.dateadd('month', 10, dbt.date_trunc('year', 'cutoff_date'))) }}
            as date
        ) as peak_this_year
    from cutoffs
),

calendar_peaks as (
    select
        cutoff_date,
        cutoff_month,
        case
            when cutoff_date <= peak_this_year then peak_this_year
            else cast({{ dbt.dateadd('year', 1, 'peak_this_year') }} as date)
        end as next_peak_date
    from calendar
),

population as (
    select
        order_features.customer_id,
        cutoffs.cutoff_date,
        cutoffs.cutoff_at,
        cutoffs.is_scoring_date
    from cutoffs
    inner join order_features
        on cutoffs.cutoff_date = order_features.cutoff_date
    where order_features.orders_lifetime > 0
),

profiles as (
    select
        population.customer_id,
        population.cutoff_date,
        customers.region,
        customers.age_band,
        customers.acquisition_channel,
        -- a sign-up is history only once it happened before the cutoff
        case
            when customers.signed_up_at < population.cutoff_at then customers.signed_up_at
        end as signed_up_at
    from population
    left join customers
        on population.customer_id = customers.customer_id
),

final as (
    select
        population.customer_id,
        population.cutoff_date,
        population.is_scoring_date,

        order_features.orders_30d,
        order_features.orders_90d,
        order_features.orders_180d,
        order_features.orders_365d,
        order_features.orders_lifetime,
        order_features.revenue_30d,
        order_features.revenue_90d,
        order_features.revenue_180d,
        order_features.revenue_365d,
        order_features.revenue_lifetime,
        order_features.margin_30d,
        order_features.margin_90d,
        order_features.margin_180d,
        order_features.margin_365d,
        order_features.margin_lifetime,
        order_features.items_30d,
        order_features.items_90d,
        order_features.items_180d,
        order_features.items_365d,
        order_features.items_lifetime,
        order_features.avg_order_value_30d,
        order_features.avg_order_value_90d,
        order_features.avg_order_value_180d,
        order_features.avg_order_value_365d,
        order_features.avg_order_value,
        {{ days_between(
            'case when profiles.signed_up_at < order_features.first_order_at'
            ~ ' then profiles.signed_up_at else order_features.first_order_at end',
            'population.cutoff_at'
        ) }} as tenure_days,
        order_features.days_since_first_order,
        order_features.days_since_last_order,
        order_features.mean_days_between_orders,
        order_features.std_days_between_orders,
        order_features.last_gap_to_mean_gap,
        order_features.revenue_trend_90d,
        order_features.orders_trend_90d,
        order_features.avg_items_per_order,
        item_features.distinct_products,
        item_features.distinct_categories,
        item_features.top_category_share,
        order_features.discount_share,
        order_features.cancellation_rate,
        order_features.return_rate,
        order_features.first_order_sales_channel,
        order_features.first_order_value,
        {{ days_between('profiles.signed_up_at', 'order_features.first_order_at') }}
            as days_signup_to_first_order,

        session_features.sessions_30d,
        session_features.sessions_90d,
        session_features.product_views_90d,
        session_features.add_to_carts_90d,
        session_features.cart_abandonment_rate_90d,
        session_features.view_to_purchase_rate_90d,
        session_features.days_since_last_visit,
        session_features.session_trend_30d,

        profiles.region,
        profiles.age_band,
        profiles.acquisition_channel,

        calendar_peaks.cutoff_month,
        {{ days_between('population.cutoff_date', 'calendar_peaks.next_peak_date') }} as days_to_year_end_peak
    from population
    inner join order_features
        on
            population.customer_id = order_features.customer_id
            and population.cutoff_date = order_features.cutoff_date
    inner join calendar_peaks
        on population.cutoff_date = calendar_peaks.cutoff_date
    left join profiles
        on
            population.customer_id = profiles.customer_id
            and population.cutoff_date = profiles.cutoff_date
    left join item_features
        on
            population.customer_id = item_features.customer_id
            and population.cutoff_date = item_features.cutoff_date
    left join session_features
        on
            population.customer_id = session_features.customer_id
            and population.cutoff_date = session_features.cutoff_date
)

select * from final
