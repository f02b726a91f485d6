with

source as (
    select * from {{ source('shop', 'products') }}
),

renamed as (
    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(product_name as {{ dbt.type_string() }}) as product_name,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(list_price as {{ type_double() }}) as list_price,
        cast(unit_cost as {{ type_double() }}) as unit_cost,
        _source_file,
        _loaded_at,
        row_number() over (
            partition by product_id
            order by _loaded_at desc, _source_file desc
        ) as load_rank
    from source
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
    where load_rank = 1
)

select * from final
