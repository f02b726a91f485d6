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
        -- exact sums: two publishes of the same scores give the same file. Lifetime revenue from the
        -- scores, which every customer has: monetary (the same revenue) is empty when the marts were built
        -- for another date, and summed as 0 it said the 'unknown' customers had bought nothing
        {{ exact_sum('historic_revenue') }} as revenue_lifetime,
        {{ exact_sum('predicted_revenue') }} as predicted_revenue,
        {{ exact_sum('discounted_clv') }} as predicted_clv,
        {{ exact_sum('churn_probability') }} / count(*) as expected_churn_rate
    from customer_value
    group by
        as_of_date,
        coalesce(rfm_segment, 'unknown'),
        value_tier
)

select * from final
