{#
    What the data tests of a `dbt build` check. A daily build rebuilds one or two cutoffs of the marts over
    the cutoff spine and keeps the others, which the build that wrote them tested; testing every row of them
    again each day cost more than the day's models at 1M customers (docs/benchmarks.md, "The daily tests at
    1M"). So in a build the tests of those marts check the cutoffs the build rebuilt, and every row whenever
    that is not known: `dbt test` on its own, a full build (`--full-refresh`, or a mart without a watermark
    yet), a build that did not run the mart. The key tests of the raw orders, lines and events and of the
    incremental models of orders and lines likewise check the rows loaded since the last build
    (tests/generic/unique_new_keys.sql, placeholder `__new_to__`), and the key tests of the session tables
    the sessions, days and customers the build rebuilt (macro rebuilt_rows_condition). Var
    test_every_row (default false) makes a build test every row, and so does a model an earlier build left
    unfinished (macros/unfinished_models.sql: a test of it may have failed then) or a command wrote without
    testing it (`dbt run`, macro record_untested_models): its rows are not known to be tested.
#}

{#
    On-run-start hook (dbt_project.yml), after mark_selected_models: what a build's tests need to know of
    the warehouse as the build starts, kept in the run cache. The watermark (latest `_loaded_at`) of each
    incremental model of `model_names` before any model runs, as the model itself reads it (macro
    loaded_through), and the models whose rows are not known tested (left unfinished by an earlier build,
    or written untested). Not asked outside a build that tests what it wrote.
#}
{% macro remember_the_build_start(model_names) -%}
    {%- if execute and rows_tested_by_scope() -%}
        {%- set cache = run_cache() -%}
        {%- do run_query(create_untested_models()) -%}
        {%- set untested = run_query(
            'select model_id from ' ~ unfinished_models_relation()
            ~ " where invocation_id <> '" ~ invocation_id ~ "'"
            ~ ' union select model_id from ' ~ untested_models_relation()
        ).columns[0].values() | list -%}
        {%- do cache.update({'models not known tested before the build': untested}) -%}
        {%- for model_name in model_names -%}
            {%- set relation = model_relation(model_name) -%}
            {%- if adapter.get_relation(
                database=relation.database, schema=relation.schema, identifier=relation.identifier
            ) is not none -%}
                {%- set watermark = run_query('select max(_loaded_at) from ' ~ relation).columns[0].values()[0] -%}
                {%- do cache.update({'watermark before the build ' ~ model_name: watermark}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as build_start_remembered
{%- endmacro %}

{#
    The relation of model `model_name` of this project. A test's `where` config is rendered when the test
    runs, after dbt has fixed what the test depends on, so it may not ref() a model the test does not name.
#}
{% macro model_relation(model_name) -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ model_name] -%}
    {{- return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) -}}
{%- endmacro %}

{#
    True in a `dbt build` whose tests may look at what it wrote alone: not a full refresh, var test_every_row
    not set. (`dbt test` on its own tests every row.)
#}
{% macro rows_tested_by_scope() -%}
    {{- return(flags.WHICH == 'build' and not flags.FULL_REFRESH and not every_row_tested()) -}}
{%- endmacro %}

{#
    The watermark model `model_name` held as this build started (macro remember_the_build_start), or none
    (test every row) when that is not known - not a build that tests what it wrote, the model had no table
    or no row yet - or its rows are not known tested (macro rows_not_known_tested).
#}
{% macro watermark_before_the_build(model_name) -%}
    {%- if not execute or not rows_tested_by_scope() or rows_not_known_tested(model_name) -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(run_cache().get('watermark before the build ' ~ model_name)) -}}
{%- endmacro %}

{#
    True when the rows of model `model_name` are not known to be tested as this build starts: a build before
    it left the model unfinished (macros/unfinished_models.sql), a command that ran no test of it wrote it
    (macro record_untested_models), or the start hook did not look.
#}
{% macro rows_not_known_tested(model_name) -%}
    {%- set untested = run_cache().get('models not known tested before the build') -%}
    {{- return(untested is none or ('model.' ~ project_name ~ '.' ~ model_name) in untested) -}}
{%- endmacro %}

{#
    intermediate.untested_models: the models a command wrote without running any data test of theirs (a
    `dbt run`, a build that excluded the tests), kept until a command runs every data test of the model and
    none fails (on-run-end hook record_untested_models). A build tests every row of them.
#}
{% macro untested_models_relation() -%}
    {{- return(api.Relation.create(
        database=target.database, schema=generate_schema_name('intermediate', none), identifier='untested_models'
    )) -}}
{%- endmacro %}

{% macro create_untested_models() -%}
    create table if not exists {{ untested_models_relation() }} (
        model_id varchar(256), written_at {{ dbt.type_timestamp() }}, invocation_id varchar(64)
    )
{%- endmacro %}

{#
    On-run-end hook (dbt_project.yml): list in intermediate.untested_models each model with data tests that
    this command built and ran none of, and take off the list each model whose every data test (a test of a
    column names its model; a singular test, the models it reads) this command ran, none failing.
#}
{% macro record_untested_models(results) -%}
    {%- if execute -%}
        {%- set tests_of = {} -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'test' -%}
            {%- for model_id in ([node.attached_node] if node.attached_node else node.depends_on.nodes) -%}
                {%- do tests_of.setdefault(model_id, []).append(node.unique_id) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set built, ran, failed = [], [], [] -%}
        {%- for result in results if result.node is defined -%}
            {%- if result.node.resource_type == 'model' and result.status == 'success' -%}
                {%- do built.append(result.node.unique_id) -%}
            {%- elif result.node.resource_type == 'test' -%}
                {%- do ran.append(result.node.unique_id) -%}
                {%- if result.status in ('fail', 'error') -%}
                    {%- do failed.append(result.node.unique_id) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set untested, tested = [], [] -%}
        {%- for model_id, tests in tests_of.items() if model_id in graph.nodes -%}
            {%- set run_here = tests | select('in', ran) | list -%}
            {%- if model_id in built and run_here | length == 0 -%}
                {%- do untested.append(model_id) -%}
            {%- elif run_here | length == tests | length and run_here | select('in', failed) | list | length == 0 -%}
                {%- do tested.append(model_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set table = untested_models_relation() -%}
        {{ create_untested_models() }};
        {%- if tested %}
        delete from {{ table }} where model_id in (
            {%- for model_id in tested %}'{{ model_id }}'{{ ', ' if not loop.last }}{% endfor -%}
        );
        {%- endif %}
        {%- if untested %}
        insert into {{ table }} (model_id, written_at, invocation_id)
        select written.model_id, {{ timestamp_literal(run_started_at.strftime('%Y-%m-%d %H:%M:%S')) }}, '{{ invocation_id }}'
        from (
            values
            {%- for model_id in untested %}
            ('{{ model_id }}'){{ ',' if not loop.last }}
            {%- endfor %}
        ) as written (model_id)
        where written.model_id not in (select listed.model_id from {{ table }} as listed);
        {%- endif %}
    {%- endif -%}
{%- endmacro %}

{#
    The cutoffs this dbt invocation rebuilt in the marts named `model_names` ('YYYY-MM-DD' strings, sorted, the
    union over the marts): the answers macro spine_cutoffs_to_build kept in the run cache for each incremental
    run of them (its key starts 'spine_cutoffs_to_build <unique_id> '; that macro is not changed for this, as
    a change to it asks every warehouse for a full refresh). None (every cutoff) when any of them did not run
    incrementally in this invocation, the rows of one are not known tested (macro rows_not_known_tested),
    or var test_every_row is true.
#}
{% macro cutoffs_rebuilt_by(model_names) -%}
    {%- if not execute or every_row_tested() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set cache = run_cache() -%}
    {%- set rebuilt = [] -%}
    {%- for model_name in model_names -%}
        {%- if rows_not_known_tested(model_name) -%}
            {{- return(none) -}}
        {%- endif -%}
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
    dbt's get_where_subquery, the relation a generic test reads, with three placeholders more in its `where`
    config: `__rebuilt_cutoffs__` becomes macro rebuilt_cutoffs_condition on the tested mart's cutoff_date,
    e.g. `config: {where: __rebuilt_cutoffs__}` on a test of customer_features; `__rebuilt_rows__` macro
    rebuilt_rows_condition of the tested model; `__new_to__<model>` the rows loaded since the build before,
    `_loaded_at` after the watermark <model> held as the build started (macro rows_new_to_the_build), for a
    test of a staged raw table whose verdict on a row does not change with later rows (a line's order).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__rebuilt_cutoffs__' in where -%}
        {%- set where = where | replace(
            '__rebuilt_cutoffs__', rebuilt_cutoffs_condition('cutoff_date', [relation.identifier])
        ) -%}
    {%- endif -%}
    {%- if where and '__rebuilt_rows__' in where -%}
        {%- set where = where | replace('__rebuilt_rows__', rebuilt_rows_condition(relation.identifier)) -%}
    {%- endif -%}
    {%- set new_to = modules.re.search('__new_to__(\\w+)', where or '') -%}
    {%- if new_to -%}
        {%- set loaded_after = rows_new_to_the_build(new_to.group(1), relation.identifier) -%}
        {%- set where = where | replace(
            new_to.group(0),
            '_loaded_at > ' ~ timestamp_literal(loaded_after) if loaded_after is not none else 'true'
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
    For a test of model `tested` in a `dbt build` (a staged raw table, or an incremental model keeping
    `_loaded_at`): the latest `_loaded_at` the incremental model `read_by` (the table's first reader, or the
    model itself) held as the build started (macro watermark_before_the_build), so the rows loaded after it
    are the ones this build brings. None (every row) in `dbt test`, a full build, with var test_every_row,
    before `read_by` has rows, or when the rows of `tested` are not known tested (rows_not_known_tested).
#}
{% macro rows_new_to_the_build(read_by, tested) -%}
    {%- if not execute or rows_not_known_tested(tested) -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(watermark_before_the_build(read_by)) -}}
{%- endmacro %}

{#
    For a key test of the rows loaded after `loaded_after` (a timestamp): a condition keeping the rows of the
    tested model (alias `tested`) whose `column` lies between the least and the greatest value it takes in
    those rows of `relation`, as literals the scan can compare with each row group's min/max. Empty (every
    row) when no row is new or the key is not text (staging casts every id to text).
#}
{% macro new_keys_range(relation, column, loaded_after) -%}
    {%- set query -%}
        select min({{ column }}), max({{ column }}) from {{ relation }}
        where _loaded_at > {{ timestamp_literal(loaded_after) }} and {{ column }} is not null
    {%- endset -%}
    {%- set least, greatest = run_query(query).rows[0] -%}
    {%- if least is not string or greatest is not string -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set quoted = [least, greatest] | map('replace', "'", "''") | list -%}
    {{- return("tested." ~ column ~ " >= '" ~ quoted[0] ~ "' and tested." ~ column ~ " <= '" ~ quoted[1] ~ "'") -}}
{%- endmacro %}

{#
    A SQL condition keeping the rows of model `model_name`, one of the session tables, that this build
    rebuilt, replaying the model's own rule from the watermark it held as the build started (see each model's
    header): `true` (every row) when that watermark is not known (macro watermark_before_the_build). Each
    key test of these tables holds the unit the model rebuilds whole (a day, a session, a customer), so a
    duplicated key lies wholly inside or outside the rows kept.
#}
{% macro rebuilt_rows_condition(model_name) -%}
    {%- set since = watermark_before_the_build(model_name) -%}
    {%- if since is none -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set since_literal = timestamp_literal(since) -%}
    {%- set session_days = model_relation('int_events_sessionized') -%}
    {%- set replaced_days = replaced_row_dates('events', 'event_at', 'activity_date') -%}
    {%- if model_name == 'int_events_sessionized' -%}
        {#- every day from the first one that events loaded or replaced since touch -#}
        {%- set first_new_event = earliest_new(source('shop', 'events'), 'event_at', since_literal) -%}
        {%- set first_replaced_day = earliest_new(replaced_days, 'activity_date', since_literal) -%}
        {%- set condition = 'activity_date >= ' ~ dbt.date_trunc(
            'day', 'least(' ~ first_new_event ~ ', ' ~ first_replaced_day ~ ')'
        ) -%}
    {%- elif model_name == 'fct_sessions' -%}
        {#- every session with a session-day loaded since, or an event replaced since -#}
        {%- set condition -%}
            session_id in (
                select session_id from {{ session_days }} where _loaded_at > {{ since_literal }}
                union
                select session_id from {{ replaced_events_since(since_literal) }} as replaced
            )
        {%- endset -%}
    {%- elif model_name == 'int_customer_active_day_spans' -%}
        {#- every customer with a session-day loaded since, and those with a day on or after the first day
            the loads touch. The model takes the latter from its table before the run; a customer whose
            every day from then on is gone lost it to an event replaced since, and is kept by its customer -#}
        {%- set condition -%}
            customer_id in (
                select customer_id from {{ session_days }} where _loaded_at > {{ since_literal }}
                union
                select customer_id from {{ replaced_events_since(since_literal) }} as replaced
                union
                select customer_id from {{ model_relation('int_customer_active_day_spans') }}
                where activity_date >= (
                    select min(touched.activity_date) from (
                        select activity_date from {{ session_days }} where _loaded_at > {{ since_literal }}
                        union all
                        select activity_date from {{ replaced_days }} as replaced
                        where _loaded_at > {{ since_literal }}
                    ) as touched
                )
            )
        {%- endset -%}
    {%- else -%}
        {{- exceptions.raise_compiler_error(
            'macro rebuilt_rows_condition has no rule for ' ~ model_name ~ ': add its rebuild rule there'
        ) -}}
    {%- endif -%}
    {{- return(condition) -}}
{%- endmacro %}

{#
    Var test_every_row as a boolean: true, or the text 'true' in any case (Airflow renders the transform DAG's
    param into the build's vars as 'True' or 'False', and the text 'False' would be true in Jinja).
#}
{% macro every_row_tested() -%}
    {{- return((var('test_every_row', false) | string | lower) == 'true') -}}
{%- endmacro %}
