{#
    Grain test: no two rows of `model` share the same values of `combination_of_columns`
    (our own, since dbt_utils cannot be installed offline). Returns the duplicated keys.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

keyed as (
    select
        {{ combination_of_columns | join(',\n        ') }}
    from {{ model }}
),

duplicated as (
    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as rows_with_key
    from keyed
    group by
        {{ combination_of_columns | join(',\n        ') }}
    having count(*) > 1
)

select * from duplicated

{% endtest %}
