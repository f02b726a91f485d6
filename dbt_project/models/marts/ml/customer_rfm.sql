{#
    One row per customer with a completed order before the as-of date: recency, frequency and monetary
    value read from customer_features at the scoring cutoff (so each is defined once), scored 1-5 by
    quintile with ties, and the classic segment of (r_score, f_score) from the seed rfm_segment_map.
#}

with

features as (
    select * from {{ ref('customer_features') }}
),

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
),

rfm_values as (
    select
        customer_id,
        cutoff_date as as_of_date,
        days_since_last_order as recency_days,
        orders_lifetime as frequency,
        revenue_lifetime as monetary
    from features
    where is_scoring_date
),

scored as (
    select
        customer_id,
        as_of_date,
        recency_days,
        frequency,
        monetary,
        {{ quintile_score('recency_days desc') }} as r_score,
        {{ quintile_score('frequency') }} as f_score,
        {{ quintile_score('monetary') }} as m_score
    from rfm_values
),

final as (
    select
        scored.customer_id,
        scored.as_of_date,
        scored.recency_days,
        scored.frequency,
        scored.monetary,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        segment_map.segment as rfm_segment
    from scored
    left join segment_map
        on
            scored.r_score = segment_map.r_score
            and scored.f_score = segment_map.f_score
)

select * from final
