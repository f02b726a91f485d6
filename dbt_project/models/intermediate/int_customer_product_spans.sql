{#
    One row per customer and product the customer has an order line of: when the customer first bought
    the product in a completed order, and how many distinct products the customer had bought by then. The
    count holds from first_bought_at up to the customer's next first purchase (next_first_bought_at), so
    int_order_items_aggregated_to_cutoffs finds the distinct products before any cutoff in one row,
    without ranking every line again at each run. A product bought only in cancelled orders keeps a row
    with a null first_bought_at (no cutoff finds it), so that the customer's rows are replaced when an
    order is cancelled.

    Incremental by customer (delete+insert on customer_id), like int_orders_running_totals: a run
    recomputes the customers with a line priced since the last run (macro loaded_through).
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

customer_products as (
    select
        customer_id,
        product_id,
        min(case when not is_cancelled then ordered_at end) as first_bought_at,
        max(_loaded_at) as _loaded_at
    from lines_to_span
    group by
        customer_id,
        product_id
),

final as (
    select
        customer_id,
        product_id,
        first_bought_at,
        coalesce(
            lead(first_bought_at) over customer_firsts,
            cast('9999-12-31' as {{ dbt.type_timestamp() }})
        ) as next_first_bought_at,
        -- rows without a first purchase sort last, so this counts the first purchases through the row
        count(first_bought_at) over customer_firsts as distinct_products,
        _loaded_at
    from customer_products
    window customer_firsts as (
        partition by customer_id
        order by first_bought_at nulls last, product_id
        rows between unbounded preceding and current row
    )
)

select * from final
