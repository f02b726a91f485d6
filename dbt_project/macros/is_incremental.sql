{#
    dbt's is_incremental(), except under `--no-introspect`, where it answers false without asking the
    warehouse whether the model exists: `dbt compile --no-introspect --no-populate-cache` then compiles
    every model (as its full build) for a target with no server, e.g. the Postgres portability check.
#}
{% macro is_incremental() %}
    {%- if not flags.INTROSPECT -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(dbt.is_incremental()) }}
{% endmacro %}
