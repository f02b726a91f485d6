{#
    The seed rfm_segment_map holds the classic map, written here a second time as rules on
    (r_score, f_score): returns every one of the 25 pairs whose seed segment is missing or different.
#}

with

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
),

scores as (
    select generated_number as score
    from ({{ dbt.generate_series(5) }}) as numbers
),

pairs as (
    select
        r.score as r_score,
        f.score as f_score
    from scores as r
    cross join scores as f
),

classic as (
    select
        r_score,
        f_score,
        case
            when r_score = 5 and f_score >= 4 then 'Champions'
            when r_score between 3 and 4 and f_score >= 4 then 'Loyal'
            when r_score >= 4 and f_score between 2 and 3 then 'Potential Loyalists'
            when r_score = 5 and f_score = 1 then 'New'
            when r_score = 4 and f_score = 1 then 'Promising'
            when r_score = 3 and f_score = 3 then 'Need Attention'
            when r_score = 3 and f_score <= 2 then 'About to Sleep'
            when r_score <= 2 and f_score between 3 and 4 then 'At Risk'
            when r_score <= 2 and f_score = 5 then 'Can''t Lose Them'
            when r_score = 2 and f_score <= 2 then 'Hibernating'
            when r_score = 1 and f_score = 2 then 'Hibernating'
            when r_score = 1 and f_score = 1 then 'Lost'
        end as expected_segment
    from pairs
),

final as (
    select
        classic.r_score,
        classic.f_score,
        classic.expected_segment,
        segment_map.segment
    from classic
    left join segment_map
        on
            classic.r_score = segment_map.r_score
            and classic.f_score = segment_map.f_score
    where segment_map.segment is null or segment_map.segment <> classic.expected_segment
)

select * from final
