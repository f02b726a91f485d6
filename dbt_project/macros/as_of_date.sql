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
        cast('{{ iso_date_text("as_of_date", value) }}' as date)
    {%- endif -%}
{%- endmacro %}

{#
    The dates of var `extra_cutoff_dates` (a list of YYYY-MM-DD, or one date) as sorted, distinct
    'YYYY-MM-DD' strings; an empty list when the var is unset or empty.
#}
{% macro extra_cutoff_dates() -%}
    {%- set value = var('extra_cutoff_dates', []) -%}
    {%- if value is none or (value is string and value | trim == '') -%}
        {%- set value = [] -%}
    {%- elif value is string or value is not iterable -%}
        {%- set value = [value] -%}
    {%- endif -%}
    {%- set dates = [] -%}
    {%- for item in value -%}
        {%- do dates.append(iso_date_text('extra_cutoff_dates', item)) -%}
    {%- endfor -%}
    {{- return(dates | unique | sort | list) -}}
{%- endmacro %}

{#
    A date var's value as 'YYYY-MM-DD' text, or a compile error naming the var and the expected form.
    YAML on the command line (`--vars '{as_of_date: 2024-10-01}'`) already gives a date: its text is the same.
#}
{% macro iso_date_text(var_name, value) -%}
    {%- set text = value | string | trim -%}
    {%- set is_date = modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$', text) -%}
    {#- the day must be in its month (2023-02-29 is not a date; 2024-02-29 is), checked before strptime
        would fail on it with Python's words, naming no var -#}
    {%- if is_date -%}
        {%- set year, month, day = text[0:4] | int, text[5:7] | int, text[8:10] | int -%}
        {%- set leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) -%}
        {%- set month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
        {%- set is_date = year >= 1 and day <= month_days[month - 1] -%}
    {%- endif -%}
    {%- if not is_date -%}
        {{ exceptions.raise_compiler_error(
            "The dbt var " ~ var_name ~ "=" ~ text ~ " is not a date: pass it as YYYY-MM-DD"
            ~ (" or leave it null." if var_name == "as_of_date" else ".")
        ) }}
    {%- endif -%}
    {{- return(modules.datetime.datetime.strptime(text, '%Y-%m-%d').strftime('%Y-%m-%d')) -}}
{%- endmacro %}

{#
    A whole-number var's value as an int, or a compile error naming the var, the least value it takes and an
    example: jinja's `| int` reads 'abc' as 0 and 400.5 as 400, which would build the wrong marts without a word.
#}
{% macro whole_number(var_name, value, minimum, example) -%}
    {%- set text = value | string | trim -%}
    {%- if value is boolean or not modules.re.match('^[0-9]+$', text) or text | int < minimum -%}
        {{ exceptions.raise_compiler_error(
            "The dbt var " ~ var_name ~ "=" ~ text ~ " is not a whole number of at least " ~ minimum
            ~ ": set it like " ~ example ~ "."
        ) }}
    {%- endif -%}
    {{- return(text | int) -}}
{%- endmacro %}

{# The horizons of var label_horizons, in days, as ints (a compile error for one that is not a whole day). #}
{% macro label_horizons() -%}
    {%- set value = var('label_horizons') -%}
    {%- if value is string or value is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "The dbt var label_horizons=" ~ value ~ " is not a list of days: set it like [90, 365]."
        ) }}
    {%- endif -%}
    {%- set horizons = [] -%}
    {%- for days in value -%}
        {%- do horizons.append(whole_number('label_horizons', days, 1, '[90, 365]')) -%}
    {%- endfor -%}
    {{- return(horizons) -}}
{%- endmacro %}
