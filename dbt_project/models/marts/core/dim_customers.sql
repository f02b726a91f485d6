{#
    One row per customer the shop knows: from the customer table, and from orders and logged-in events
    for shops that deliver no customer table (profile columns are then null). Profile, plus order and
    browsing totals over all loaded data (not as of the scoring date: the ML marts are point-in-time,
    this dimension is for BI).

    A session counts for every customer logged in to it on any of its days (fct_sessions has a row for
    each), so a session two customers shared is in the sessions of both.

    Incremental by customer (delete+insert on customer_id): a run rebuilds the customers with a profile
    or an order (re)loaded since the last build, and every customer on any day of a session with a day
    loaded since or with an event reloaded since: a new event of one customer changes the session of all
    its customers (its end, its measures), also of those none of whose events was loaded since. Post-hooks
    delete a customer an order or event reloaded under another customer left with no data (macro
    delete_customers_left_without_data), and record the latest load the mart has seen (macro
    record_watermark).
#}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        post_hook=[
            "{{ delete_customers_left_without_data(['orders', 'events'], [
                ref('stg_shop__customers'), ref('fct_orders'), ref('fct_sessions')
            ]) }}",
            "{{ record_watermark('dim_customers', [
                ref('int_orders_valued'), ref('int_events_sessionized'), ref('stg_shop__customers')
            ]) }}"
        ]
    )
}}

{%- set since = previous_watermark('dim_customers') if is_incremental() else none %}

with

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

{% if since is not none -%}
changed_customers as (
    select customer_id
    from customers
    where _loaded_at > {{ timestamp_literal(since) }}
    union
    select customer_id
    from {{ ref('int_orders_valued') }}
    where _loaded_at > {{ timestamp_literal(since) }}
    union
    -- the former customer of an order reloaded under another customer
    select customer_id
    from {{ replaced_order_customers(timestamp_literal(since)) }} as replaced_orders
    union
    -- every customer of a session with a day loaded since, on any of its days: fct_sessions, built before
    -- this model, has a row for each of them, and the latest load of its days
    select customer_id
    from {{ ref('fct_sessions') }}
    where _loaded_at > {{ timestamp_literal(since) }} and customer_id is not null
    {%- if has_replaced_rows('events') %}
    union
    -- every customer of a session an event was reloaded out of since (its other days keep their loads);
    -- not asked while no event was ever replaced, the daily case: the join would read every session
    select customer_id
    from {{ ref('fct_sessions') }}
    where
        session_id in (
            select replaced.session_id from {{ replaced_events_since(timestamp_literal(since)) }} as replaced
        )
        and customer_id is not null
    {%- endif %}
    union
    -- the customer of a session that lost its last day
    select customer_id
    from {{ replaced_events_since(timestamp_literal(since)) }} as replaced
    where customer_id is not null
),
{%- endif %}

-- an incremental run reads only the changed customers' orders and sessions
orders as (
    select * from {{ ref('fct_orders') }}
    {%- if since is not none %}
    where customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif %}
),

sessions as (
    select * from {{ ref('fct_sessions') }}
    {%- if since is not none %}
    where customer_id in (select changed_customers.customer_id from changed_customers)
    {%- else %}
    where customer_id is not null
    {%- endif %}
),

-- every customer a source knows
customers_to_build as (
    select customer_id from customers
    {%- if since is not none %}
    where customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif %}
    union
    select customer_id from orders
    union
    select customer_id from sessions
),

order_totals as (
    select
        customer_id,
        sum(case when not is_cancelled then 1 else 0 end) as orders,
        sum(case when is_cancelled then 1 else 0 end) as cancelled_orders,
        {{ exact_sum('case when not is_cancelled then revenue else 0 end') }} as revenue,
        {{ exact_sum('case when not is_cancelled then margin else 0 end') }} as margin,
        min(case when not is_cancelled then ordered_at end) as first_order_at,
        max(case when not is_cancelled then ordered_at end) as last_order_at,
        max(case when is_first_order then sales_channel end) as first_order_sales_channel,
        sum(case when is_first_order then revenue end) as first_order_value
    from orders
    group by customer_id
),

session_totals as (
    select
        customer_id,
        count(*) as sessions,
        max(ended_at) as last_visit_at
    from sessions
    group by customer_id
),

final as (
    select
        customers_to_build.customer_id,
        customers.customer_id is not null as has_profile,
        customers.signed_up_at,
        cast(customers.signed_up_at as date) as signup_date,
        customers.country,
        customers.region,
        customers.acquisition_channel,
        customers.age_band,
        cast(coalesce(order_totals.orders, 0) as {{ dbt.type_bigint() }}) as orders,
        cast(coalesce(order_totals.cancelled_orders, 0) as {{ dbt.type_bigint() }}) as cancelled_orders,
        coalesce(order_totals.revenue, 0) as revenue,
        coalesce(order_totals.margin, 0) as margin,
        {{ safe_divide('order_totals.revenue', 'order_totals.orders') }} as avg_order_value,
        order_totals.first_order_at,
        order_totals.last_order_at,
        order_totals.first_order_sales_channel,
        order_totals.first_order_value,
        coalesce(order_totals.orders, 0) > 0 as is_buyer,
        cast(coalesce(session_totals.sessions, 0) as {{ dbt.type_bigint() }}) as sessions,
        session_totals.last_visit_at
    from customers_to_build
    left join customers
        on customers_to_build.customer_id = customers.customer_id
    left join order_totals
        on customers_to_build.customer_id = order_totals.customer_id
    left join session_totals
        on customers_to_build.customer_id = session_totals.customer_id
)

select * from final
