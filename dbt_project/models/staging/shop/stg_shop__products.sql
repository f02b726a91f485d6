with

source as (
    select * from {{ source('shop', 'products') }}
),

renamed as (
    select
        cast(source.product_id as {{ dbt.type_string() }}) as product_id,
        cast(source.product_name as {{ dbt.type_string() }}) as product_name,
        cast(source.category as {{ dbt.type_string() }}) as category,
        cast(source.list_price as {{ type_double() }}) as list_price,
        cast(source.unit_cost as {{ type_double() }}) as unit_cost,
        source._source_file,
        source._loaded_at
    from source
    -- the latest load of each key: the loader marks the rows a newer version replaced
    where source._replaced_at is null
),

final as (
    select
        product_id,
        product_name,
        category,
        list_price,
        unit_cost,
        _source_file,
        _loaded_at
    from renamed
)

select * from final
