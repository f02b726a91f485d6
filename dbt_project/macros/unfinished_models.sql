{#
    The record of the models a build left unfinished (dbt_project.yml's on-run-start and on-run-end hooks).
    dbt commits each model on its own, so a build that fails or is killed halfway leaves the marts holding
    some models of the new build and some of the old: the start hook writes one row per model the build
    selected into intermediate.unfinished_models before any model runs (a model an earlier build left
    unfinished keeps its row and its time), and the end hook deletes the rows of the models this build
    finished. A model is finished when it built successfully, no data test on it failed, and no model
    upstream of it stays unfinished; a failed, skipped or never reached model keeps its row, and a killed
    build never reaches the end hook, so it keeps them all. Readers of the marts refuse the models still
    recorded (include/unfinished.py). A model renamed or deleted since a build listed it leaves the list once
    a build finishes the models that now build its relation (at once when none does).
#}
{% macro unfinished_models_relation() -%}
    {{- return(api.Relation.create(
        database=target.database, schema=generate_schema_name('intermediate', none), identifier='unfinished_models'
    )) -}}
{%- endmacro %}

{% macro mark_selected_models() -%}
    {%- if execute -%}
        {%- set table = unfinished_models_relation() -%}
        {%- set selected = [] -%}
        {%- for unique_id in selected_resources if unique_id in graph.nodes -%}
            {%- set node = graph.nodes[unique_id] -%}
            {%- if node.resource_type == 'model' and node.config.materialized != 'ephemeral' -%}
                {%- do selected.append(node) -%}
            {%- endif -%}
        {%- endfor -%}
        create schema if not exists {{ table.without_identifier().include(database=false) }};
        create table if not exists {{ table }} (
            model_id varchar(256), relation_name varchar(512), marked_at {{ dbt.type_timestamp() }},
            invocation_id varchar(64)
        );
        {%- if selected %}
        insert into {{ table }} (model_id, relation_name, marked_at, invocation_id)
        select
            selected_models.model_id,
            selected_models.relation_name,
            cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}),
            '{{ invocation_id }}'
        from (
            values
            {%- for node in selected %}
            ('{{ node.unique_id }}', '{{ node.schema }}.{{ node.alias }}'){{ ',' if not loop.last }}
            {%- endfor %}
        ) as selected_models (model_id, relation_name)
        where selected_models.model_id not in (select recorded.model_id from {{ table }} as recorded)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro clear_finished_models(results) -%}
    {%- if execute -%}
        {%- set relation = unfinished_models_relation() -%}  {#- the start hook made it: dbt's cache does not know it -#}
        {%- set built, doubted = [], [] -%}
        {%- for result in results if result.node is defined -%}
            {%- set node = result.node -%}
            {%- if node.resource_type == 'model' and result.status == 'success' -%}
                {%- do built.append(node.unique_id) -%}
            {%- elif node.resource_type == 'test' and result.status in ('fail', 'error') -%}
                {#- a test of a column names its model; a singular test, the models it reads -#}
                {%- do doubted.extend([node.attached_node] if node.attached_node else node.depends_on.nodes) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if built -%}
            {%- set rows = run_query('select model_id, relation_name from ' ~ relation).rows -%}
            {%- set recorded = rows | map(attribute=0) | list -%}
            {%- set unfinished = [] -%}
            {%- for model_id in recorded if model_id not in built or model_id in doubted -%}
                {%- do unfinished.append(model_id) -%}
            {%- endfor -%}
            {%- set finished = [] -%}
            {%- for model_id in built if model_id in recorded and model_id not in unfinished -%}
                {%- set upstream = [model_id] -%}
                {%- for unique_id in upstream -%}  {#- the list grows as the loop reads it -#}
                    {%- for parent in graph.nodes[unique_id].depends_on.nodes
                        if parent in graph.nodes and parent not in upstream -%}
                        {%- do upstream.append(parent) -%}
                    {%- endfor -%}
                {%- endfor -%}
                {%- if upstream | select('in', unfinished) | list | length == 0 -%}
                    {%- do finished.append(model_id) -%}
                {%- endif -%}
            {%- endfor -%}
            {#- a model renamed or deleted since a build listed it: no build finishes its id again. Its row goes
                when this build finished the models that now build its relation, or when none does -#}
            {%- set builders = {} -%}
            {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.config.materialized != 'ephemeral' -%}
                {%- do builders.setdefault(node.schema ~ '.' ~ node.alias, []).append(node.unique_id) -%}
            {%- endfor -%}
            {%- for model_id, relation_name in rows if model_id not in graph.nodes -%}
                {%- if builders.get(relation_name, []) | reject('in', finished) | list | length == 0 -%}
                    {%- do finished.append(model_id) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if finished %}
            delete from {{ relation }} where model_id in (
                {%- for model_id in finished %}'{{ model_id }}'{{ ', ' if not loop.last }}{% endfor -%}
            )
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
