{#
    One row per browsing session and logged-in customer of it: when the session started and ended, what
    happened in it and whether it converted. A session is a visit of every customer logged in to it on
    any of its days (two accounts on one device share it), as in int_events_sessionized and the features:
    a shared session has a row for each of its customers, with the same session measures on each
    (logged_in_customers says how many rows it has), so dim_customers and BI count it for each customer
    (count(distinct session_id) counts sessions). An anonymous session has one row, with a null customer.

    Incremental: a run rebuilds every session with a session-day loaded since the last run (see macro
    loaded_through), or with an event reloaded since into another session, from all of its days, and
    replaces all of its rows (delete+insert on session_id). A post-hook deletes the sessions left without
    a day.
#}

{{
    config(
        materialized='incremental',
        unique_key='session_id',
        post_hook=["{{ delete_sessions_without_days() }}"]
    )
}}

{%- set loaded_after = loaded_through(this) if is_incremental() else none %}

with

session_days as (
    select * from {{ ref('int_events_sessionized') }}
),

session_days_to_process as (
    select * from session_days
    {%- if loaded_after is not none %}
    -- the table, not the CTE: DuckDB copies a CTE read twice in full (15.4M session-days at 1M customers,
    -- 1.7 s) before the filter, and reads the table for the changed sessions alone (0.1 s)
    where session_id in (
        select session_id from {{ ref('int_events_sessionized') }}
        where _loaded_at > {{ loaded_after }}
        union
        select session_id from {{ replaced_events_since(loaded_after) }} as replaced
    )
    {%- endif %}
),

-- one row per session-day: each customer's row of a session-day holds the same whole-day activity
days_of_sessions as (
    select
        session_id,
        activity_date,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        max(events) as events,
        max(page_views) as page_views,
        max(product_views) as product_views,
        max(add_to_carts) as add_to_carts,
        max(checkouts) as checkouts,
        max(purchases) as purchases,
        max(_loaded_at) as _loaded_at
    from session_days_to_process
    group by
        session_id,
        activity_date
),

sessions as (
    select
        session_id,
        min(first_event_at) as started_at,
        max(last_event_at) as ended_at,
        count(*) as active_days,
        sum(events) as events,
        sum(page_views) as page_views,
        sum(product_views) as product_views,
        sum(add_to_carts) as add_to_carts,
        sum(checkouts) as checkouts,
        sum(purchases) as purchases,
        max(_loaded_at) as _loaded_at
    from days_of_sessions
    group by session_id
),

-- the customers logged in to the session on any of its days
session_customers as (
    select distinct
        session_id,
        customer_id
    from session_days_to_process
    where customer_id is not null
),

customers_per_session as (
    select
        session_id,
        count(*) as logged_in_customers
    from session_customers
    group by session_id
),

final as (
    select
        sessions.session_id,
        session_customers.customer_id,
        session_customers.customer_id is not null as is_logged_in,
        cast(coalesce(customers_per_session.logged_in_customers, 0) as {{ dbt.type_bigint() }})
            as logged_in_customers,
        sessions.started_at,
        sessions.ended_at,
        cast(sessions.started_at as date) as session_date,
        -- the adapter's datediff renders long on DuckDB
        cast(
            {{ dbt.datediff('sessions.started_at', 'sessions.ended_at', 'second') }} as {{ dbt.type_bigint() }}  -- noqa: LT05
        ) as duration_seconds,
        cast(sessions.active_days as {{ dbt.type_bigint() }}) as active_days,
        cast(sessions.events as {{ dbt.type_bigint() }}) as events,
        cast(sessions.page_views as {{ dbt.type_bigint() }}) as page_views,
        cast(sessions.product_views as {{ dbt.type_bigint() }}) as product_views,
        cast(sessions.add_to_carts as {{ dbt.type_bigint() }}) as add_to_carts,
        cast(sessions.checkouts as {{ dbt.type_bigint() }}) as checkouts,
        cast(sessions.purchases as {{ dbt.type_bigint() }}) as purchases,
        sessions.purchases > 0 as has_purchase,
        sessions.add_to_carts > 0 and sessions.purchases = 0 as is_abandoned_cart,
        sessions._loaded_at
    from sessions
    -- a row for each customer of the session; one with a null customer for an anonymous session
    left join session_customers
        on sessions.session_id = session_customers.session_id
    left join customers_per_session
        on sessions.session_id = customers_per_session.session_id
)

select * from final
