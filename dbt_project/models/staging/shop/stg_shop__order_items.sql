with

source as (
    select * from {{ source('shop', 'order_items') }}
),

renamed as (
    select
        cast(source.order_id as {{ dbt.type_string() }}) as order_id,
        cast(source.line_number as integer) as line_number,
        cast(source.product_id as {{ dbt.type_string() }}) as product_id,
        cast(source.quantity as integer) as quantity,
        cast(source.unit_price as {{ type_double() }}) as unit_price,
        -- contract: missing line discount and returned units mean none
        cast(coalesce(source.discount_amount, 0) as {{ type_double() }}) as discount_amount,
        cast(coalesce(source.returned_quantity, 0) as integer) as returned_quantity,
        source._source_file,
        source._loaded_at
    from source
    -- the latest load of each key: the loader marks the rows a newer version replaced
    where source._replaced_at is null
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
)

select * from final
