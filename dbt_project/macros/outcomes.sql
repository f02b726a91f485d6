{#
    The label of each window of `windows` (a CTE with customer_id, cutoff_date, horizon_days, cutoff_at,
    horizon_end_at and horizon_end_date): the customer's completed orders of `orders` (a CTE of
    int_orders_valued) placed in cutoff_at <= ordered_at < horizon_end_at, their revenue and margin (0 when
    none), and is_churned when there is none. customer_labels (the spine's cutoffs) and score_outcomes (past
    scoring dates) both select it, so what a label is is written once.
#}
{% macro window_outcomes(windows, orders) -%}
    select
        {{ windows }}.customer_id,
        {{ windows }}.cutoff_date,
        {{ windows }}.horizon_days,
        {{ windows }}.horizon_end_date,
        count({{ orders }}.order_id) as orders,
        coalesce(sum({{ orders }}.revenue), 0) as revenue,
        coalesce(sum({{ orders }}.margin), 0) as margin,
        count({{ orders }}.order_id) = 0 as is_churned
    from {{ windows }}
    left join {{ orders }}
        on
            {{ windows }}.customer_id = {{ orders }}.customer_id
            and {{ windows }}.cutoff_at <= {{ orders }}.ordered_at
            and {{ windows }}.horizon_end_at > {{ orders }}.ordered_at
            and not {{ orders }}.is_cancelled
    group by
        {{ windows }}.customer_id,
        {{ windows }}.cutoff_date,
        {{ windows }}.horizon_days,
        {{ windows }}.horizon_end_date
{%- endmacro %}
