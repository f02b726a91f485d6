{#
    Row test: every row of `model` satisfies the SQL condition `expression`; a null result counts as a
    failure unless the expression handles it. `column_name` is accepted so the test can sit under a
    column, but the expression names its own columns. Returns the offending rows.
#}
{% test expression_is_true(model, expression, column_name=none) %}

with

checked as (
    select
        *,
        case when {{ expression }} then 1 else 0 end as is_satisfied
    from {{ model }}
),

offending as (
    select * from checked
    where is_satisfied = 0
)

select * from offending

{% endtest %}
