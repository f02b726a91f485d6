{#
    One row per logged-in customer and day with a session-day of theirs (int_events_sessionized: a
    session-day is a visit of each customer logged in to it): the day, and the customer's next such day
    (9999-12-31 for the last). The day is the customer's last visit for
    every cutoff after it up to the next day inclusive, so int_sessions_aggregated_to_cutoffs finds the
    last visit before any cutoff in one row, without ranking the whole history again at each run.

    Incremental by customer (delete+insert on customer_id): a run recomputes every day of the customers
    with a session-day loaded since the last run (macro loaded_through; every customer of a session-day
    another customer's new event changed), and of those it held a day for on or after the earliest day
    those loads touch (the former day of an event reloaded since included). int_events_sessionized
    rebuilds whole days from that day, so a customer whose events left a session-day keeps no stale day
    of it; a former customer left with no session-day at all is deleted by a post-hook (macro
    delete_customers_left_without_data).
#}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        post_hook=["{{ delete_customers_left_without_data(['events'], [ref('int_events_sessionized')]) }}"]
    )
}}

with

session_days as (
    select * from {{ ref('int_events_sessionized') }}
),

{% if is_incremental() -%}
{%- set loaded_after = loaded_through(this) %}
-- the table, not the CTE session_days: DuckDB copies a CTE read more than once in full before a filter
changed_customers as (
    select customer_id
    from {{ ref('int_events_sessionized') }}
    where _loaded_at > {{ loaded_after }} and customer_id is not null
    union
    select customer_id
    from {{ this }}
    where activity_date >= (
        select min(touched.activity_date) from (
            select activity_date from {{ ref('int_events_sessionized') }}
            where _loaded_at > {{ loaded_after }}
            union all
            -- the former day of an event reloaded since: its session-day may be gone
            select activity_date from {{ replaced_row_dates('events', 'event_at', 'activity_date') }} as replaced
            where _loaded_at > {{ loaded_after }}
        ) as touched
    )
),

days_to_span as (
    select
        session_days.customer_id,
        session_days.activity_date,
        session_days._loaded_at
    from session_days
    inner join changed_customers
        on session_days.customer_id = changed_customers.customer_id
),
{%- else %}
days_to_span as (
    select
        customer_id,
        activity_date,
        _loaded_at
    from session_days
    where customer_id is not null
),
{%- endif %}

customer_active_days as (
    select
        customer_id,
        activity_date,
        max(_loaded_at) as _loaded_at
    from days_to_span
    group by
        customer_id,
        activity_date
),

final as (
    select
        customer_id,
        activity_date,
        coalesce(
            lead(activity_date) over (partition by customer_id order by activity_date),
            cast('9999-12-31' as date)
        ) as next_activity_date,
        _loaded_at
    from customer_active_days
)

select * from final
