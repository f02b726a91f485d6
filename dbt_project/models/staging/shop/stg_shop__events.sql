with

source as (
    select * from {{ source('shop', 'events') }}
),

-- the same key in a later load, which replaces the row: the latest load wins
later_loads as (
    select
        event_id,
        _loaded_at,
        _source_file
    from {{ source('shop', 'events') }}
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
    left join later_loads
        on {{ is_replaced_by('source', 'later_loads', ['event_id']) }}
    where later_loads.event_id is null
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
