{#
    Small numeric helpers shared by the feature models, so every ratio is defined the same way.
#}

{# A double-precision float type (dbt.type_float() is single precision on DuckDB). #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'customer_value')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{# numerator / denominator as a float; null when the denominator is 0 or null. #}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as {{ type_double() }}) / nullif(cast({{ denominator }} as {{ type_double() }}), 0))
{%- endmacro %}

{#
    Sum of a float column that does not depend on the order the rows arrive in: each value to 10 decimals,
    added exactly as a decimal, then a float again. A float sum's last bits follow the order DuckDB's threads
    add in, so two builds of the same rows differed (by 6e-10 in a sum of 1.6M).
#}
{% macro exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as decimal(38, 10))) as {{ type_double() }})
{%- endmacro %}

{#
    Symmetric change from `previous` to `current`: (current - previous) / (current + previous), in [-1, 1]
    for non-negative inputs: 1 = all new, 0 = flat, -1 = stopped; null when both are 0.
#}
{% macro symmetric_change(current, previous) -%}
    {{ safe_divide('(' ~ current ~ ') - (' ~ previous ~ ')', '(' ~ current ~ ') + (' ~ previous ~ ')') }}
{%- endmacro %}

{# Whole days from `start` to `end` (calendar-day boundaries crossed), portable, as a bigint on every adapter. #}
{% macro days_between(start, end) -%}
    cast({{ dbt.datediff(start, end, 'day') }} as {{ dbt.type_bigint() }})
{%- endmacro %}

{#
    Var gross_margin_rate as a number, or a compile error naming it and CVW_GROSS_MARGIN_RATE: jinja's `| float`
    read 40% or abc as 0.0, and a dbt run by hand then valued every margin without a unit cost at 0.
#}
{% macro gross_margin_rate() -%}
    {%- set text = var('gross_margin_rate') | string | trim -%}
    {%- if not modules.re.match('^[0-9]*[.]?[0-9]+$', text) or (text | float) > 1 -%}
        {{ exceptions.raise_compiler_error(
            "The dbt var gross_margin_rate=" ~ text ~ " (CVW_GROSS_MARGIN_RATE) is not a share from 0 to 1: set it"
            ~ " like 0.4 (40% is 0.4) or leave it empty."
        ) }}
    {%- endif -%}
    {{- return(text | float) -}}
{%- endmacro %}
