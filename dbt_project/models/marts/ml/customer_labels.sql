{#
    One row per (customer_id, cutoff_date, horizon_days): every customer_features row at a cutoff whose
    whole horizon window has been observed (cutoff_date + horizon_days <= the as-of date), for each of
    var label_horizons. The horizon window is cutoff_date <= ordered_at < cutoff_date + horizon_days;
    only completed orders count.

    Incremental by cutoff (delete+insert on cutoff_date): a run rebuilds the cutoffs with a complete
    window the table lacks (a window that completed since the last build) or a window ending after the
    first day touched by orders loaded since, or by the former date of an order reloaded since (their
    population or their window changed); a pre-hook deletes those cutoffs first, so one left without a row
    keeps none (macro delete_cutoffs_to_rebuild). A post-hook drops labels whose cutoff left the spine, whose
    horizon left var label_horizons or whose window is no longer complete (an earlier as_of_date), and
    records the watermark.
#}

{{
    config(
        materialized='incremental',
        unique_key='cutoff_date',
        pre_hook=["{{ delete_cutoffs_to_rebuild(label_input_changes(), stale_label_cutoffs) }}"],
        post_hook=[
            "{{ delete_invalid_labels() }}",
            "{{ record_watermark('customer_labels', [ref('int_orders_valued')]) }}",
        ]
    )
}}

{%- set cutoffs_to_build = spine_cutoffs_to_build(label_input_changes(), stale_label_cutoffs) %}

with

features as (
    select * from {{ ref('customer_features') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

orders as (
    select * from {{ ref('int_orders_valued') }}
),

horizons as (
    {{ label_horizon_rows() }}
),

label_windows as (
    select
        features.customer_id,
        features.cutoff_date,
        horizons.horizon_days,
        cutoffs.cutoff_at,
        {{ dbt.dateadd('day', 'horizons.horizon_days', 'cutoffs.cutoff_at') }} as horizon_end_at,
        cutoffs.data_end_date
    from features
    inner join cutoffs
        on features.cutoff_date = cutoffs.cutoff_date
    cross join horizons
),

{{ window_outcomes('label_windows', 'orders') }},

final as (
    select
        customer_id,
        cutoff_date,
        horizon_days,
        horizon_end_date,
        orders,
        revenue,
        margin,
        is_churned
    from window_outcomes
)

select * from final
