{#
    One row per session, calendar day and logged-in customer with an event in the session that day: a
    session crossing midnight is split, so every row lies wholly before or wholly after any (midnight)
    cutoff and can be used at a cutoff without leaking. A session-day is a visit of every customer
    logged in to it (two accounts on one device share it): each of its customers has a row, and every
    row holds the activity of the whole session-day (its anonymous events and the other customers'
    included). A session-day without a logged-in event has one row, with a null customer.

    Incremental: a run recomputes every day from the earliest event day touched since the last run (macro
    loaded_through) and replaces those days (delete+insert on activity_date); days before it are kept.
    `--full-refresh` rebuilds everything. A day is touched by an event loaded since, and by the former day
    of an event replaced since by a newer version (macro replaced_row_dates): an event moved to another day
    leaves its former session-day. Both are read from the raw table (a raw row loaded since is either
    staged or replaced after it, so the raw minimum is never later than the staged one). A day left with
    no event at all is not among the days a run computes, so a post-hook deletes it (macro
    delete_days_without_events).

    A session-day's _loaded_at is the latest load of its events, or of a newer version of an event it held
    before (when later), on each of its customers' rows: the models that follow sessions and customers by
    _loaded_at see the day change for every customer of it, also one none of whose events was loaded since
    (a new event of another customer in their session-day changes their visit too).
#}

{{
    config(
        materialized='incremental',
        unique_key='activity_date',
        post_hook=["{{ delete_days_without_events() }}"]
    )
}}

{%- if is_incremental() %}
{%- set loaded_from = loaded_through(this) %}
{%- set first_new_event = earliest_new(source('shop', 'events'), 'event_at', loaded_from) %}
{%- set replaced_events = replaced_row_dates('events', 'event_at', 'activity_date') %}
{%- set first_replaced_day = earliest_new(replaced_events, 'activity_date', loaded_from) %}
{%- endif %}

with

-- the filter belongs here, not in events_to_process: DuckDB reads that twice and built it from every
-- raw event, filtering after the scan (1.9 s for 55.8M events, against 0.06 s with the filter here)
events as (
    select * from {{ ref('stg_shop__events') }}
    {%- if is_incremental() %}
    -- midnight of the first day the new loads touch; none: null, and nothing is recomputed
    where event_at >= {{ dbt.date_trunc('day', 'least(' ~ first_new_event ~ ', ' ~ first_replaced_day ~ ')') }}
    {%- endif %}
),

events_to_process as (
    select
        session_id,
        cast(event_at as date) as activity_date,
        customer_id,
        event_type,
        event_at,
        _loaded_at
    from events
),

-- events a newer version replaced, by the session-day that held them
replaced_session_days as (
    select
        cast(session_id as {{ dbt.type_string() }}) as session_id,
        cast(event_at as date) as activity_date,
        max(_replaced_at) as _replaced_at
    from {{ source('shop', 'events') }}
    where _replaced_at is not null
    group by
        cast(session_id as {{ dbt.type_string() }}),
        cast(event_at as date)
),

session_days as (
    select
        session_id,
        activity_date,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as events,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts,
        sum(case when event_type = 'checkout' then 1 else 0 end) as checkouts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
        max(_loaded_at) as _loaded_at
    from events_to_process
    group by
        session_id,
        activity_date
),

-- the logged-in customers of each session-day
session_day_customers as (
    select distinct
        session_id,
        activity_date,
        customer_id
    from events_to_process
    where customer_id is not null
),

final as (
    select
        session_days.session_id,
        session_days.activity_date,
        session_day_customers.customer_id,
        session_days.first_event_at,
        session_days.last_event_at,
        cast(session_days.events as {{ dbt.type_bigint() }}) as events,
        cast(session_days.page_views as {{ dbt.type_bigint() }}) as page_views,
        cast(session_days.product_views as {{ dbt.type_bigint() }}) as product_views,
        cast(session_days.add_to_carts as {{ dbt.type_bigint() }}) as add_to_carts,
        cast(session_days.checkouts as {{ dbt.type_bigint() }}) as checkouts,
        cast(session_days.purchases as {{ dbt.type_bigint() }}) as purchases,
        session_days.purchases > 0 as has_purchase,
        -- greatest skips nulls (DuckDB and Postgres alike)
        greatest(session_days._loaded_at, replaced_session_days._replaced_at) as _loaded_at
    from session_days
    -- a row for each customer of the session-day; one with a null customer when none logged in
    left join session_day_customers
        on
            session_days.session_id = session_day_customers.session_id
            and session_days.activity_date = session_day_customers.activity_date
    left join replaced_session_days
        on
            session_days.session_id = replaced_session_days.session_id
            and session_days.activity_date = replaced_session_days.activity_date
)

select * from final
