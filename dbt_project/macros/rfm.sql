{#
    Quintile score 1-5 of a value among all rows, deterministic with ties: rows with equal values get
    equal scores. score = least(5, 1 + floor(5 * (rank - 1) / (rows - 1))), i.e. 1 + floor(5 x percent_rank)
    computed from integers so no rounding can move a row across a boundary; a single row scores 1.
    `order_by` orders from worst (1) to best (5), e.g. 'recency_days desc'.
#}
{% macro quintile_score(order_by) -%}
    cast(
        least(
            5,
            1 + floor(
                coalesce(
                    cast(5 * (rank() over (order by {{ order_by }}) - 1) as {{ type_double() }})
                    / nullif(count(*) over () - 1, 0),
                    0
                )
            )
        ) as integer
    )
{%- endmacro %}
