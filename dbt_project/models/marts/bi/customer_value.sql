{#-
    Before the first scoring run the score tables do not exist yet: then the table is built empty, with its
    contract's columns, so a plain `dbt build` never fails on a fresh warehouse (macros source_exists and
    contract_nulls).
-#}
{#-
    The date served is var bi_as_of_date (the publish step sets the date it publishes), else the latest
    scoring date.
-#}
{%- set served_date = var('bi_as_of_date', none) -%}
{#- the served date's midnight: only data before it is history, as at a cutoff of the feature mart -#}
{%- set served_at = 'cast(scores.as_of_date as ' ~ dbt.type_timestamp() ~ ')' -%}
{%- set rfm_columns = 'customer_id, as_of_date, recency_days, frequency, monetary, r_score, f_score, m_score, '
    ~ 'rfm_segment' -%}

{%- if source_exists('scores', 'customer_scores') %}

with

scores as (
    select * from {{ source('scores', 'customer_scores') }}
    where as_of_date = (
        {%- if served_date %}
        cast('{{ served_date }}' as date)
        {%- else %}
        select max(latest.as_of_date) from {{ source('scores', 'customer_scores') }} as latest
        {%- endif %}
    )
),

-- the RFM rows the scoring kept with its scores (scores.customer_rfm), for dates scored from marts built
-- for them in a scratch copy; marts.customer_rfm's for a date scored before they were kept
rfm as (
    {%- if source_exists('scores', 'customer_rfm') %}
    select {{ rfm_columns }} from {{ source('scores', 'customer_rfm') }}
    union all
    select {{ rfm_columns }} from {{ ref('customer_rfm') }} as marts_rfm
    where
        not exists (
            select 1 from {{ source('scores', 'customer_rfm') }} as kept
            where kept.as_of_date = marts_rfm.as_of_date
        )
    {%- else %}
    select * from {{ ref('customer_rfm') }}
    {%- endif %}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

-- the profile from the customer dimension, so no column of the feature mart (the analysts' to change) is
-- read here; tenure_days as the feature mart defines it (macro tenure_days), as of the served date
profile as (
    select
        scores.customer_id,
        customers.region,
        customers.age_band,
        customers.acquisition_channel,
        -- a first order on or after the date is no history (orders reloaded since the scoring): no tenure,
        -- as the feature mart has no row then
        {{ tenure_days(
            'customers.signed_up_at',
            'case when customers.first_order_at < ' ~ served_at ~ ' then customers.first_order_at end',
            served_at
        ) }} as tenure_days
    from scores
    inner join customers
        on scores.customer_id = customers.customer_id
),

final as (
    select
        scores.customer_id,
        scores.as_of_date,
        scores.predicted_revenue,
        scores.predicted_orders,
        scores.discounted_clv,
        scores.churn_probability,
        scores.value_tier,
        scores.risk_band,
        scores.action,
        scores.churn_reasons,
        scores.value_reasons,
        scores.historic_revenue,
        scores.avg_days_between_orders,
        scores.expected_next_order_date,
        scores.horizon_days,
        rfm.rfm_segment,
        rfm.recency_days,
        rfm.frequency,
        rfm.monetary,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        profile.region,
        profile.age_band,
        profile.acquisition_channel,
        profile.tenure_days,
        scores.model_version,
        scores.scored_at
    from scores
    left join rfm
        on
            scores.customer_id = rfm.customer_id
            and scores.as_of_date = rfm.as_of_date
    left join profile
        on scores.customer_id = profile.customer_id
)

select * from final

{%- else %}

{{ empty_contract_result() }}

{%- endif %}
