{#
    Whether a source table exists in the warehouse yet (the tables the pipeline writes from Python: scores,
    evaluations, backtests). It asks the warehouse (introspection); without it (`--no-introspect`, an offline
    compile) and while dbt parses, it says yes, so the full query renders.
#}
{% macro source_exists(source_name, table_name) -%}
    {%- if execute and flags.INTROSPECT -%}
        {%- set relation = source(source_name, table_name) -%}
        {{- return(adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none) -}}
    {%- endif -%}
    {{- return(true) -}}
{%- endmacro %}

{#
    The lower-case column names of a source table, asked by introspection: for a table the pipeline gained
    columns of after its first release. Empty when it does not exist, while dbt parses and in an offline
    compile (`--no-introspect`), so the model renders the query of a table without them.
#}
{% macro source_columns(source_name, table_name) -%}
    {%- set names = [] -%}
    {%- if execute and flags.INTROSPECT -%}
        {%- for column in adapter.get_columns_in_relation(source(source_name, table_name)) -%}
            {%- do names.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(names) -}}
{%- endmacro %}

{#
    The model's contract columns as typed nulls (`cast(null as <data_type>) as <name>`), joined by
    `separator`: the select list of an empty result with the contract's columns, for a model whose source
    does not exist yet.
#}
{% macro contract_nulls(separator=',\n    ') -%}
    {%- set columns = [] -%}
    {%- for column in model.columns.values() -%}
        {%- do columns.append('cast(null as ' ~ column.data_type ~ ') as ' ~ column.name) -%}
    {%- endfor -%}
    {{- return(columns | join(separator)) -}}
{%- endmacro %}

{# An empty result with the model's contract columns: the model of a source that does not exist yet. #}
{% macro empty_contract_result() -%}
select
    {{ contract_nulls() }}
where 1 = 0
{%- endmacro %}
