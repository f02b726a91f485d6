{#
    One row per (customer_id, cutoff_date): every cutoff of int_cutoff_spine and every customer with a
    completed order strictly before it. Every feature reads only rows timestamped before the cutoff's
    midnight. Apart from customer_id, cutoff_date and is_scoring_date, every column is a model input.

    Incremental by cutoff (delete+insert on cutoff_date): a run builds the cutoffs the table lacks (a new
    month, the new scoring date) and every cutoff after the first day that data loaded since the last build
    touches (orders and their lines, events, and the first order of a customer whose profile was reloaded);
    the other cutoffs are kept, since a feature at a cutoff reads only data before it. The
    *_aggregated_to_cutoffs tables upstream rebuild the same cutoffs in the same run (macro
    feature_input_changes), but for the scoring date's order features: this model computes those itself (macro
    order_features_at_cutoffs, the query int_orders_aggregated_to_cutoffs runs for the other cutoffs), so a
    daily run writes the new scoring date's wide rows once. A pre-hook deletes the cutoffs the run rebuilds
    first, so one left without a row (its only buyer's order cancelled) keeps none (macro
    delete_cutoffs_to_rebuild). A post-hook drops cutoffs that left the spine (yesterday's scoring date) and
    records the watermark.
#}

{{
    config(
        materialized='incremental',
        unique_key='cutoff_date',
        pre_hook=["{{ delete_cutoffs_to_rebuild(feature_input_changes(), stale_cutoffs) }}"],
        post_hook=[
            "{{ delete_cutoffs_off_the_spine() }}",
            "{{ record_watermark('customer_features', feature_input_relations()) }}",
        ]
    )
}}

{%- set cutoffs_to_build = spine_cutoffs_to_build(feature_input_changes(), stale_cutoffs) %}
{%- set scoring_dates_to_build = split_scoring_date(cutoffs_to_build)[0] %}

with

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

-- the order features at the spine's cutoffs but the scoring date
order_features_at_other_cutoffs as (
    select * from {{ ref('int_orders_aggregated_to_cutoffs') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

-- and at the scoring date, computed here by the same query (macro order_features_at_cutoffs): a daily run
-- writes the scoring date's rows once, here, not first into int_orders_aggregated_to_cutoffs
order_features_at_scoring_date as (
    {{ order_features_at_cutoffs(scoring_dates_to_build, scoring_date=true) | indent(4) }}
),

order_features as (
    select * from order_features_at_other_cutoffs
    union all
    select * from order_features_at_scoring_date
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
        cutoff_at,
        is_scoring_date,
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
        cutoff_at,
        is_scoring_date,
        cutoff_month,
        case
            when cutoff_date <= peak_this_year then peak_this_year
            else cast({{ dbt.dateadd('year', 1, 'peak_this_year') }} as date)
        end as next_peak_date
    from calendar
),

-- a sign-up is history only once it happened before the cutoff
{%- set signed_up_at = 'case when customers.signed_up_at < calendar_peaks.cutoff_at then customers.signed_up_at end' %}

final as (
    select
        order_features.customer_id,
        order_features.cutoff_date,
        calendar_peaks.is_scoring_date,

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
        {{ tenure_days('customers.signed_up_at', 'order_features.first_order_at', 'calendar_peaks.cutoff_at') }}
            as tenure_days,
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
        order_features.order_days_lifetime,
        order_features.first_order_day_revenue,
        {{ days_between(signed_up_at, 'order_features.first_order_at') }}
            as days_signup_to_first_order,

        session_features.sessions_30d,
        session_features.sessions_90d,
        session_features.product_views_90d,
        session_features.add_to_carts_90d,
        session_features.cart_abandonment_rate_90d,
        session_features.view_to_purchase_rate_90d,
        session_features.days_since_last_visit,
        session_features.session_trend_30d,

        customers.region,
        customers.age_band,
        customers.acquisition_channel,

        calendar_peaks.cutoff_month,
        {{ days_between('order_features.cutoff_date', 'calendar_peaks.next_peak_date') }} as days_to_year_end_peak
    -- one pass over the order features (the population: a completed order before the cutoff); the other
    -- relations join to it, so the wide order features are read once, never held as a join's build side.
    -- The calendar is a left join: the order features hold the spine's cutoffs alone (their post-hook
    -- deletes the others, and a run reads only the cutoffs it builds), so an inner join keeps every row
    -- too, but on a run of one cutoff (the daily scoring date) DuckDB then took the order features for a
    -- twelfth of their rows and held them, the wide side, in the hash tables of the two joins below
    from order_features
    left join calendar_peaks
        on order_features.cutoff_date = calendar_peaks.cutoff_date
    left join customers
        on order_features.customer_id = customers.customer_id
    left join item_features
        on
            order_features.customer_id = item_features.customer_id
            and order_features.cutoff_date = item_features.cutoff_date
    left join session_features
        on
            order_features.customer_id = session_features.customer_id
            and order_features.cutoff_date = session_features.cutoff_date
    where order_features.orders_lifetime > 0
)

select * from final
