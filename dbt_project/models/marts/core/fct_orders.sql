{#
    One row per order (completed and cancelled) with its value net of returns and discounts, for BI.
    Orders without lines are valued at their charged amount (margin at var gross_margin_rate), so the
    mart is complete for shops that deliver orders alone.

    Incremental by customer (delete+insert on customer_id), like int_orders_valued: a run replaces every
    order of the customers with an order revalued since the last build (an order's sequence number and
    gap depend on the customer's other orders), or with an order reloaded since under another customer.
    The mart keeps no load time of its own (its columns are a contract), so a post-hook records the
    latest load it has seen (macro record_watermark); another deletes the rows of orders that changed
    customer.
#}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        post_hook=[
            "{{ delete_orders_of_former_customers(ref('int_orders_valued')) }}",
            "{{ record_watermark('fct_orders', [ref('int_orders_valued')]) }}",
        ]
    )
}}

{%- set since = previous_watermark('fct_orders') if is_incremental() else none %}
{%- set loaded_after = timestamp_literal(since) if since is not none else none %}

with

-- the orders of the customers to rebuild
orders_to_publish as (
    {{ orders_of_changed_customers(ref('int_orders_valued'), loaded_after) }}
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        order_date,
        status,
        is_cancelled,
        sales_channel,
        charged_amount,
        has_lines,
        cast(line_count as {{ dbt.type_bigint() }}) as line_count,
        items,
        returned_items,
        has_return,
        gross_amount,
        discount_amount,
        revenue,
        margin,
        cast(completed_order_number as {{ dbt.type_bigint() }}) as completed_order_number,
        coalesce(completed_order_number = 1, false) as is_first_order,
        cast(days_since_previous_order as {{ dbt.type_bigint() }}) as days_since_previous_order
    from orders_to_publish
)

select * from final
