{#
    The warehouse's as-of date as a SQL date expression: the `as_of_date` var when set (YYYY-MM-DD),
    else the day after the last order in the data. Resolved here only; models read it from
    int_cutoff_spine (`data_end_date`, or the cutoff where `is_scoring_date`).
#}
{% macro as_of_date() -%}
    {#- Always ref the orders, so the DAG is the same whether or not the var is set. -#}
    {%- set orders = ref('stg_shop__orders') -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        (select cast({{ dbt.dateadd('day', 1, 'max(ordered_at)') }} as date) from {{ orders }})
    {%- else -%}
        {%- set text = value | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$', text) -%}
            {{ exceptions.raise_compiler_error(
                "The dbt var as_of_date=" ~ text ~ " is not a date: pass it as YYYY-MM-DD or leave it null."
            ) }}
        {%- endif -%}
        {%- set parsed = modules.datetime.datetime.strptime(text, '%Y-%m-%d') -%}
        cast('{{ parsed.strftime("%Y-%m-%d") }}' as date)
    {%- endif -%}
{%- endmacro %}
