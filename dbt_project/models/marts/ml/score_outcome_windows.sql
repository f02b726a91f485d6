{#
    One row per past scoring window of scores.customer_scores: each (as_of_date, horizon_days) scored whose
    window [as_of_date, as_of_date + horizon_days) is complete (it ends on or before the as-of date of the
    marts), the windows marts.score_outcomes labels, with a fingerprint of the orders that label them.

    The monitor backtests a scored date once and keeps it while its scores (their scored_at) and this
    fingerprint stay as they were, so a monitoring run recomputes only new windows and those whose orders
    changed (a late order, a cancellation, a revalued or reassigned order), not every date ever scored.
    The fingerprint is the exclusive or of a hash of each order placed in the window, over the columns the
    outcomes read (macro window_outcome_columns, beside window_outcomes: order, customer, time, revenue,
    margin, cancellation); taken per day first, since windows start and end at midnight.

    A view like score_outcomes, empty until the score table exists at a build.
#}

{{ config(materialized='view') }}
{%- set as_of_timestamp = 'cast(scored_windows.as_of_date as ' ~ dbt.type_timestamp() ~ ')' %}

{%- if source_exists('scores', 'customer_scores') %}

with

scored_windows as (
    select distinct
        as_of_date,
        horizon_days
    from {{ source('scores', 'customer_scores') }}
),

marts_end as (
    select max(data_end_date) as data_end_date
    from {{ ref('int_cutoff_spine') }}
),

complete_windows as (
    select
        scored_windows.as_of_date,
        scored_windows.horizon_days,
        cast(
            {{ dbt.dateadd('day', 'scored_windows.horizon_days', as_of_timestamp) }}
            as date
        ) as horizon_end_date,
        marts_end.data_end_date
    from scored_windows
    cross join marts_end
),

orders as (
    select * from {{ ref('int_orders_valued') }}
),

order_days as (
    select
        cast(ordered_at as date) as order_date,
        bit_xor({{ row_hash(window_outcome_columns()) }}) as fingerprint
    from orders
    where ordered_at >= (select cast(min(as_of_date) as {{ dbt.type_timestamp() }}) from scored_windows)
    group by cast(ordered_at as date)
),

final as (
    select
        complete_windows.as_of_date,
        complete_windows.horizon_days,
        complete_windows.horizon_end_date,
        cast(coalesce(bit_xor(order_days.fingerprint), 0) as {{ dbt.type_string() }}) as orders_fingerprint
    from complete_windows
    left join order_days
        on
            complete_windows.as_of_date <= order_days.order_date
            and complete_windows.horizon_end_date > order_days.order_date
    where complete_windows.horizon_end_date <= complete_windows.data_end_date
    group by
        complete_windows.as_of_date,
        complete_windows.horizon_days,
        complete_windows.horizon_end_date
)

select * from final

{%- else %}

{{ empty_contract_result() }}

{%- endif %}
