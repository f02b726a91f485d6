{#
    One row per customer and cutoff for every customer with a completed order line before the cutoff:
    product and category breadth from lines of completed orders placed strictly before the cutoff.

    Counts are looked up, not re-aggregated per cutoff: each customer's distinct products through every
    first purchase of a product (int_customer_product_spans), and units per category through every day
    (int_customer_category_spans), hold from there up to the next change, so a cutoff reads the one row
    per customer (and category) whose span holds it.

    A table, incremental by cutoff like int_orders_aggregated_to_cutoffs (see there).
#}

{{
    config(
        materialized='incremental',
        unique_key='cutoff_date',
        post_hook=[
            "{{ delete_cutoffs_off_the_spine() }}",
            "{{ record_watermark('int_order_items_aggregated_to_cutoffs', feature_input_relations()) }}",
        ]
    )
}}

{%- set cutoffs_to_build = spine_cutoffs_to_build(feature_input_changes(), stale_cutoffs) %}

with

product_spans as (
    select * from {{ ref('int_customer_product_spans') }}
),

category_spans as (
    select * from {{ ref('int_customer_category_spans') }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

products_at_cutoffs as (
    select
        product_spans.customer_id,
        cutoffs.cutoff_date,
        cutoffs.is_scoring_date,
        product_spans.distinct_products
    from cutoffs
    inner join product_spans
        on
            cutoffs.cutoff_at > product_spans.first_bought_at
            and cutoffs.cutoff_at <= product_spans.next_first_bought_at
),

category_units_at_cutoffs as (
    select
        category_spans.customer_id,
        cutoffs.cutoff_date,
        category_spans.category,
        category_spans.units
    from cutoffs
    inner join category_spans
        on
            cutoffs.cutoff_date > category_spans.span_from_date
            and cutoffs.cutoff_date <= category_spans.next_order_date
),

categories_at_cutoffs as (
    select
        customer_id,
        cutoff_date,
        -- a missing category is one group in the share but not a distinct category
        count(category) as distinct_categories,
        {{ safe_divide('max(units)', 'sum(units)') }} as top_category_share
    from category_units_at_cutoffs
    group by
        customer_id,
        cutoff_date
),

final as (
    select
        products_at_cutoffs.customer_id,
        products_at_cutoffs.cutoff_date,
        products_at_cutoffs.is_scoring_date,
        products_at_cutoffs.distinct_products,
        categories_at_cutoffs.distinct_categories,
        categories_at_cutoffs.top_category_share
    from products_at_cutoffs
    -- both sides hold exactly the (customer, cutoff) pairs with a completed line before the cutoff; an inner
    -- join lets a filter on cutoff_date reach both
    inner join categories_at_cutoffs
        on
            products_at_cutoffs.customer_id = categories_at_cutoffs.customer_id
            and products_at_cutoffs.cutoff_date = categories_at_cutoffs.cutoff_date
)

select * from final
