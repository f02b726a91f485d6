{#
    One row per browsing session (logged-in and anonymous): when it started and ended, what happened in
    it and whether it converted. Built from the session-days of int_events_sessionized.

    Incremental: a run rebuilds every session with a session-day loaded since the last run (see macro
    loaded_through), or with an event reloaded since into another session, from all of its days, and
    replaces it (delete+insert on session_id). A post-hook deletes the sessions left without a day.
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
    where session_id in (
        select session_id from session_days
        where _loaded_at > {{ loaded_after }}
        union
        select session_id from {{ replaced_events_since(loaded_after) }} as replaced
    )
    {%- endif %}
),

sessions as (
    select
        session_id,
        max(customer_id) as customer_id,
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
    from session_days_to_process
    group by session_id
),

final as (
    select
        session_id,
        customer_id,
        customer_id is not null as is_logged_in,
        started_at,
        ended_at,
        cast(started_at as date) as session_date,
        -- the adapter's datediff renders long on DuckDB
        cast(
            {{ dbt.datediff('started_at', 'ended_at', 'second') }} as {{ dbt.type_bigint() }}  -- noqa: LT05
        ) as duration_seconds,
        cast(active_days as {{ dbt.type_bigint() }}) as active_days,
        cast(events as {{ dbt.type_bigint() }}) as events,
        cast(page_views as {{ dbt.type_bigint() }}) as page_views,
        cast(product_views as {{ dbt.type_bigint() }}) as product_views,
        cast(add_to_carts as {{ dbt.type_bigint() }}) as add_to_carts,
        cast(checkouts as {{ dbt.type_bigint() }}) as checkouts,
        cast(purchases as {{ dbt.type_bigint() }}) as purchases,
        purchases > 0 as has_purchase,
        add_to_carts > 0 and purchases = 0 as is_abandoned_cart,
        _loaded_at
    from sessions
)

select * from final
