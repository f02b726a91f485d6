{#
    What the data tests of a `dbt build` check. A daily build rebuilds one or two cutoffs of the marts over
    the cutoff spine and keeps the others, which the build that wrote them tested; testing every row of them
    again each day cost more than the day's models at 1M customers (docs/benchmarks.md, "The daily tests at
    1M"). So in a build the tests of those marts check the cutoffs the build rebuilt, and every row whenever
    that is not known: `dbt test` on its own, a full build (`--full-refresh`, or a mart without a watermark
    yet), a build that did not run the mart. The key tests of the raw events and order lines likewise check
    the rows loaded since the last build (tests/generic/unique_new_keys.sql). Var test_every_row (default
    false) makes a build test every row.
#}

{#
    The cutoffs this dbt invocation rebuilt in the marts named `model_names` ('YYYY-MM-DD' strings, sorted, the
    union over the marts): the answers macro spine_cutoffs_to_build kept in the run cache for each incremental
    run of them (its key starts 'spine_cutoffs_to_build <unique_id> '; that macro is not changed for this, as
    a change to it asks every warehouse for a full refresh). None (every cutoff) when any of them did not run
    incrementally in this invocation, or var test_every_row is true.
#}
{% macro cutoffs_rebuilt_by(model_names) -%}
    {%- if not execute or every_row_tested() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set cache = run_cache() -%}
    {%- set rebuilt = [] -%}
    {%- for model_name in model_names -%}
        {%- set prefix = 'spine_cutoffs_to_build model.' ~ project_name ~ '.' ~ model_name ~ ' ' -%}
        {%- set answers = [] -%}
        {%- for key, cutoffs in cache.items() if key.startswith(prefix) -%}
            {%- do answers.append(cutoffs) -%}
        {%- endfor -%}
        {%- if answers | length != 1 or answers[0] is none -%}
            {{- return(none) -}}
        {%- endif -%}
        {%- for cutoff in answers[0] if cutoff not in rebuilt -%}
            {%- do rebuilt.append(cutoff) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(rebuilt | sort) -}}
{%- endmacro %}

{#
    A SQL condition keeping the rows of the marts `model_names` at the cutoffs this invocation rebuilt (macro
    cutoffs_rebuilt_by): true for every row, `1 = 0` when the runs rebuilt none.
#}
{% macro rebuilt_cutoffs_condition(column, model_names) -%}
    {{- date_in(column, cutoffs_rebuilt_by(model_names)) -}}
{%- endmacro %}

{#
    dbt's get_where_subquery, the relation a generic test reads, with one placeholder more in its `where`
    config: `__rebuilt_cutoffs__` becomes macro rebuilt_cutoffs_condition on the tested mart's cutoff_date,
    e.g. `config: {where: __rebuilt_cutoffs__}` on a test of customer_features.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__rebuilt_cutoffs__' in where -%}
        {%- set where = where | replace(
            '__rebuilt_cutoffs__', rebuilt_cutoffs_condition('cutoff_date', [relation.identifier])
        ) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{- return(filtered) -}}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}

{#
    For a test of a staged raw table in a `dbt build`: the latest `_loaded_at` the incremental model `read_by`
    holds, before the build runs it (a model's tests run before the models that read it), so the rows loaded
    after it are the ones this build brings. None (every row) in `dbt test`, a full build, with var
    test_every_row, or before `read_by` exists.
#}
{% macro rows_new_to_the_build(read_by) -%}
    {%- if not execute or flags.WHICH != 'build' or flags.FULL_REFRESH or every_row_tested() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema=generate_schema_name('intermediate', none), identifier=read_by
    ) -%}
    {%- if relation is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(run_query('select max(_loaded_at) from ' ~ relation).columns[0].values()[0]) -}}
{%- endmacro %}

{#
    Var test_every_row as a boolean: true, or the text 'true' in any case (Airflow renders the transform DAG's
    param into the build's vars as 'True' or 'False', and the text 'False' would be true in Jinja).
#}
{% macro every_row_tested() -%}
    {{- return((var('test_every_row', false) | string | lower) == 'true') -}}
{%- endmacro %}
