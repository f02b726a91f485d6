with

source as (
    select * from {{ source('shop', 'orders') }}
),

renamed as (
    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        cast(amount as {{ type_double() }}) as charged_amount,
        -- contract: a missing status means completed
        lower(coalesce(cast(status as {{ dbt.type_string() }}), 'completed')) as status,
        -- contract: a missing order discount means none
        cast(coalesce(discount_amount, 0) as {{ type_double() }}) as order_discount_amount,
        cast(sales_channel as {{ dbt.type_string() }}) as sales_channel,
        _source_file,
        _loaded_at,
        row_number() over (
            partition by order_id
            order by _loaded_at desc, _source_file desc
        ) as load_rank
    from source
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
    where load_rank = 1
)

select * from final
