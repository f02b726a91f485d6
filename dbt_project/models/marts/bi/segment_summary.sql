with

customer_value as (
    select * from {{ ref('customer_value') }}
),

final as (
    select
        as_of_date,
        coalesce(rfm_segment, 'unknown') as rfm_segment,
        value_tier,
        count(*) as customers,
        sum(coalesce(monetary, 0)) as revenue_lifetime,
        sum(predicted_revenue) as predicted_revenue,
        sum(discounted_clv) as predicted_clv,
        avg(churn_probability) as expected_churn_rate
    from customer_value
    group by
        as_of_date,
        coalesce(rfm_segment, 'unknown'),
        value_tier
)

select * from final
