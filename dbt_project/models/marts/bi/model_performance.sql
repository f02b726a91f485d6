{#-
    ml.evaluations exists once train has run, ml.backtests once monitor has: a part whose table does not exist
    yet contributes no rows (typed by the contract), so the model builds at any stage. The check asks the
    warehouse (introspection); an offline compile (`--no-introspect`) renders the full query.
-#}
{%- set backtest_metrics = [
    'predicted_revenue', 'realized_revenue', 'revenue_bias', 'revenue_mae', 'revenue_spearman',
    'predicted_churn_rate', 'realized_churn_rate', 'churn_roc_auc',
] -%}
{%- set present = {'evaluations': true, 'backtests': true} -%}
{%- if execute and flags.INTROSPECT -%}
{%- for name in present.keys() | list -%}
{%- set relation = source('ml', name) -%}
{%- set found = adapter.get_relation(relation.database, relation.schema, relation.identifier) -%}
{%- do present.update({name: found is not none}) -%}
{%- endfor -%}
{%- endif -%}
{%- set empty_columns = [] -%}
{%- for column in model.columns.values() -%}
{%- do empty_columns.append('cast(null as ' ~ column.data_type ~ ') as ' ~ column.name) -%}
{%- endfor -%}

with

{% if present['evaluations'] -%}
evaluations as (
    select * from {{ source('ml', 'evaluations') }}
),

{% endif -%}
{% if present['backtests'] -%}
backtests as (
    select * from {{ source('ml', 'backtests') }}
),

{% endif -%}
evaluation_metrics as (
    {%- if present['evaluations'] %}
    select
        'evaluation' as source,
        model,
        cast(null as {{ dbt.type_string() }}) as model_version,
        cutoff_date,
        horizon_days,
        metric,
        cast(value as {{ type_double() }}) as value,
        cast(customers as {{ dbt.type_bigint() }}) as customers,
        evaluated_at
    from evaluations
    {%- else %}
    select
        {{ empty_columns | join(',\n        ') }}
    where 1 = 0
    {%- endif %}
),

backtest_metrics as (
    {%- if present['backtests'] %}
    {%- for metric in backtest_metrics %}
    select
        'backtest' as source,
        'champion' as model,
        model_version,
        as_of_date as cutoff_date,
        horizon_days,
        '{{ metric }}' as metric,
        cast({{ metric }} as {{ type_double() }}) as value,
        cast(customers as {{ dbt.type_bigint() }}) as customers,
        run_at as evaluated_at
    from backtests
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {{ empty_columns | join(',\n        ') }}
    where 1 = 0
    {%- endif %}
),

final as (
    select * from evaluation_metrics
    union all
    select * from backtest_metrics
)

select * from final
