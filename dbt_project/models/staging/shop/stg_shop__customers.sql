with

source as (
    select * from {{ source('shop', 'customers') }}
),

renamed as (
    select
        cast(source.customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(source.signed_up_at as {{ dbt.type_timestamp() }}) as signed_up_at,
        cast(source.country as {{ dbt.type_string() }}) as country,
        cast(source.region as {{ dbt.type_string() }}) as region,
        cast(source.acquisition_channel as {{ dbt.type_string() }}) as acquisition_channel,
        cast(source.age_band as {{ dbt.type_string() }}) as age_band,
        source._source_file,
        source._loaded_at
    from source
    -- the latest load of each key: the loader marks the rows a newer version replaced
    where source._replaced_at is null
),

final as (
    select
        customer_id,
        signed_up_at,
        country,
        region,
        acquisition_channel,
        age_band,
        _source_file,
        _loaded_at
    from renamed
)

select * from final
