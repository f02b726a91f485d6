{#
    Key test of a staged raw table or an incremental model: no two rows of `model` share the key,
    `column_name` or `combination_of_columns`. In a `dbt build` it looks only at the keys of the rows loaded
    since the build before it, which it finds in the watermark of `read_by` (the incremental model that
    reads the table first, or the model itself) as the build started, its `_loaded_at` (macro
    rows_new_to_the_build): each of those keys is compared with every row, so a new row that repeats an old
    key fails as well, while the old rows, tested when they came, are not grouped again. A day of a 1M shop
    loads about 0.3% of its 55M events (docs/benchmarks.md). A model's row carries the latest load of its
    own order or line, so a key written again without a new load is a key tested before. Every key
    otherwise (macro rows_new_to_the_build). The rows compared are those whose key (its first column) lies
    between the least and the greatest new key (macro new_keys_range): every row equal to a new key does, and
    where keys grow with each load (order and event ids mostly do) DuckDB skips the older row groups by their
    min/max instead of reading every key (a join on strings passes it no such range). `keys_of`: for a model
    without `_loaded_at` that is a view of one with it (fct_orders of int_orders_valued), the model whose new
    rows give the new keys. Returns the duplicated keys with their number of rows; a key with a null is
    skipped, as dbt's unique test skips nulls.
#}
{% test unique_new_keys(model, read_by, column_name=none, combination_of_columns=none, keys_of=none) %}

{%- set key = combination_of_columns or [column_name] %}
{#- the model's name; none when a `where` config made it a subquery (then every row is compared) #}
{%- set tested = model.identifier if model.identifier is defined else none %}
{%- set loaded_after = rows_new_to_the_build(read_by, tested) if tested is not none else none %}
{%- if loaded_after is not none %}
{%- set new_keys_from = model_relation(keys_of) if keys_of else model %}
{%- set in_range = new_keys_range(new_keys_from, key | first, loaded_after) %}
{%- endif %}

with

{%- if loaded_after is not none %}

new_keys as (
    select distinct {{ key | join(', ') }} from {{ new_keys_from }}
    where _loaded_at > {{ timestamp_literal(loaded_after) }}
),
{%- endif %}

keys as (
    select
        {%- for column in key %}
        tested.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }} as tested
    {%- if loaded_after is not none %}
    inner join new_keys
        on
            {%- for column in key %}
            {% if not loop.first %}and {% endif %}tested.{{ column }} = new_keys.{{ column }}
            {%- endfor %}
    {%- endif %}
    -- a key with a null is no key, as in dbt's unique test (not_null tests say whether one may be null)
    where
        {%- for column in key %}
        {% if not loop.first %}and {% endif %}tested.{{ column }} is not null
        {%- endfor %}
        {%- if in_range %}
        and {{ in_range }}
        {%- endif %}
),

duplicated as (
    select
        {{ key | join(',\n        ') }},
        count(*) as n_records
    from keys
    group by
        {{ key | join(',\n        ') }}
    having count(*) > 1
)

select * from duplicated

{% endtest %}
