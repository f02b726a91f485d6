with

source as (
    select * from {{ source('shop', 'orders') }}
),

renamed as (
    select
        cast(source.order_id as {{ dbt.type_string() }}) as order_id,
        cast(source.customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(source.ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        cast(source.amount as {{ type_double() }}) as charged_amount,
        -- contract: a missing status means completed
        lower(coalesce(cast(source.status as {{ dbt.type_string() }}), 'completed')) as status,
        -- contract: a missing order discount means none
        cast(coalesce(source.discount_amount, 0) as {{ type_double() }}) as order_discount_amount,
        cast(source.sales_channel as {{ dbt.type_string() }}) as sales_channel,
        source._source_file,
        source._loaded_at
    from source
    -- the latest load of each key: the loader marks the rows a newer version replaced
    where source._replaced_at is null
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        charged_amount,
        status,
        order_discount_amount,
        sales_channel,
        _source_file,
        _loaded_at
    from renamed
)

select * from final
