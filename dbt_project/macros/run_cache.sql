{#
    A dict that lives for one dbt invocation, shared by every node of it: a model's compile and its hooks
    render in different Jinja contexts, which share only dbt's `graph`. It holds what a run asks the
    warehouse more than once and cannot change while the run lasts (the incremental models over the cutoff
    spine ask which cutoffs to build in their SQL and again in the pre-hook that deletes them). Keyed by
    invocation_id, so a process that runs dbt again on one manifest starts from an empty dict.
#}
{% macro run_cache() -%}
    {%- set held = graph.get('customer_value_run_cache') -%}
    {%- if held is none or held['invocation_id'] != invocation_id -%}
        {%- set held = {'invocation_id': invocation_id, 'values': {}} -%}
        {%- do graph.update({'customer_value_run_cache': held}) -%}
    {%- endif -%}
    {{- return(held['values']) -}}
{%- endmacro %}
