{#
    One row per order line, priced: revenue net of returns and line discount, and margin from the
    product's unit_cost, or revenue x var gross_margin_rate when the cost is unknown. A returned unit
    gives back its share of the line discount, so a fully returned line is worth 0, never less:
    revenue = kept units x unit_price - discount x kept units / units.
#}

with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

joined as (
    select
        order_items.order_id,
        order_items.line_number,
        orders.customer_id,
        orders.ordered_at,
        orders.status = 'cancelled' as is_cancelled,
        order_items.product_id,
        products.category,
        order_items.quantity,
        order_items.returned_quantity,
        order_items.quantity - order_items.returned_quantity as kept_quantity,
        order_items.unit_price,
        products.unit_cost,
        order_items.discount_amount,
        -- the part of the line discount that stays with the kept units
        case
            when order_items.quantity = 0 then 0
            else order_items.discount_amount * (order_items.quantity - order_items.returned_quantity)
                / order_items.quantity
        end as kept_discount_amount
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    left join products
        on order_items.product_id = products.product_id
),

priced as (
    select
        order_id,
        line_number,
        customer_id,
        ordered_at,
        is_cancelled,
        product_id,
        category,
        quantity,
        returned_quantity,
        kept_quantity,
        unit_price,
        unit_cost,
        unit_cost is not null as has_unit_cost,
        quantity * unit_price as gross_amount,
        kept_quantity * unit_price as kept_gross_amount,
        discount_amount,
        kept_discount_amount,
        kept_quantity * unit_price - kept_discount_amount as revenue,
        case
            when unit_cost is not null
                then kept_quantity * (unit_price - unit_cost) - kept_discount_amount
            else (kept_quantity * unit_price - kept_discount_amount) * {{ var('gross_margin_rate') }}
        end as margin
    from joined
),

final as (
    select * from priced
)

select * from final
