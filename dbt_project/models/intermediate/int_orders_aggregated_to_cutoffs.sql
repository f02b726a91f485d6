{#
    Order features per (customer_id, cutoff_date) at every cutoff of the spine but the scoring date, for
    every customer with any order (completed or cancelled) before the cutoff; the query and the features'
    definitions are macro order_features_at_cutoffs (macros/order_features.sql), which customer_features
    runs for the scoring date itself: a daily run writes the scoring date's rows once, into the mart.
#}

{{
    config(
        materialized='incremental',
        unique_key='cutoff_date',
        pre_hook=["{{ delete_cutoffs_to_rebuild(feature_input_changes(), stale_cutoffs) }}"],
        post_hook=[
            "{{ delete_cutoffs_off_the_spine() }}",
            "{{ record_watermark('int_orders_aggregated_to_cutoffs', feature_input_relations()) }}",
        ]
    )
}}

{%- set cutoffs_to_build = spine_cutoffs_to_build(feature_input_changes(), stale_cutoffs) %}
{%- set other_cutoffs = split_scoring_date(cutoffs_to_build)[1] if cutoffs_to_build is not none else none %}

{{ order_features_at_cutoffs(other_cutoffs, scoring_date=false) }}
