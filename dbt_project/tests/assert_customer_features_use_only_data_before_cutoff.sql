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
{#- a daily build's one cutoff, the new scoring date, is aggregated on its own (macro leakage_history_at) #}
{%- set tested_cutoffs = cutoffs_rebuilt_by(['customer_features']) %}

with

-- in a build, the cutoffs it rebuilt (macro rebuilt_cutoffs_condition); the others were checked when written
features as (
    select * from {{ ref('customer_features') }}
    where {{ rebuilt_cutoffs_condition('cutoff_date', ['customer_features']) }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

events as (
    select * from {{ ref('stg_shop__events') }}
),

-- each row's completed orders before its cutoff, the last of them and the last visit (macro leakage_history)
history as (
    {%- if tested_cutoffs is not none and tested_cutoffs | length == 1 %}
    {{ leakage_history_at(tested_cutoffs | first, 'features', 'orders', 'events', has_visits) | indent(4) }}
    {%- else %}
    {{ leakage_history('features', 'orders', 'events', has_visits) | indent(4) }}
    {%- endif %}
),

compared as (
    select
        customer_id,
        cutoff_date,
        orders_lifetime,
        orders_before_cutoff,
        days_since_last_order,
        {{ days_between('last_order_at', 'cutoff_date') }} as expected_days_since_last_order,
        days_since_last_visit,
        {{ days_between('last_event_at', 'cutoff_date') }} as expected_days_since_last_visit
    from history
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
