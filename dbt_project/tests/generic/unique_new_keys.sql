{#
    Key test of a staged raw table: no two rows of `model` share `column_name`. In a `dbt build` it looks only
    at the keys of the rows loaded since the build before it, which it finds in the watermark of
    `read_by`, the incremental model that reads the table first (its `_loaded_at`, macro
    rows_new_to_the_build): each of those keys is compared with every row, so a new row that repeats an old
    key fails as well, while the old rows, tested when they came, are not grouped again. A day of a 1M
    shop loads about 0.3% of its 55M events (docs/benchmarks.md). Every key otherwise (macro
    rows_new_to_the_build). Returns the duplicated keys, as dbt's unique test does.
#}
{% test unique_new_keys(model, column_name, read_by) %}

{%- set loaded_after = rows_new_to_the_build(read_by) %}

with

{%- if loaded_after is not none %}

new_keys as (
    select {{ column_name }} from {{ model }}
    where _loaded_at > {{ timestamp_literal(loaded_after) }}
),
{%- endif %}

keys as (
    select {{ column_name }} from {{ model }}
    {%- if loaded_after is not none %}
    where {{ column_name }} in (select new_keys.{{ column_name }} from new_keys)
    {%- endif %}
),

duplicated as (
    select
        {{ column_name }} as unique_field,
        count(*) as n_records
    from keys
    where {{ column_name }} is not null
    group by {{ column_name }}
    having count(*) > 1
)

select * from duplicated

{% endtest %}
