{#
    Leakage guard. Recompute, straight from staging, each customer_features row's completed orders, last
    order and last visit strictly before its cutoff's midnight, and return every row that disagrees:
    a row that saw an order or event on or after its cutoff shows up here. It checks those columns only;
    tests/integration/test_dbt_build.py checks every feature, one added later too, against a build from
    the data before a cutoff alone. days_since_last_visit is a feature an analyst may drop
    (docs/operations.md): without it in the mart's contract, the last visit is not compared.
#}

{%- set features_model = graph.nodes.get('model.customer_value.customer_features') if execute else none %}
{%- set has_visits = features_model is none or 'days_since_last_visit' in features_model.columns %}

with

features as (
    select * from {{ ref('customer_features') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

events as (
    select * from {{ ref('stg_shop__events') }}
),

order_history as (
    select
        features.customer_id,
        features.cutoff_date,
        count(orders.order_id) as orders_before_cutoff,
        max(orders.ordered_at) as last_order_at
    from features
    left join orders
        on
            features.customer_id = orders.customer_id
            and orders.status = 'completed'
            and orders.ordered_at < cast(features.cutoff_date as {{ dbt.type_timestamp() }})
    group by
        features.customer_id,
        features.cutoff_date
),

{%- if has_visits %}

visit_history as (
    select
        features.customer_id,
        features.cutoff_date,
        max(events.event_at) as last_event_at
    from features
    left join events
        on
            features.customer_id = events.customer_id
            and events.event_at < cast(features.cutoff_date as {{ dbt.type_timestamp() }})
    group by
        features.customer_id,
        features.cutoff_date
),
{%- endif %}

compared as (
    select
        features.customer_id,
        features.cutoff_date,
        features.orders_lifetime,
        order_history.orders_before_cutoff,
        features.days_since_last_order,
        {{ days_between('order_history.last_order_at', 'features.cutoff_date') }} as expected_days_since_last_order,
        {%- if has_visits %}
        features.days_since_last_visit,
        {{ days_between('visit_history.last_event_at', 'features.cutoff_date') }} as expected_days_since_last_visit
        {%- else %}
        cast(null as {{ dbt.type_bigint() }}) as days_since_last_visit,
        cast(null as {{ dbt.type_bigint() }}) as expected_days_since_last_visit
        {%- endif %}
    from features
    inner join order_history
        on
            features.customer_id = order_history.customer_id
            and features.cutoff_date = order_history.cutoff_date
    {%- if has_visits %}
    inner join visit_history
        on
            features.customer_id = visit_history.customer_id
            and features.cutoff_date = visit_history.cutoff_date
    {%- endif %}
),

final as (
    select
        customer_id,
        cutoff_date,
        orders_lifetime,
        orders_before_cutoff,
        days_since_last_order,
        expected_days_since_last_order,
        days_since_last_visit,
        expected_days_since_last_visit
    from compared
    where
        orders_before_cutoff = 0
        or orders_lifetime <> orders_before_cutoff
        or days_since_last_order <> expected_days_since_last_order
        or days_since_last_order < 1
        or days_since_last_visit is distinct from expected_days_since_last_visit
)

select * from final
