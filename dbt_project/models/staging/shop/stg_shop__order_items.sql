with

source as (
    select * from {{ source('shop', 'order_items') }}
),

-- the same key in a later load, which replaces the row: the latest load wins
later_loads as (
    select
        order_id,
        line_number,
        _loaded_at,
        _source_file
    from {{ source('shop', 'order_items') }}
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
    left join later_loads
        on {{ is_replaced_by('source', 'later_loads', ['order_id', 'line_number']) }}
    where later_loads.order_id is null
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
