{#
    One row per customer and cutoff for every logged-in customer with any event before the cutoff:
    browsing features from session-days strictly before the cutoff (int_events_sessionized splits
    sessions at midnight, so no event on or after the cutoff is read). Windows are the N days before
    the cutoff; a session counts in a window when any of its days before the cutoff falls in it.
#}

with

session_days as (
    select * from {{ ref('int_events_sessionized') }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
),

session_days_before_cutoffs as (
    select
        session_days.customer_id,
        cutoffs.cutoff_date,
        session_days.session_id,
        -- 1 = the day before the cutoff
        {{ days_between('session_days.activity_date', 'cutoffs.cutoff_date') }} as days_before_cutoff,
        session_days.product_views,
        session_days.add_to_carts,
        session_days.purchases
    from cutoffs
    inner join session_days
        on session_days.activity_date < cutoffs.cutoff_date
    where session_days.customer_id is not null
),

sessions_at_cutoffs as (
    select
        customer_id,
        cutoff_date,
        session_id,
        min(days_before_cutoff) as days_since_session,
        max(case when days_before_cutoff <= 30 then 1 else 0 end) as is_in_30d,
        max(case when days_before_cutoff <= 90 then 1 else 0 end) as is_in_90d,
        max(case when days_before_cutoff between 31 and 90 then 1 else 0 end) as is_in_prior_60d,
        sum(case when days_before_cutoff <= 90 then product_views else 0 end) as product_views_90d,
        sum(case when days_before_cutoff <= 90 then add_to_carts else 0 end) as add_to_carts_90d,
        sum(case when days_before_cutoff <= 90 then purchases else 0 end) as purchases_90d
    from session_days_before_cutoffs
    group by
        customer_id,
        cutoff_date,
        session_id
),

aggregated as (
    select
        customer_id,
        cutoff_date,
        min(days_since_session) as days_since_last_visit,
        sum(is_in_30d) as sessions_30d,
        sum(is_in_90d) as sessions_90d,
        sum(is_in_prior_60d) as sessions_prior_60d,
        sum(product_views_90d) as product_views_90d,
        sum(add_to_carts_90d) as add_to_carts_90d,
        sum(case when add_to_carts_90d > 0 then 1 else 0 end) as cart_sessions_90d,
        sum(case when add_to_carts_90d > 0 and purchases_90d = 0 then 1 else 0 end)
            as abandoned_cart_sessions_90d,
        sum(case when product_views_90d > 0 then 1 else 0 end) as viewing_sessions_90d,
        sum(case when product_views_90d > 0 and purchases_90d > 0 then 1 else 0 end)
            as converted_viewing_sessions_90d
    from sessions_at_cutoffs
    group by
        customer_id,
        cutoff_date
),

final as (
    select
        customer_id,
        cutoff_date,
        cast(sessions_30d as {{ dbt.type_bigint() }}) as sessions_30d,
        cast(sessions_90d as {{ dbt.type_bigint() }}) as sessions_90d,
        cast(sessions_prior_60d as {{ dbt.type_bigint() }}) as sessions_prior_60d,
        cast(product_views_90d as {{ dbt.type_bigint() }}) as product_views_90d,
        cast(add_to_carts_90d as {{ dbt.type_bigint() }}) as add_to_carts_90d,
        {{ safe_divide('abandoned_cart_sessions_90d', 'cart_sessions_90d') }} as cart_abandonment_rate_90d,
        {{ safe_divide('converted_viewing_sessions_90d', 'viewing_sessions_90d') }}
            as view_to_purchase_rate_90d,
        days_since_last_visit,
        -- sessions in the last 30 days against the 30-day average of the 60 days before them
        {{ symmetric_change('sessions_30d', 'sessions_prior_60d / 2.0') }} as session_trend_30d
    from aggregated
)

select * from final
