with

source as (
    select * from {{ source('shop', 'order_items') }}
),

renamed as (
    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_number as integer) as line_number,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(quantity as integer) as quantity,
        cast(unit_price as {{ type_double() }}) as unit_price,
        -- contract: missing line discount and returned units mean none
        cast(coalesce(discount_amount, 0) as {{ type_double() }}) as discount_amount,
        cast(coalesce(returned_quantity, 0) as integer) as returned_quantity,
        _source_file,
        _loaded_at,
        row_number() over (
            partition by order_id, line_number
            order by _loaded_at desc, _source_file desc
        ) as load_rank
    from source
),

final as (
    select
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        returned_quantity,
        _source_file,
        _loaded_at
    from renamed
    where load_rank = 1
)

select * from final
