{#
    What happened after each past scoring date: one row per (as_of_date, customer_id, horizon_days) of
    scores.customer_scores whose horizon window is complete (as_of_date + horizon_days <= the as-of date of
    the marts), with the customer's completed orders, revenue and margin in it and is_churned, by the same
    macro as customer_labels (window_outcomes), and the date of the first of those orders. customer_labels
    holds only the spine's cutoffs (month starts and today's date); a scoring date is usually neither once a
    day has passed, and its backtest (ml.monitor) reads this view instead.

    A view: nothing is computed at build time, and a query for one date (the monitor's) reads that date's
    scores only. Before the first scoring run the score table does not exist: the view is then empty, with
    its contract's columns (macros source_exists and contract_nulls), and the next build (the transform
    of the next day) points it at the scores.
#}

{{ config(materialized='view') }}

{%- if source_exists('scores', 'customer_scores') %}

with

scored as (
    -- one model scores a date: its customers and horizon
    select distinct
        as_of_date,
        customer_id,
        horizon_days
    from {{ source('scores', 'customer_scores') }}
),

marts_end as (
    select max(data_end_date) as data_end_date
    from {{ ref('int_cutoff_spine') }}
),

orders as (
    select * from {{ ref('int_orders_valued') }}
),

windows as (
    select
        scored.customer_id,
        scored.as_of_date as cutoff_date,
        scored.horizon_days,
        cast(scored.as_of_date as {{ dbt.type_timestamp() }}) as cutoff_at,
        {{ dbt.dateadd('day', 'scored.horizon_days', 'cast(scored.as_of_date as ' ~ dbt.type_timestamp() ~ ')') }}
            as horizon_end_at,
        marts_end.data_end_date
    from scored
    cross join marts_end
),

{{ window_outcomes('windows', 'orders') }},

final as (
    select
        window_outcomes.cutoff_date as as_of_date,
        window_outcomes.customer_id,
        window_outcomes.horizon_days,
        window_outcomes.horizon_end_date,
        window_outcomes.orders,
        window_outcomes.revenue,
        window_outcomes.margin,
        window_outcomes.is_churned,
        window_outcomes.first_order_date
    from window_outcomes
)

select * from final

{%- else %}

{{ empty_contract_result() }}

{%- endif %}
