{#
    One row per customer and cutoff for every customer with a completed order line before the cutoff:
    product and category breadth from lines of completed orders placed strictly before the cutoff.

    Counts are looked up, not re-aggregated per cutoff: each customer's distinct products through every
    first purchase of a product, and units per category through every day, hold from there up to the
    next change, so a cutoff reads the one row per customer (and category) whose span holds it. A run of
    one cutoff (the daily scoring date) counts them straight from the lines before it instead: the same
    integers without sorting every customer's history (half the time at 1M customers).

    A table, incremental by cutoff like int_orders_aggregated_to_cutoffs (see there). A daily run, which
    builds the new scoring date alone, carries each customer's counts from the scoring date the table holds
    when nothing loaded since touches a day before it (macro scoring_date_to_carry), and counts again only the
    customers with a completed line since: lifetime counts change with new lines alone.
#}

{{
    config(
        materialized='incremental',
        unique_key='cutoff_date',
        pre_hook=["{{ delete_cutoffs_to_rebuild(feature_input_changes(), stale_cutoffs) }}"],
        post_hook=[
            "{{ delete_cutoffs_off_the_spine() }}",
            "{{ record_watermark('int_order_items_aggregated_to_cutoffs', feature_input_relations()) }}",
        ]
    )
}}

{%- set cutoffs_to_build = spine_cutoffs_to_build(feature_input_changes(), stale_cutoffs) %}
{%- set one_cutoff = cutoffs_to_build is not none and cutoffs_to_build | length == 1 %}
{%- set carry_from = scoring_date_to_carry(cutoffs_to_build) if one_cutoff and is_incremental() else none %}

with

order_items as (
    select * from {{ ref('int_order_items_priced') }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }}
),

completed_items as (
    select
        customer_id,
        product_id,
        category,
        ordered_at,
        cast(ordered_at as date) as order_date,
        quantity
    from order_items
    where not is_cancelled
),

{%- if one_cutoff %}
{%- if carry_from %}

-- the customers with a completed line since the scoring date this table holds: the others' counts then
-- are their counts now (nothing before it changed since)
changed_customers as (
    select distinct completed_items.customer_id
    from completed_items
    inner join cutoffs
        on completed_items.ordered_at < cutoffs.cutoff_at
    where
        completed_items.ordered_at >= cast('{{ carry_from }}' as {{ dbt.type_timestamp() }})
        and completed_items.customer_id is not null
),

carried as (
    select
        held.customer_id,
        cutoffs.cutoff_date,
        cutoffs.is_scoring_date,
        held.distinct_products,
        held.distinct_categories,
        held.top_category_share
    from {{ this }} as held
    cross join cutoffs
    left join changed_customers
        on held.customer_id = changed_customers.customer_id
    where
        held.cutoff_date = cast('{{ carry_from }}' as date)
        and changed_customers.customer_id is null
),
{%- endif %}

-- one cutoff: the lines before it, counted straight, with no step per first purchase or per day
lines_before_cutoffs as (
    select
        completed_items.customer_id,
        cutoffs.cutoff_date,
        cutoffs.is_scoring_date,
        completed_items.product_id,
        completed_items.category,
        completed_items.quantity
    from cutoffs
    inner join completed_items
        on cutoffs.cutoff_at > completed_items.ordered_at
    {%- if carry_from %}
    where completed_items.customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif %}
),

products_at_cutoffs as (
    select
        customer_id,
        cutoff_date,
        is_scoring_date,
        -- product_id is a required column of raw order_items: no line without one
        count(distinct product_id) as distinct_products
    from lines_before_cutoffs
    group by
        customer_id,
        cutoff_date,
        is_scoring_date
),

category_units_at_cutoffs as (
    select
        customer_id,
        cutoff_date,
        category,
        sum(quantity) as units
    from lines_before_cutoffs
    group by
        customer_id,
        cutoff_date,
        category
),

{%- else %}

customer_products as (
    select
        customer_id,
        product_id,
        min(ordered_at) as first_bought_at
    from completed_items
    group by
        customer_id,
        product_id
),

customer_category_days as (
    select
        customer_id,
        category,
        order_date,
        sum(quantity) as units
    from completed_items
    group by
        customer_id,
        category,
        order_date
),

-- the customer's distinct products through each first purchase of a product, up to the next one
product_counts as (
    select
        customer_id,
        first_bought_at,
        coalesce(
            lead(first_bought_at) over customer_firsts,
            cast('9999-12-31' as {{ dbt.type_timestamp() }})
        ) as next_first_bought_at,
        row_number() over customer_firsts as distinct_products
    from customer_products
    window customer_firsts as (
        partition by customer_id
        order by first_bought_at, product_id
    )
),

products_at_cutoffs as (
    select
        product_counts.customer_id,
        cutoffs.cutoff_date,
        cutoffs.is_scoring_date,
        product_counts.distinct_products
    from cutoffs
    inner join product_counts
        on
            cutoffs.cutoff_at > product_counts.first_bought_at
            and cutoffs.cutoff_at <= product_counts.next_first_bought_at
),

-- the units the customer bought in each category through each day, up to the next day with some
category_running_units as (
    select
        customer_id,
        category,
        order_date,
        coalesce(
            lead(order_date) over customer_category,
            cast('9999-12-31' as date)
        ) as next_order_date,
        sum(units) over customer_category as units
    from customer_category_days
    window customer_category as (
        partition by customer_id, category
        order by order_date
        rows between unbounded preceding and current row
    )
),

category_units_at_cutoffs as (
    select
        category_running_units.customer_id,
        cutoffs.cutoff_date,
        category_running_units.category,
        category_running_units.units
    from cutoffs
    inner join category_running_units
        on
            cutoffs.cutoff_date > category_running_units.order_date
            and cutoffs.cutoff_date <= category_running_units.next_order_date
),

{%- endif %}

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
    {%- if carry_from %}
    union all
    select * from carried
    {%- endif %}
)

select * from final
