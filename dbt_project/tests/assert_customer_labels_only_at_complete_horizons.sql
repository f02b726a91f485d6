{#
    Labels exist exactly where their horizon window is complete: every label's window ends by the as-of
    date, and every customer_features row at a cutoff with a complete window has its label. Returns the
    labels that should not exist and the ones that are missing.
#}

with

-- in a build, the cutoffs it rebuilt in either mart (macro rebuilt_cutoffs_condition); the others were
-- checked when written
labels as (
    select * from {{ ref('customer_labels') }}
    where {{ rebuilt_cutoffs_condition('cutoff_date', ['customer_features', 'customer_labels']) }}
),

features as (
    select * from {{ ref('customer_features') }}
    where {{ rebuilt_cutoffs_condition('cutoff_date', ['customer_features', 'customer_labels']) }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
),

horizons as (
    {{ label_horizon_rows() }}
),

expected as (
    select
        features.customer_id,
        features.cutoff_date,
        horizons.horizon_days,
        cast({{ dbt.dateadd('day', 'horizons.horizon_days', 'features.cutoff_date') }} as date) as horizon_end_date
    from features
    inner join cutoffs
        on features.cutoff_date = cutoffs.cutoff_date
    cross join horizons
    where
        cast({{ dbt.dateadd('day', 'horizons.horizon_days', 'features.cutoff_date') }} as date)
        <= cutoffs.data_end_date
),

unexpected_labels as (
    select
        labels.customer_id,
        labels.cutoff_date,
        labels.horizon_days,
        'label at an incomplete horizon or without a feature row' as problem
    from labels
    left join expected
        on
            labels.customer_id = expected.customer_id
            and labels.cutoff_date = expected.cutoff_date
            and labels.horizon_days = expected.horizon_days
            and labels.horizon_end_date = expected.horizon_end_date
    where expected.customer_id is null
),

missing_labels as (
    select
        expected.customer_id,
        expected.cutoff_date,
        expected.horizon_days,
        'missing label at a complete horizon' as problem
    from expected
    left join labels
        on
            expected.customer_id = labels.customer_id
            and expected.cutoff_date = labels.cutoff_date
            and expected.horizon_days = labels.horizon_days
    where labels.customer_id is null
),

final as (
    select
        customer_id,
        cutoff_date,
        horizon_days,
        problem
    from unexpected_labels
    union all
    select
        customer_id,
        cutoff_date,
        horizon_days,
        problem
    from missing_labels
)

select * from final
