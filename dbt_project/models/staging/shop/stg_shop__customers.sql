with

source as (
    select * from {{ source('shop', 'customers') }}
),

renamed as (
    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(signed_up_at as {{ dbt.type_timestamp() }}) as signed_up_at,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(acquisition_channel as {{ dbt.type_string() }}) as acquisition_channel,
        cast(age_band as {{ dbt.type_string() }}) as age_band,
        _source_file,
        _loaded_at,
        row_number() over (
            partition by customer_id
            order by _loaded_at desc, _source_file desc
        ) as load_rank
    from source
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
    where load_rank = 1
)

select * from final
