{#
    One row per customer, category and day with an order line of the customer in the category: the units
    the customer had bought in the category in completed orders through that day, held up to the next day
    with a completed line in it (next_order_date), so int_order_items_aggregated_to_cutoffs finds each
    category's units before any cutoff in one row, without summing every line again at each run. A day
    with cancelled lines only keeps a row with a null span_from_date (no cutoff finds it), so that the
    customer's rows are replaced when an order is cancelled.

    Incremental by customer (delete+insert on customer_id), like int_customer_product_spans.
#}

{{
    config(
        materialized='incremental',
        unique_key='customer_id'
    )
}}

{%- set loaded_after = loaded_through(this) if is_incremental() else none %}

with

order_items as (
    select * from {{ ref('int_order_items_priced') }}
    where customer_id is not null
),

lines_to_span as (
    {{ rows_of_keys_loaded_after('order_items', 'customer_id', loaded_after) }}
),

customer_category_days as (
    select
        customer_id,
        category,
        cast(ordered_at as date) as order_date,
        -- the day counts from the first cutoff after it when it has a completed line
        case when bool_or(not is_cancelled) then cast(ordered_at as date) end as span_from_date,
        sum(case when not is_cancelled then quantity else 0 end) as units,
        max(_loaded_at) as _loaded_at
    from lines_to_span
    group by
        customer_id,
        category,
        cast(ordered_at as date)
),

final as (
    select
        customer_id,
        category,
        order_date,
        span_from_date,
        coalesce(
            lead(span_from_date) over customer_category,
            cast('9999-12-31' as date)
        ) as next_order_date,
        sum(units) over customer_category as units,
        _loaded_at
    from customer_category_days
    window customer_category as (
        partition by customer_id, category
        order by span_from_date nulls last, order_date
        rows between unbounded preceding and current row
    )
)

select * from final
