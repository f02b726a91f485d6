{#
    A 64-bit hash of a row's values (`columns`, a list of column expressions), for fingerprints: the
    exclusive or (bit_xor) of the hashes of a set of rows changes when a row is added, removed or changed
    in those columns, and being an exclusive or it can be taken per group and combined (per day, then over
    a window of days). DuckDB's hash(); elsewhere a text hash of the values joined.
#}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch('row_hash', 'customer_value')(columns)) }}
{%- endmacro %}

{% macro default__row_hash(columns) -%}
    hashtextextended(concat_ws('|', {{ columns | join(', ') }}), 0)
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}
