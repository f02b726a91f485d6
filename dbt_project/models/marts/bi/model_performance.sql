{#-
    ml.evaluations exists once train has run, ml.backtests once monitor has: a part whose table does not exist
    yet contributes no rows (typed by the contract), so the model builds at any stage (macros source_exists
    and contract_nulls).
-#}
{%- set backtest_metrics = [
    'predicted_revenue', 'realized_revenue', 'revenue_bias', 'revenue_mae', 'revenue_spearman',
    'predicted_churn_rate', 'realized_churn_rate', 'churn_roc_auc',
] -%}
{%- set present = {
    'evaluations': source_exists('ml', 'evaluations'),
    'backtests': source_exists('ml', 'backtests'),
    'scores': source_exists('scores', 'customer_scores'),
} -%}
{#- A backtest records the scored_at of the scores it read (ml.monitor); a table the monitor made before
    that lacks the column until its next run. -#}
{%- set backtest_columns = source_columns('ml', 'backtests') if present['backtests'] else [] -%}
{%- set guard_backtests = present['scores'] and 'scored_at' in backtest_columns -%}
{#- Whether the scoring model learnt from no outcome of the backtested window (ml.monitor.out_of_time); a
    table the monitor made before that lacks the column until its next run: unknown (null) until then. -#}
{%- set flag_backtests = 'is_out_of_time' in backtest_columns -%}
{#- The scores' predicted orders against the orders placed (ml.backtests, from the same rows as revenue's);
    a table the monitor made before them lacks the columns until its next run, which recomputes its rows:
    no orders rows until then. -#}
{%- if 'predicted_orders' in backtest_columns -%}
    {%- set backtest_metrics = backtest_metrics + [
        'predicted_orders', 'realized_orders', 'orders_bias', 'orders_mae',
    ] -%}
{%- endif -%}
{#- The scores' expected_next_order_date against the first order placed in the horizon, likewise: no such
    rows from a table the monitor made before them, until its next run. -#}
{%- if 'next_order_customers' in backtest_columns -%}
    {%- set backtest_metrics = backtest_metrics + [
        'next_order_customers', 'next_order_mdae_days', 'next_order_early_share',
    ] -%}
{%- endif -%}
{#- The share of the customers shown an expected date who ordered on or before it (the date is the median
    of the next order), likewise. -#}
{%- if 'next_order_by_date_share' in backtest_columns -%}
    {%- set backtest_metrics = backtest_metrics + [
        'next_order_dated_customers', 'next_order_by_date_share',
    ] -%}
{%- endif -%}
{#- An evaluation records the model version training registered (null for an ad-hoc `cvw evaluate`); a
    table made before that lacks the column until the next training or evaluation adds it
    (ml.evaluation_table). -#}
{%- set evaluation_columns = source_columns('ml', 'evaluations') if present['evaluations'] else [] -%}

with

{% if present['evaluations'] -%}
evaluations as (
    select * from {{ source('ml', 'evaluations') }}
),

{% endif -%}
{% if present['backtests'] -%}
backtests as (
    select backtests.* from {{ source('ml', 'backtests') }} as backtests
    {%- if guard_backtests %}
    -- the backtest of scores since replaced (the date re-scored, by this model or another) is not shown
    -- until the monitor recomputes it; a row from before scored_at was kept has none and is shown
    where
        backtests.scored_at is null
        or exists (
            select 1
            from {{ source('scores', 'customer_scores') }} as scores
            where
                scores.as_of_date = backtests.as_of_date
                and scores.model_version = backtests.model_version
                and scores.horizon_days = backtests.horizon_days
                and scores.scored_at = backtests.scored_at
        )
    {%- endif %}
),

{% endif -%}
evaluation_metrics as (
    {%- if present['evaluations'] %}
    select
        'evaluation' as source,
        model,
        {%- if 'model_version' in evaluation_columns %}
        cast(model_version as {{ dbt.type_string() }}) as model_version,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as model_version,
        {%- endif %}
        cutoff_date,
        horizon_days,
        metric,
        cast(value as {{ type_double() }}) as value,
        cast(customers as {{ dbt.type_bigint() }}) as customers,
        evaluated_at,
        -- the model evaluated learnt from cutoffs whose windows end by the one it is tested at (ml.train)
        cast(true as {{ dbt.type_boolean() }}) as is_out_of_time
    from evaluations
    {%- else %}
    select
        {{ contract_nulls(',\n        ') }}
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
        run_at as evaluated_at,
        {%- if flag_backtests %}
        cast(is_out_of_time as {{ dbt.type_boolean() }}) as is_out_of_time
        {%- else %}
        cast(null as {{ dbt.type_boolean() }}) as is_out_of_time
        {%- endif %}
    from backtests
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {{ contract_nulls(',\n        ') }}
    where 1 = 0
    {%- endif %}
),

final as (
    select * from evaluation_metrics
    union all
    select * from backtest_metrics
)

select * from final
