with

source as (
    select * from {{ source('shop', 'events') }}
),

renamed as (
    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(session_id as {{ dbt.type_string() }}) as session_id,
        -- anonymous visitors: an empty customer id means none
        nullif(cast(customer_id as {{ dbt.type_string() }}), '') as customer_id,
        lower(cast(event_type as {{ dbt.type_string() }})) as event_type,
        cast(event_at as {{ dbt.type_timestamp() }}) as event_at,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        _source_file,
        _loaded_at,
        row_number() over (
            partition by event_id
            order by _loaded_at desc, _source_file desc
        ) as load_rank
    from source
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
    where load_rank = 1
)

select * from final
