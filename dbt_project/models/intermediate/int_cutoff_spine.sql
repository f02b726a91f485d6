{#
    The cutoff dates features and labels are computed at: the first day of every month that is at
    least var spine_min_history_days after the first order and before the as-of date, plus the as-of
    date itself (the scoring cutoff). Var spine_months keeps only the latest N monthly cutoffs (0: the
    scoring cutoff alone; null: all). Var extra_cutoff_dates adds dates of its own (e.g. the reference
    dates of a published evaluation), whatever spine_min_history_days and spine_months say, when they
    are before the as-of date. A cutoff is midnight at the start of cutoff_date: only data strictly
    before it is history.
#}

{%- set spine_months = var('spine_months', none) %}
{%- set months_kept = -1 if spine_months is none or (spine_months | string | trim) == ''
    else whole_number('spine_months', spine_months, 0, '12 or leave it null') %}
{%- set min_history_days = whole_number('spine_min_history_days', var('spine_min_history_days'), 0, '90') %}
{%- set extra_dates = extra_cutoff_dates() %}
{%- set latest_month_start = dbt.date_trunc('month', dbt.dateadd('day', -1, 'data_end_date')) %}

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

bounds as (
    select
        {{ as_of_date() }} as data_end_date,
        cast(min(ordered_at) as date) as first_order_date
    from orders
),

first_cutoff as (
    select
        data_end_date,
        cast(
            {{ dbt.dateadd('day', min_history_days, 'first_order_date') }} as date
        ) as earliest_cutoff_date
    from bounds
),

first_month as (
    select
        data_end_date,
        earliest_cutoff_date,
        cast({{ dbt.date_trunc('month', 'earliest_cutoff_date') }} as date) as first_month_start
    from first_cutoff
),

month_offsets as (
    -- 100 years of months; the filter below keeps those before the as-of date
    {{ dbt.generate_series(1200) }}
),

month_starts as (
    select
        first_month.data_end_date,
        first_month.earliest_cutoff_date,
        cast(
            {{ dbt.dateadd('month', 'month_offsets.generated_number - 1', 'first_month.first_month_start') }}
            as date
        ) as cutoff_date
    from first_month
    cross join month_offsets
),

monthly_cutoffs as (
    select
        cutoff_date,
        false as is_scoring_date,
        data_end_date
    from month_starts
    where
        cutoff_date >= earliest_cutoff_date
        and cutoff_date < data_end_date
        -- var spine_months: only the latest N month starts before the as-of date (-1: all of them)
        and (
            {{ months_kept }} < 0
            or cutoff_date >= cast({{ dbt.dateadd('month', 1 - months_kept, latest_month_start) }} as date)
        )
),

scoring_cutoff as (
    select
        data_end_date as cutoff_date,
        true as is_scoring_date,
        data_end_date
    from bounds
),

{%- if extra_dates %}

extra_dates as (
    {%- for extra_date in extra_dates %}
    select cast('{{ extra_date }}' as date) as cutoff_date
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

extra_cutoffs as (
    select
        extra_dates.cutoff_date,
        false as is_scoring_date,
        bounds.data_end_date
    from extra_dates
    cross join bounds
    where extra_dates.cutoff_date < bounds.data_end_date
),
{%- endif %}

cutoffs as (
    select
        cutoff_date,
        is_scoring_date,
        data_end_date
    from monthly_cutoffs
    {%- if extra_dates %}
    -- an extra date that is also a month start is one cutoff
    union
    select
        cutoff_date,
        is_scoring_date,
        data_end_date
    from extra_cutoffs
    {%- endif %}
    union all
    select
        cutoff_date,
        is_scoring_date,
        data_end_date
    from scoring_cutoff
),

final as (
    select
        cutoff_date,
        cast(cutoff_date as {{ dbt.type_timestamp() }}) as cutoff_at,
        is_scoring_date,
        data_end_date
    from cutoffs
)

select * from final
