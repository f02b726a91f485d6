{#
    The leakage guard's recomputation (tests/assert_customer_features_use_only_data_before_cutoff.sql): for
    every row of `features` (a CTE of customer_features), its completed orders strictly before its cutoff's
    midnight, the last of them and the last event of the customer before it, found straight from `orders`
    and `events` (CTEs of staging), with the row's own values beside them. `has_visits`: whether the mart has
    days_since_last_visit (without it the last visit is not compared).

    Two ways to the same rows. Anywhere: join each row to every earlier order and event of its customer and
    aggregate. DuckDB: an as-of join picks the customer's last order before the cutoff, which carries the
    count of the customer's completed orders up to it, and the last day with an event before it (a day's
    last event is before a cutoff's midnight exactly when the day is before the cutoff's date); the join
    above makes 14M feature rows of a 1M-customer shop meet about 400M events (44.6 s of a 1M test run,
    docs/benchmarks.md).
#}
{% macro leakage_history(features, orders, events, has_visits) -%}
    {{ return(adapter.dispatch('leakage_history', 'customer_value')(features, orders, events, has_visits)) }}
{%- endmacro %}

{% macro default__leakage_history(features, orders, events, has_visits) -%}
    with

    order_history as (
        select
            {{ features }}.customer_id,
            {{ features }}.cutoff_date,
            count({{ orders }}.order_id) as orders_before_cutoff,
            max({{ orders }}.ordered_at) as last_order_at
        from {{ features }}
        left join {{ orders }}
            on
                {{ features }}.customer_id = {{ orders }}.customer_id
                and {{ orders }}.status = 'completed'
                and {{ orders }}.ordered_at < cast({{ features }}.cutoff_date as {{ dbt.type_timestamp() }})
        group by
            {{ features }}.customer_id,
            {{ features }}.cutoff_date
    ),

    {%- if has_visits %}

    visit_history as (
        select
            {{ features }}.customer_id,
            {{ features }}.cutoff_date,
            max({{ events }}.event_at) as last_event_at
        from {{ features }}
        left join {{ events }}
            on
                {{ features }}.customer_id = {{ events }}.customer_id
                and {{ events }}.event_at < cast({{ features }}.cutoff_date as {{ dbt.type_timestamp() }})
        group by
            {{ features }}.customer_id,
            {{ features }}.cutoff_date
    ),
    {%- endif %}

    -- every order_history and visit_history row is one of features, by customer and cutoff
    history as (
        {{- leakage_history_beside(features, has_visits, ['customer_id', 'cutoff_date']) | indent(8) }}
    )

    select * from history
{%- endmacro %}

{% macro duckdb__leakage_history(features, orders, events, has_visits) -%}
    with

    feature_rows as (
        select
            customer_id,
            cutoff_date,
            cast(cutoff_date as {{ dbt.type_timestamp() }}) as cutoff_at,
            orders_lifetime,
            days_since_last_order,
            {%- if has_visits %}
            days_since_last_visit
            {%- else %}
            cast(null as {{ dbt.type_bigint() }}) as days_since_last_visit
            {%- endif %}
        from {{ features }}
    ),

    -- each completed order with the customer's completed orders up to its instant (all of a tie counted)
    completed_orders as (
        select
            customer_id,
            ordered_at,
            count(*) over (
                partition by customer_id
                order by ordered_at
                range between unbounded preceding and current row
            ) as orders_through
        from {{ orders }}
        where status = 'completed'
    ),

    with_orders as (
        select
            feature_rows.*,
            coalesce(completed_orders.orders_through, 0) as orders_before_cutoff,
            completed_orders.ordered_at as last_order_at
        from feature_rows
        asof left join completed_orders
            on
                feature_rows.customer_id = completed_orders.customer_id
                and feature_rows.cutoff_at > completed_orders.ordered_at
    ),

    {%- if has_visits %}

    -- the last event of each customer's day
    visit_days as (
        select
            customer_id,
            max(event_at) as last_event_at
        from {{ events }}
        where customer_id is not null
        group by
            customer_id,
            cast(event_at as date)
    ),
    {%- endif %}

    history as (
        select
            with_orders.customer_id,
            with_orders.cutoff_date,
            with_orders.orders_lifetime,
            with_orders.orders_before_cutoff,
            with_orders.days_since_last_order,
            with_orders.last_order_at,
            with_orders.days_since_last_visit,
            {%- if has_visits %}
            visit_days.last_event_at
            {%- else %}
            cast(null as {{ dbt.type_timestamp() }}) as last_event_at
            {%- endif %}
        from with_orders
        {%- if has_visits %}
        asof left join visit_days
            on
                with_orders.customer_id = visit_days.customer_id
                and with_orders.cutoff_at > visit_days.last_event_at
        {%- endif %}
    )

    select * from history
{%- endmacro %}

{#
    leakage_history when every row of `features` has one cutoff, `cutoff_date` ('YYYY-MM-DD'): the daily
    build's case, which tests the new scoring date alone. Each customer's completed orders and last event
    before that midnight are a plain aggregate of the orders and events before it, per customer, with no
    join of a row to its customer's history (the as-of joins grouped 55M events by customer and day first:
    6.5-10.9 s of a 1M day's build, docs/benchmarks.md). The same rows as leakage_history, on any adapter.
#}
{% macro leakage_history_at(cutoff_date, features, orders, events, has_visits) -%}
    {%- set cutoff_at = 'cast(' ~ date_literal(cutoff_date) ~ ' as ' ~ dbt.type_timestamp() ~ ')' -%}
    with

    order_history as (
        select
            customer_id,
            count(*) as orders_before_cutoff,
            max(ordered_at) as last_order_at
        from {{ orders }}
        where status = 'completed' and ordered_at < {{ cutoff_at }}
        group by customer_id
    ),

    {%- if has_visits %}

    visit_history as (
        select
            customer_id,
            max(event_at) as last_event_at
        from {{ events }}
        where customer_id is not null and event_at < {{ cutoff_at }}
        group by customer_id
    ),
    {%- endif %}

    -- order_history and visit_history by customer: every row of features has the one cutoff
    history as (
        {{- leakage_history_beside(features, has_visits, ['customer_id']) | indent(8) }}
    )

    select * from history
{%- endmacro %}

{#
    The rows of `features` with their customer's completed orders before the cutoff, the last of them and the
    last event, from the CTEs order_history and visit_history (when `has_visits`), joined on `keys`: a
    customer without an order or event before it has none there.
#}
{% macro leakage_history_beside(features, has_visits, keys) %}
select
    {{ features }}.customer_id,
    {{ features }}.cutoff_date,
    {{ features }}.orders_lifetime,
    coalesce(order_history.orders_before_cutoff, 0) as orders_before_cutoff,
    {{ features }}.days_since_last_order,
    order_history.last_order_at,
    {%- if has_visits %}
    {{ features }}.days_since_last_visit,
    visit_history.last_event_at
    {%- else %}
    cast(null as {{ dbt.type_bigint() }}) as days_since_last_visit,
    cast(null as {{ dbt.type_timestamp() }}) as last_event_at
    {%- endif %}
from {{ features }}
{%- for history in ['order_history'] + (['visit_history'] if has_visits else []) %}
left join {{ history }}
    on
        {%- for key in keys %}
        {% if not loop.first %}and {% endif %}{{ features }}.{{ key }} = {{ history }}.{{ key }}
        {%- endfor %}
{%- endfor %}
{% endmacro %}
