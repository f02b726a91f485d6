{#
    Two CTEs that label windows: `complete_windows`, the windows of `windows` (a CTE with customer_id,
    cutoff_date, horizon_days, cutoff_at, horizon_end_at and data_end_date) whose end is on or before
    data_end_date, and `window_outcomes`, each such window's label: the customer's completed orders of
    `orders` (a CTE of int_orders_valued) placed in cutoff_at <= ordered_at < horizon_end_at, their revenue
    and margin (0 when none), is_churned when there is none, and the date of the first of them
    (first_order_date, null when none: score_outcomes' backtests of expected_next_order_date).
    customer_labels (the spine's cutoffs) and score_outcomes (past scoring dates) both use it, so what a
    label is, and when it is known, is written once.
#}
{% macro window_outcomes(windows, orders) -%}
complete_windows as (
    select
        customer_id,
        cutoff_date,
        horizon_days,
        cutoff_at,
        horizon_end_at,
        cast(horizon_end_at as date) as horizon_end_date
    from {{ windows }}
    where cast(horizon_end_at as date) <= data_end_date
),

window_outcomes as (
    select
        complete_windows.customer_id,
        complete_windows.cutoff_date,
        complete_windows.horizon_days,
        complete_windows.horizon_end_date,
        count({{ orders }}.order_id) as orders,
        coalesce({{ exact_sum(orders ~ '.revenue') }}, 0) as revenue,
        coalesce({{ exact_sum(orders ~ '.margin') }}, 0) as margin,
        count({{ orders }}.order_id) = 0 as is_churned,
        cast(min({{ orders }}.ordered_at) as date) as first_order_date
    from complete_windows
    left join {{ orders }}
        on
            complete_windows.customer_id = {{ orders }}.customer_id
            and complete_windows.cutoff_at <= {{ orders }}.ordered_at
            and complete_windows.horizon_end_at > {{ orders }}.ordered_at
            and not {{ orders }}.is_cancelled
    group by
        complete_windows.customer_id,
        complete_windows.cutoff_date,
        complete_windows.horizon_days,
        complete_windows.horizon_end_date
)
{%- endmacro %}

{#
    The columns of `orders` that window_outcomes reads, so what changes an outcome is written next to it:
    score_outcome_windows fingerprints them, and the monitor recomputes a backtest when they change. A
    column window_outcomes starts to read goes here too.
#}
{% macro window_outcome_columns() -%}
    {{- return(['order_id', 'customer_id', 'ordered_at', 'revenue', 'margin', 'is_cancelled']) -}}
{%- endmacro %}
