with

source as (
    select * from {{ source('shop', 'events') }}
),

renamed as (
    select
        cast(source.event_id as {{ dbt.type_string() }}) as event_id,
        cast(source.session_id as {{ dbt.type_string() }}) as session_id,
        -- anonymous visitors: an empty customer id means none
        nullif(cast(source.customer_id as {{ dbt.type_string() }}), '') as customer_id,
        lower(cast(source.event_type as {{ dbt.type_string() }})) as event_type,
        cast(source.event_at as {{ dbt.type_timestamp() }}) as event_at,
        cast(source.product_id as {{ dbt.type_string() }}) as product_id,
        source._source_file,
        source._loaded_at
    from source
    -- the latest load of each key: the loader marks the rows a newer version replaced
    where source._replaced_at is null
),

final as (
    select
        event_id,
        session_id,
        customer_id,
        event_type,
        event_at,
        product_id,
        _source_file,
        _loaded_at
    from renamed
)

select * from final
