{#
    Helpers for the incremental models. Raw data is append-only and every raw row carries the time of the
    load that brought it (`_loaded_at`, one timestamp per load transaction, increasing), so "what is new since
    the last run" is every row loaded after the latest `_loaded_at` the incremental model already holds.

    The bounds are read with a query while the model runs and written into its SQL as literals, so the
    warehouse can skip old row groups of the raw tables (a subquery would not be pushed into the scans).
#}

{# A timestamp literal, or the SQL null timestamp for none. #}
{% macro timestamp_literal(value) -%}
    {%- if value is none -%}
        cast(null as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast('{{ value }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#
    The latest `_loaded_at` in `relation` (the incremental model itself) as a timestamp literal: rows loaded
    after it are new to the model. The start of time when the relation is empty, so everything is new.
#}
{% macro loaded_through(relation) -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set value = run_query('select max(_loaded_at) from ' ~ relation).columns[0].values()[0] -%}
    {%- endif -%}
    {{- timestamp_literal(value if value is not none else '1900-01-01 00:00:00') -}}
{%- endmacro %}

{#
    The earliest value of `column` among the rows of `relation` (a table, or a parenthesized query such as
    replaced_row_dates) loaded after `loaded_at_literal`, as a timestamp literal (null timestamp when there
    are none): the first point in time new data touches. The alias is not optional: Postgres before 16
    refuses a subquery in FROM without one.
#}
{% macro earliest_new(relation, column, loaded_at_literal) -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set query -%}
            select min({{ column }}) from {{ relation }} as loaded_rows where _loaded_at > {{ loaded_at_literal }}
        {%- endset -%}
        {%- set value = run_query(query).columns[0].values()[0] -%}
    {%- endif -%}
    {{- timestamp_literal(value) -}}
{%- endmacro %}

{#
    Incremental marts over the cutoff spine (customer_features, customer_labels) cannot keep a load time in
    their own columns (every customer_features column but the keys is a model input), so each records the
    latest `_loaded_at` it has seen in the table intermediate.incremental_watermarks, one row per model,
    written by the model's post-hooks.
#}
{% macro watermarks_relation() -%}
    {{- return(api.Relation.create(
        database=target.database, schema=generate_schema_name('intermediate', none), identifier='incremental_watermarks'
    )) -}}
{%- endmacro %}

{# The watermark a model recorded at its last build (a datetime), or none when it has none. #}
{% macro previous_watermark(model_name) -%}
    {%- if not execute -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema=generate_schema_name('intermediate', none), identifier='incremental_watermarks'
    ) -%}
    {%- if relation is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set query -%}
        select max(loaded_through) from {{ relation }} where model_name = '{{ model_name }}'
    {%- endset -%}
    {{- return(run_query(query).columns[0].values()[0]) -}}
{%- endmacro %}

{#
    Post-hook SQL recording max(_loaded_at) of `relations` as the model's watermark (two statements; the
    build's start hook creates the table: create_incremental_records).
#}
{% macro record_watermark(model_name, relations) -%}
    {%- set table = watermarks_relation() -%}
    delete from {{ table }} where model_name = '{{ model_name }}';
    insert into {{ table }}
    select
        '{{ model_name }}' as model_name,
        max(loaded_through) as loaded_through
    from (
        {%- for relation in relations %}
        select max(_loaded_at) as loaded_through from {{ relation }}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as loads
{%- endmacro %}

{#
    The cutoffs of int_cutoff_spine an incremental run of a mart over the spine must (re)build, as a list of
    'YYYY-MM-DD' strings: the cutoffs `relation` (the mart) lacks with the same is_scoring_date, and every
    cutoff after `changed_from_literal` (a date literal: the first day new data touched; null: none).
#}
{% macro stale_cutoffs(relation, changed_from_literal) -%}
    {%- set query -%}
        with built as (
            select distinct cutoff_date, is_scoring_date from {{ relation }}
        )
        select cast(spine.cutoff_date as {{ dbt.type_string() }}) as cutoff_date
        from {{ ref('int_cutoff_spine') }} as spine
        left join built
            on spine.cutoff_date = built.cutoff_date and spine.is_scoring_date = built.is_scoring_date
        where built.cutoff_date is null or spine.cutoff_date > {{ changed_from_literal }}
        order by 1
    {%- endset -%}
    {{- return(run_query(query).columns[0].values() | list) -}}
{%- endmacro %}

{#
    A SQL condition keeping rows whose `column` is one of `dates` ('YYYY-MM-DD' strings, sorted); true for
    none (all), false for an empty list. The range before the list is what DuckDB carries across joins and
    unions into every branch of the query (it does not carry an in-list).
#}
{% macro date_in(column, dates) -%}
    {%- if dates is none -%}
        true
    {%- elif dates | length == 0 -%}
        1 = 0
    {%- else -%}
        {{ column }} >= cast('{{ dates | first }}' as date)
        and {{ column }} <= cast('{{ dates | last }}' as date)
        and {{ column }} in (
            {%- for value in dates %}cast('{{ value }}' as date){% if not loop.last %}, {% endif %}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}

{# A value as a SQL date literal; the null date for none. #}
{% macro date_literal(value) -%}
    {%- if value is none -%}
        cast(null as date)
    {%- else -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}

{# Post-hook of customer_labels: delete labels whose cutoff, horizon or complete window is no longer valid. #}
{% macro delete_invalid_labels() -%}
    delete from {{ this }}
    where
        cutoff_date not in (select cutoff_date from {{ ref('int_cutoff_spine') }})
        or horizon_days not in ({{ label_horizons() | join(', ') }})
        or horizon_end_date > (select max(data_end_date) from {{ ref('int_cutoff_spine') }})
{%- endmacro %}

{#
    The cutoffs an incremental run of customer_labels must (re)build, as sorted 'YYYY-MM-DD' strings: those
    with a complete (cutoff, horizon) window the table lacks, and those with a complete window ending after
    `changed_from_literal` (a date literal: the first day touched by orders loaded since; null: none).
#}
{% macro stale_label_cutoffs(relation, changed_from_literal) -%}
    {%- set query -%}
        with built as (
            select distinct cutoff_date, horizon_days from {{ relation }}
        ),
        horizons as (
            {{ label_horizon_rows() }}
        ),
        complete_windows as (
            select
                spine.cutoff_date,
                horizons.horizon_days,
                cast({{ dbt.dateadd('day', 'horizons.horizon_days', 'spine.cutoff_date') }} as date) as horizon_end_date,
                spine.data_end_date
            from {{ ref('int_cutoff_spine') }} as spine
            cross join horizons
        )
        select distinct cast(complete_windows.cutoff_date as {{ dbt.type_string() }}) as cutoff_date
        from complete_windows
        left join built
            on
                complete_windows.cutoff_date = built.cutoff_date
                and complete_windows.horizon_days = built.horizon_days
        where
            complete_windows.horizon_end_date <= complete_windows.data_end_date
            and (built.cutoff_date is null or complete_windows.horizon_end_date > {{ changed_from_literal }})
        order by 1
    {%- endset -%}
    {{- return(run_query(query).columns[0].values() | list) -}}
{%- endmacro %}

{#
    The cutoffs an incremental run of a mart over the spine (the model being built) must (re)build, as
    sorted 'YYYY-MM-DD' strings; none on a full build or when the mart has no watermark yet (build all).
    `changes` lists (relation, date column) pairs: the rows of each relation loaded after the mart's
    watermark touch their date and everything after it; `stale` (macro stale_cutoffs or
    stale_label_cutoffs) turns the earliest such date into the cutoffs to rebuild.
#}
{% macro spine_cutoffs_to_build(changes, stale) -%}
    {%- if not is_incremental() -%}
        {{- return(none) -}}
    {%- endif -%}
    {#- asked by the model's SQL, then by its pre-hook: the model's table, its watermark and what it reads
        (upstream, built before it) do not change in between, so the second asks the run cache -#}
    {%- set cache = run_cache() -%}
    {%- set key = 'spine_cutoffs_to_build ' ~ model.unique_id ~ ' ' ~ this -%}
    {%- if key not in cache -%}
        {%- do cache.update({key: cutoffs_to_rebuild(changes, stale)}) -%}
    {%- endif -%}
    {{- return(cache[key]) -}}
{%- endmacro %}

{# spine_cutoffs_to_build's answer, asked of the warehouse (none when the model has no watermark yet). #}
{% macro cutoffs_to_rebuild(changes, stale) -%}
    {%- set since = previous_watermark(model.name) -%}
    {%- if since is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set query -%}
        select min(changed_date) from (
            {%- for relation, date_column in changes %}
            select min({{ date_column }}) as changed_date
            -- a relation may be a parenthesized query: Postgres before 16 needs its alias
            from {{ relation }} as changed_rows
            where _loaded_at > {{ timestamp_literal(since) }}
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        ) as changes
    {%- endset -%}
    {#- the models over the spine read the same relations, upstream of each and built before it: one query
        per run for the models with the same watermark -#}
    {%- set cache = run_cache() -%}
    {%- set key = 'first changed date ' ~ query -%}
    {%- if key not in cache -%}
        {%- do cache.update({key: run_query(query).columns[0].values()[0]}) -%}
    {%- endif -%}
    {%- do cache.update({'first changed date of ' ~ model.unique_id: cache[key]}) -%}  {#- scoring_date_to_carry's -#}
    {{- return(stale(this, date_literal(cache[key]))) -}}
{%- endmacro %}

{#
    The scoring date whose rows a run that builds one cutoff, `cutoffs_to_build` (spine_cutoffs_to_build's
    answer, asked first), may carry forward, as 'YYYY-MM-DD': the latest scoring date the model's table holds
    before that cutoff, when nothing loaded since the table was built touches a day before it. A customer's
    rows at the held date then stand for the history before it, and the cutoff differs from them only by
    the days between the two. None when the run builds more than one cutoff, or nothing is held.
#}
{% macro scoring_date_to_carry(cutoffs_to_build) -%}
    {%- if not execute or cutoffs_to_build is none or cutoffs_to_build | length != 1 -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set query -%}
        select cast(max(cutoff_date) as {{ dbt.type_string() }}) from {{ this }}
        where is_scoring_date and cutoff_date < cast('{{ cutoffs_to_build | first }}' as date)
    {%- endset -%}
    {%- set held = run_query(query).columns[0].values()[0] -%}
    {%- set cache, key = run_cache(), 'first changed date of ' ~ model.unique_id -%}
    {#- none: nothing changed; no entry: the run did not ask (then nothing is known, so nothing is carried) -#}
    {%- set changed = cache.get(key) -%}
    {%- if held is none or key not in cache or (changed is not none and (changed | string)[:10] < held) -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(held) -}}
{%- endmacro %}

{# The label horizons of var label_horizons as rows of one column, horizon_days (for a CTE). #}
{% macro label_horizon_rows() -%}
    {%- for horizon_days in label_horizons() %}
    select {{ horizon_days }} as horizon_days
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#
    The rows of `relation` (a relation of orders, e.g. ref('int_orders_valued')) of every customer with an
    order loaded after `loaded_after` (a timestamp literal; none: every row), or who had an order reloaded
    since under another customer: for the models that rebuild a whole customer when any of its orders
    changes. Given a CTE, which this reads twice, DuckDB would first copy the whole of it (every order).
#}
{% macro orders_of_changed_customers(relation, loaded_after) -%}
    select * from {{ relation }}
    {%- if loaded_after is not none %}
    where customer_id in (
        select customer_id from {{ relation }}
        where _loaded_at > {{ loaded_after }}
        union
        select customer_id from {{ replaced_order_customers(loaded_after) }} as replaced
    )
    {%- endif %}
{%- endmacro %}

{#
    `column` (as text) of every raw row of `table` (a shop source) a newer version replaced, as a relation:
    all of them, or those replaced after `since_literal` (a timestamp literal) when given.
#}
{% macro replaced_keys(table, column, since_literal=none) -%}
    (
        select cast({{ column }} as {{ dbt.type_string() }}) as {{ column }}
        from {{ source('shop', table) }}
        where _replaced_at {{ 'is not null' if since_literal is none else '> ' ~ since_literal }}
    )
{%- endmacro %}

{#
    The customer of every raw order a newer version replaced after `since_literal` (a timestamp
    literal), as a relation: an order reloaded under another customer changes its former customer too.
#}
{% macro replaced_order_customers(since_literal) -%}
    {{- replaced_keys('orders', 'customer_id', since_literal) -}}
{%- endmacro %}

{#
    Whether any raw row of `table` (a shop source) was replaced by a newer version, read while the model
    runs (false at parse time): the post-hooks that delete what a replacement left do nothing without.
#}
{% macro has_replaced_rows(table) -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set query -%}
        select count(*) from {{ source('shop', table) }} where _replaced_at is not null
    {%- endset -%}
    {{- return(run_query(query).columns[0].values()[0] > 0) -}}
{%- endmacro %}

{#
    Post-hook of the models kept per customer over orders: delete the rows of orders that `current_orders`
    (the relation the model reads its orders from) now holds under another customer. A former customer
    with no order left is in no rebuilt batch, so delete+insert alone would keep them. Nothing runs while
    no order was ever replaced.
#}
{% macro delete_orders_of_former_customers(current_orders) -%}
    {%- if not has_replaced_rows('orders') -%}
    select 1 as nothing_to_delete
    {%- else -%}
    delete from {{ this }}
    where
        order_id in (select replaced.order_id from {{ replaced_keys('orders', 'order_id') }} as replaced)
        and not exists (
            select 1
            from {{ current_orders }} as current_orders
            where
                current_orders.order_id = {{ this }}.order_id
                and current_orders.customer_id = {{ this }}.customer_id
        )
    {%- endif -%}
{%- endmacro %}

{#
    Post-hook of the models kept per customer: delete the customers a replaced raw row of `tables` (shop
    sources with a customer_id) belonged to and that none of `current_relations` names any more. A row
    reloaded under another customer can leave its former customer with no data at all; that customer is
    in no rebuilt batch, so delete+insert alone would keep them, where a full build has no row for them.
    Nothing runs while no row of those tables was ever replaced.
#}
{% macro delete_customers_left_without_data(tables, current_relations) -%}
    {%- set replaced_tables = [] -%}
    {%- for table in tables if has_replaced_rows(table) -%}
        {%- do replaced_tables.append(table) -%}
    {%- endfor -%}
    {%- if not replaced_tables -%}
    select 1 as nothing_to_delete
    {%- else -%}
    delete from {{ this }}
    where
        customer_id in (
            {%- for table in replaced_tables %}
            select replaced.customer_id from {{ replaced_keys(table, 'customer_id') }} as replaced
            {%- if not loop.last %}
            union
            {%- endif %}
            {%- endfor %}
        )
        {%- for relation in current_relations %}
        and customer_id not in (
            select current_rows.customer_id from {{ relation }} as current_rows
            where current_rows.customer_id is not null
        )
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#
    The former dates of the raw rows of `table` (a shop source) that a newer version replaced, as a relation
    (`date_name`: the date of `timestamp_column`, and _loaded_at: when the newer version was loaded) for
    macros earliest_new and spine_cutoffs_to_build. A row reloaded with another date leaves its former date
    nowhere else (staging keeps the latest version), and that day changes too. The loader marks replaced
    rows (_replaced_at), so this reads one column of the raw table, not a join of it with itself.
#}
{% macro replaced_row_dates(table, timestamp_column, date_name) -%}
    (
        select
            cast({{ timestamp_column }} as date) as {{ date_name }},
            _replaced_at as _loaded_at
        from {{ source('shop', table) }}
        where _replaced_at is not null
    )
{%- endmacro %}

{#
    The session and customer of every raw event a newer version replaced after `since_literal` (a
    timestamp literal), as a relation: the session and customer the event belonged to before. A session
    that loses its only event of a day loses that session-day, and nothing loaded since names it.
#}
{% macro replaced_events_since(since_literal) -%}
    (
        select
            cast(session_id as {{ dbt.type_string() }}) as session_id,
            nullif(cast(customer_id as {{ dbt.type_string() }}), '') as customer_id
        from {{ source('shop', 'events') }}
        where _replaced_at > {{ since_literal }}
    )
{%- endmacro %}

{#
    Post-hook of int_events_sessionized: delete the days that lost their last event, because every event of
    theirs was reloaded onto another day. delete+insert replaces only the days the run computes, and a day
    without an event is not among them. Only the former days of replaced events are looked at, and nothing
    runs while no event was ever replaced (the daily case).
#}
{% macro delete_days_without_events() -%}
    {%- if not has_replaced_rows('events') -%}
    select 1 as nothing_to_delete
    {%- else -%}
    delete from {{ this }}
    where
        activity_date in (
            select replaced.activity_date
            from {{ replaced_row_dates('events', 'event_at', 'activity_date') }} as replaced
        )
        and not exists (
            select 1
            from {{ ref('stg_shop__events') }} as events
            where cast(events.event_at as date) = {{ this }}.activity_date
        )
    {%- endif -%}
{%- endmacro %}

{#
    Post-hook of fct_sessions: delete the sessions that lost their last session-day, because every event
    of theirs was reloaded into another session. Only sessions of replaced events are looked at, and
    nothing runs while no event was ever replaced (the daily case).
#}
{% macro delete_sessions_without_days() -%}
    {%- if not has_replaced_rows('events') -%}
    select 1 as nothing_to_delete
    {%- else -%}
    delete from {{ this }}
    where
        session_id in (select replaced.session_id from {{ replaced_keys('events', 'session_id') }} as replaced)
        and session_id not in (
            select session_days.session_id
            from {{ ref('int_events_sessionized') }} as session_days
            inner join {{ source('shop', 'events') }} as replaced
                on session_days.session_id = cast(replaced.session_id as {{ dbt.type_string() }})
            where replaced._replaced_at is not null
        )
    {%- endif -%}
{%- endmacro %}

{#
    What the models over the cutoff spine (the *_aggregated_to_cutoffs tables and customer_features) read,
    as (relation, date column) pairs for macro spine_cutoffs_to_build: rows loaded since a build touch
    every cutoff after their date. Orders (with their lines and products), events, the former dates of
    orders and events reloaded with other values, and the first order of a customer whose profile was
    reloaded (it can change tenure and days_signup_to_first_order). The four models share it, so one run
    rebuilds the same cutoffs in each.
#}
{% macro feature_input_changes() -%}
    {%- set reloaded_profiles_first_orders %}
    (
        select
            orders.order_date,
            customers._loaded_at
        from {{ ref('int_orders_valued') }} as orders
        inner join {{ ref('stg_shop__customers') }} as customers
            on orders.customer_id = customers.customer_id
    )
    {%- endset %}
    {{- return([
        (ref('int_orders_valued'), 'order_date'),
        (replaced_row_dates('orders', 'ordered_at', 'order_date'), 'order_date'),
        (ref('int_events_sessionized'), 'activity_date'),
        (replaced_row_dates('events', 'event_at', 'activity_date'), 'activity_date'),
        (reloaded_profiles_first_orders, 'order_date'),
    ]) -}}
{%- endmacro %}

{# The relations of feature_input_changes, for macro record_watermark. #}
{% macro feature_input_relations() -%}
    {{- return([ref('int_orders_valued'), ref('int_events_sessionized'), ref('stg_shop__customers')]) -}}
{%- endmacro %}

{#
    Pre-hook of the incremental models over the cutoff spine: delete the rows of every cutoff the run (re)builds
    (macro spine_cutoffs_to_build with the model's `changes` and `stale`), in the run's transaction, before its
    insert. delete+insert alone replaces only the cutoffs the new rows name, so a rebuilt cutoff that has no row
    any more (its only order cancelled, or moved after it) would keep the rows a full build no longer has.
#}
{% macro delete_cutoffs_to_rebuild(changes, stale) -%}
    {%- if not is_incremental() -%}
    select 1 as nothing_to_delete
    {%- else -%}
    delete from {{ this }} where {{ date_in('cutoff_date', spine_cutoffs_to_build(changes, stale)) }}
    {%- endif -%}
{%- endmacro %}

{#
    What customer_labels reads, as (relation, date column) pairs for macro spine_cutoffs_to_build: valued
    orders, and the former dates of orders reloaded with other values.
#}
{% macro label_input_changes() -%}
    {{- return([
        (ref('int_orders_valued'), 'order_date'),
        (replaced_row_dates('orders', 'ordered_at', 'order_date'), 'order_date'),
    ]) -}}
{%- endmacro %}

{# Post-hook of the models over the cutoff spine: delete the cutoffs that left it (yesterday's scoring date). #}
{% macro delete_cutoffs_off_the_spine() -%}
    delete from {{ this }} where cutoff_date not in (select cutoff_date from {{ ref('int_cutoff_spine') }})
{%- endmacro %}

{#
    Pre-hook of the incremental models that value margin at var gross_margin_rate where no unit cost is
    known: stops the build when the rows the model holds (those `where` selects, valued at the rate) were
    valued at another rate. An incremental run values only new rows, so it would mix the two rates in
    every mart; a full refresh values them all at the new one. Renders nothing when the rate is unchanged.
#}
{% macro require_unchanged_margin_rate(where) -%}
    {%- if execute and is_incremental() -%}
        {%- set rate = gross_margin_rate() -%}
        {%- set held = run_query(
            'select min(margin / revenue), max(margin / revenue) from ' ~ this
            ~ ' where revenue > 0 and (' ~ where ~ ')'
        ) -%}
        {%- set low, high = held.columns[0].values()[0], held.columns[1].values()[0] -%}
        {%- if low is not none -%}
            {%- set low, high = low | float, high | float -%}
        {%- endif -%}
        {%- if low is not none and ((low - rate) | abs > 1e-9 or (high - rate) | abs > 1e-9) -%}
            {%- set was = (low | round(6)) ~ ('' if (high - low) | abs <= 1e-9 else ' to ' ~ (high | round(6))) -%}
            {{ exceptions.raise_compiler_error(
                this.identifier ~ ' holds margins valued at gross_margin_rate ' ~ was ~ ' and this build\'s'
                ~ ' is ' ~ rate ~ ' (CVW_GROSS_MARGIN_RATE): an incremental build would mix the two. Rebuild'
                ~ ' with cvw build --full-refresh (the transform DAG\'s param full_refresh), or set the rate back.'
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    Hooks of every model (dbt_project.yml): an incremental model keeps the rows it built before, so after a
    change of the SQL that computes them a plain build would keep old rows beside new ones computed the new
    way. That SQL is the model's file, the files of the models and seeds upstream of it (the views it reads
    and what they read), and the project's macros any of them calls, directly or through another macro.
    The post-hook records each of those inputs with its checksum in intermediate.incremental_model_inputs;
    the pre-hook stops an incremental run when one of them changed, came or went since, with one sentence
    naming them. A table built before the record existed, or a full refresh, passes and records. dbt's own
    macros change with dbt alone, and these hooks' macros compute no rows: neither is an input. Render
    nothing for other models.
#}
{% macro model_inputs_relation() -%}
    {{- return(api.Relation.create(
        database=target.database, schema=generate_schema_name('intermediate', none), identifier='incremental_model_inputs'
    )) -}}
{%- endmacro %}

{% macro incremental_model_inputs() -%}
    {#- {unique_id: [what it is, in words, checksum]} of the SQL an incremental model's rows are computed by -#}
    {%- set guards = ['require_unchanged_sql', 'record_sql_checksum', 'model_inputs_relation', 'incremental_model_inputs'] -%}
    {%- set nodes = [model.unique_id] -%}
    {%- set macros = [] -%}
    {%- for unique_id in nodes -%}  {#- the list grows as the loop reads it: every model and seed upstream -#}
        {%- set node = graph.nodes[unique_id] -%}
        {%- for upstream in node.depends_on.nodes if upstream in graph.nodes and upstream not in nodes -%}
            {%- do nodes.append(upstream) -%}
        {%- endfor -%}
        {#- dbt lists the macros a model called while it parsed, when is_incremental() is false: a call in the
            model's incremental branch alone (loaded_through(this) if is_incremental()) is found in its text -#}
        {%- set written = modules.re.findall('([A-Za-z_][A-Za-z0-9_]*)\\s*\\(', node.raw_code or '') -%}
        {%- set named = [] -%}
        {%- for name in written | unique if name not in guards -%}
            {%- set found = context.get(name) -%}
            {%- if found is not none and found.macro is defined and found.macro.package_name == project_name -%}
                {%- do named.append(found.macro.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for called in node.depends_on.macros + named if called not in macros -%}
            {%- do macros.append(called) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set inputs = {} -%}
    {%- for unique_id in nodes -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- do inputs.update({unique_id: [node.original_file_path, node.checksum.checksum]}) -%}
    {%- endfor -%}
    {%- for unique_id in macros -%}  {#- grows too: the macros the project's macros call -#}
        {%- set package, name = unique_id.split('.')[1], unique_id.split('.')[2] -%}
        {%- set found = context.get(name) if package == project_name and name not in guards else none -%}
        {%- if found is not none and found.macro is defined -%}
            {%- for called in found.macro.depends_on.macros if called not in macros -%}
                {%- do macros.append(called) -%}
            {%- endfor -%}
            {%- do inputs.update({unique_id: [
                'macro ' ~ name ~ ' in ' ~ found.macro.original_file_path, local_md5(found.macro.macro_sql)
            ]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(inputs) -}}
{%- endmacro %}

{% macro require_unchanged_sql() -%}
    {%- if execute and is_incremental() -%}
        {%- set table = model_inputs_relation() -%}
        {%- set relation = adapter.get_relation(
            database=table.database, schema=table.schema, identifier=table.identifier
        ) -%}
        {%- if relation is not none -%}
            {%- set built = run_query(
                "select input_id, input_name, sql_checksum from " ~ relation
                ~ " where model_name = '" ~ model.name ~ "' order by input_name"
            ) -%}
            {%- set inputs = incremental_model_inputs() -%}
            {%- set changed = [] -%}
            {%- for input_id, input_name, checksum in built.rows -%}
                {%- if input_id not in inputs -%}
                    {%- do changed.append(input_name ~ ' (no longer read)') -%}
                {%- elif inputs[input_id][1] != checksum -%}
                    {%- do changed.append(inputs[input_id][0]) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- set recorded = built.columns[0].values() -%}
            {%- for input_id in inputs | sort if built.rows | length > 0 and input_id not in recorded -%}
                {%- do changed.append(inputs[input_id][0] ~ ' (newly read)') -%}
            {%- endfor -%}
            {%- if changed -%}
                {{ exceptions.raise_compiler_error(
                    changed[:3] | join(', ') ~ (' and ' ~ (changed | length - 3) ~ ' more' if changed | length > 3 else '')
                    ~ ' changed since its table was built, and an incremental build would keep the rows built'
                    ~ ' the old way beside new ones: rebuild with cvw build --full-refresh (the transform DAG\'s'
                    ~ ' param full_refresh).'
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro record_sql_checksum() -%}
    {%- if config.get('materialized') == 'incremental' -%}
        {%- set table = model_inputs_relation() -%}  {#- created by macro create_incremental_records -#}
        delete from {{ table }} where model_name = '{{ model.name }}';
        insert into {{ table }} values
        {%- for input_id, (input_name, checksum) in incremental_model_inputs().items() %}
            ('{{ model.name }}', '{{ input_id }}', '{{ input_name }}', '{{ checksum }}'){{ ',' if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#
    On-run-start hook (dbt_project.yml), after mark_selected_models (which creates the schema): create the
    incremental models' two records before any model runs. dbt runs two models at once (profiles.yml's
    threads), and their post-hooks write the records (record_watermark, record_sql_checksum): two of them
    creating a missing table, or dropping one, in transactions open at once fail the second with DuckDB's
    "Catalog write-write conflict"; creating a table that exists changes nothing and conflicts with nothing.
    The old record of the model files alone (before the macros and upstream files were inputs too) goes.
#}
{% macro create_incremental_records() -%}
    {%- set inputs = model_inputs_relation() -%}
    create table if not exists {{ watermarks_relation() }} (
        model_name varchar(128), loaded_through {{ dbt.type_timestamp() }}
    );
    create table if not exists {{ inputs }} (
        model_name varchar(128), input_id varchar(256), input_name varchar(512), sql_checksum varchar(128)
    );
    drop table if exists {{ inputs.incorporate(path={'identifier': 'incremental_sql_checksums'}) }}
{%- endmacro %}
