{#
    One row per customer and cutoff for every customer with a completed order line before the cutoff:
    product and category breadth from lines of completed orders placed strictly before the cutoff.
#}

with

order_items as (
    select * from {{ ref('int_order_items_priced') }}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
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

products_at_cutoffs as (
    select
        customer_products.customer_id,
        cutoffs.cutoff_date,
        count(*) as distinct_products
    from cutoffs
    inner join customer_products
        on cutoffs.cutoff_at > customer_products.first_bought_at
    group by
        customer_products.customer_id,
        cutoffs.cutoff_date
),

category_units_at_cutoffs as (
    select
        customer_category_days.customer_id,
        cutoffs.cutoff_date,
        customer_category_days.category,
        sum(customer_category_days.units) as units
    from cutoffs
    inner join customer_category_days
        on cutoffs.cutoff_date > customer_category_days.order_date
    group by
        customer_category_days.customer_id,
        cutoffs.cutoff_date,
        customer_category_days.category
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
