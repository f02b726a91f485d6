{#
    The order features per (customer_id, cutoff_date), as one query (`with ... select * from final`), for
    every customer with any order (completed or cancelled) before the cutoff: order counts, revenue and
    order-timing features from orders placed strictly before the cutoff's midnight. Windows are the N days
    before the cutoff: cutoff_date - N <= order_date < cutoff_date. Amounts count completed orders only;
    cancellation_rate uses all orders. Unit counts (items_*, return_rate, avg_items_per_order) are null for a
    customer none of whose completed orders has lines (e.g. a shop that delivers orders alone): unknown, not
    zero.

    Defined once, used twice: int_orders_aggregated_to_cutoffs holds the spine's cutoffs but the scoring date
    (`scoring_date` false), and customer_features computes the scoring date's (`scoring_date` true) in its own
    query, so a daily run writes the scoring date's ~1M wide rows once, into the mart, not into this table
    first. `cutoffs_to_build`: 'YYYY-MM-DD' strings of the spine's cutoffs to compute (none: all).

    Every total is looked up, not re-aggregated: int_orders_running_totals holds each customer's totals
    through every order, so the history before a cutoff is the one row whose span holds the cutoff,
    and an N-day window is that row less the row holding the window's start (the orders before the
    window). Each cutoff costs one row per customer, however long the history. A query of a few cutoffs
    (the daily scoring date) finds the row holding each window's start by that start first, then joins
    it by customer and cutoff: half the time of matching every running total of the customer at 1M
    customers, the same rows.
#}
{% macro order_features_at_cutoffs(cutoffs_to_build, scoring_date) -%}
{%- set windows = [30, 90, 180, 365] %}
{%- set windowed_totals = ['orders', 'revenue', 'margin', 'items'] %}
{%- set money_totals = ['revenue', 'margin'] %}

with

-- a run of a few cutoffs reads the table in each of its five joins (not materialized): DuckDB would first
-- copy the rows they can look up, every column, into memory, then read that copy five times
running_totals as {% if cutoffs_to_build %}not materialized {% endif %}(
    select * from {{ ref('int_orders_running_totals') }}
    {%- if cutoffs_to_build %}
    -- a run of a few cutoffs (the daily scoring date) joins only the rows they can look up: those whose
    -- span reaches the earliest window start and that begin before the last cutoff
    where
        next_ordered_at >= {{ dbt.dateadd(
            'day', -(windows | max), "cast('" ~ cutoffs_to_build | first ~ "' as " ~ dbt.type_timestamp() ~ ")"
        ) }}
        and ordered_at < cast('{{ cutoffs_to_build | last }}' as {{ dbt.type_timestamp() }})
    {%- endif %}
),

cutoffs as (
    select * from {{ ref('int_cutoff_spine') }}
    where {{ date_in('cutoff_date', cutoffs_to_build) }} and {% if not scoring_date %}not {% endif %}is_scoring_date
),

window_starts as (
    select
        cutoff_date,
        cutoff_at,
        is_scoring_date,
        {%- for days in windows %}
        {{ dbt.dateadd('day', -days, 'cutoff_at') }} as window_{{ days }}d_start_at
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from cutoffs
),

-- the customer's totals through the last order placed before the cutoff
totals_at_cutoffs as (
    select
        running_totals.customer_id,
        window_starts.cutoff_date,
        window_starts.is_scoring_date,
        {%- for days in windows %}
        window_starts.window_{{ days }}d_start_at,
        {%- endfor %}
        running_totals.all_orders,
        running_totals.cancelled_orders,
        running_totals.orders,
        running_totals.revenue,
        running_totals.margin,
        running_totals.lined_orders,
        running_totals.items,
        running_totals.returned_items,
        running_totals.gross_amount,
        running_totals.discount_amount,
        running_totals.first_order_at,
        running_totals.last_order_at,
        running_totals.first_order_value,
        running_totals.first_order_sales_channel,
        running_totals.order_days,
        running_totals.first_order_day_revenue,
        running_totals.gaps,
        running_totals.gap_days,
        running_totals.gap_days_squared
    from window_starts
    inner join running_totals
        on
            window_starts.cutoff_at > running_totals.ordered_at
            and window_starts.cutoff_at <= running_totals.next_ordered_at
),

{%- if cutoffs_to_build %}
{%- for days in windows %}

-- a run of a few cutoffs: the customer's totals through the last order placed before the window's start
before_{{ days }}d as (
    select
        running_totals.customer_id,
        window_starts.cutoff_date,
        {%- for total in windowed_totals %}
        running_totals.{{ total }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from window_starts
    inner join running_totals
        on
            window_starts.window_{{ days }}d_start_at > running_totals.ordered_at
            and window_starts.window_{{ days }}d_start_at <= running_totals.next_ordered_at
),
{%- endfor %}
{%- endif %}

-- and through the last order placed before each window's start: the window is the difference
totals_and_windows as (
    select
        totals_at_cutoffs.customer_id,
        totals_at_cutoffs.cutoff_date,
        totals_at_cutoffs.is_scoring_date,
        totals_at_cutoffs.all_orders as all_orders_lifetime,
        totals_at_cutoffs.cancelled_orders as cancelled_orders_lifetime,
        -- an amount over a window without a completed order is exactly 0: the difference of two running float
        -- sums may leave a last-bit residue there (DuckDB adds a running sum's rows in a tree, not one after
        -- another), which made revenue_trend_90d +-1 instead of null, in one build and not the next
        {%- for total in windowed_totals %}
        totals_at_cutoffs.{{ total }} as {{ total }}_lifetime,
        {%- for days in windows %}
        {%- if total in money_totals %}
        case
            when totals_at_cutoffs.orders = coalesce(before_{{ days }}d.orders, 0) then 0
            else totals_at_cutoffs.{{ total }} - coalesce(before_{{ days }}d.{{ total }}, 0)
        end as {{ total }}_{{ days }}d,
        {%- else %}
        totals_at_cutoffs.{{ total }} - coalesce(before_{{ days }}d.{{ total }}, 0) as {{ total }}_{{ days }}d,
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
        -- days 91 to 180 before the cutoff
        case
            when coalesce(before_90d.orders, 0) = coalesce(before_180d.orders, 0) then 0
            else coalesce(before_90d.revenue, 0) - coalesce(before_180d.revenue, 0)
        end as revenue_prior_90d,
        totals_at_cutoffs.lined_orders as lined_orders_lifetime,
        totals_at_cutoffs.returned_items as returned_items_lifetime,
        totals_at_cutoffs.gross_amount as gross_amount_lifetime,
        totals_at_cutoffs.discount_amount as discount_amount_lifetime,
        totals_at_cutoffs.first_order_at,
        totals_at_cutoffs.last_order_at,
        {{ days_between('cast(totals_at_cutoffs.last_order_at as date)', 'totals_at_cutoffs.cutoff_date') }}
            as days_since_last_order,
        {{ days_between('cast(totals_at_cutoffs.first_order_at as date)', 'totals_at_cutoffs.cutoff_date') }}
            as days_since_first_order,
        totals_at_cutoffs.first_order_value,
        totals_at_cutoffs.first_order_sales_channel,
        totals_at_cutoffs.order_days as order_days_lifetime,
        totals_at_cutoffs.first_order_day_revenue,
        {{ safe_divide('totals_at_cutoffs.gap_days', 'totals_at_cutoffs.gaps') }} as mean_days_between_orders,
        -- the sample standard deviation from integer sums, exact: (n * sum(x^2) - sum(x)^2) / (n * (n - 1)),
        -- null for fewer than two gaps
        sqrt({{ safe_divide(
            'totals_at_cutoffs.gaps * totals_at_cutoffs.gap_days_squared'
            ~ ' - totals_at_cutoffs.gap_days * totals_at_cutoffs.gap_days',
            'totals_at_cutoffs.gaps * (totals_at_cutoffs.gaps - 1)'
        ) }}) as std_days_between_orders
    from totals_at_cutoffs
    {% for days in windows -%}
    {%- if cutoffs_to_build %}
    left join before_{{ days }}d
        on
            totals_at_cutoffs.customer_id = before_{{ days }}d.customer_id
            and totals_at_cutoffs.cutoff_date = before_{{ days }}d.cutoff_date
    {%- else %}
    left join running_totals as before_{{ days }}d
        on
            totals_at_cutoffs.customer_id = before_{{ days }}d.customer_id
            and totals_at_cutoffs.window_{{ days }}d_start_at > before_{{ days }}d.ordered_at
            and totals_at_cutoffs.window_{{ days }}d_start_at <= before_{{ days }}d.next_ordered_at
    {%- endif %}
    {% endfor -%}
),

final as (
    select
        customer_id,
        cutoff_date,
        is_scoring_date,
        cast(all_orders_lifetime as {{ dbt.type_bigint() }}) as all_orders_lifetime,
        cast(cancelled_orders_lifetime as {{ dbt.type_bigint() }}) as cancelled_orders_lifetime,
        cast(orders_lifetime as {{ dbt.type_bigint() }}) as orders_lifetime,
        {%- for days in windows %}
        cast(orders_{{ days }}d as {{ dbt.type_bigint() }}) as orders_{{ days }}d,
        {%- endfor %}
        revenue_lifetime,
        {%- for days in windows %}
        revenue_{{ days }}d,
        {%- endfor %}
        revenue_prior_90d,
        {{ symmetric_change('revenue_90d', 'revenue_prior_90d') }} as revenue_trend_90d,
        margin_lifetime,
        {%- for days in windows %}
        margin_{{ days }}d,
        {%- endfor %}
        case when lined_orders_lifetime > 0 then cast(items_lifetime as {{ dbt.type_bigint() }}) end
            as items_lifetime,
        {%- for days in windows %}
        case when lined_orders_lifetime > 0 then cast(items_{{ days }}d as {{ dbt.type_bigint() }}) end
            as items_{{ days }}d,
        {%- endfor %}
        case when lined_orders_lifetime > 0 then cast(returned_items_lifetime as {{ dbt.type_bigint() }}) end
            as returned_items_lifetime,
        {{ safe_divide('revenue_lifetime', 'orders_lifetime') }} as avg_order_value,
        {%- for days in windows %}
        {{ safe_divide('revenue_' ~ days ~ 'd', 'orders_' ~ days ~ 'd') }} as avg_order_value_{{ days }}d,
        {%- endfor %}
        {{ safe_divide('items_lifetime', 'lined_orders_lifetime') }} as avg_items_per_order,
        {{ symmetric_change('orders_90d', 'orders_180d - orders_90d') }} as orders_trend_90d,
        {{ safe_divide('discount_amount_lifetime', 'gross_amount_lifetime') }} as discount_share,
        {{ safe_divide('cancelled_orders_lifetime', 'all_orders_lifetime') }} as cancellation_rate,
        {{ safe_divide('returned_items_lifetime', 'case when lined_orders_lifetime > 0 then items_lifetime end') }}
            as return_rate,
        first_order_at,
        last_order_at,
        days_since_first_order,
        days_since_last_order,
        first_order_value,
        first_order_sales_channel,
        cast(order_days_lifetime as {{ dbt.type_bigint() }}) as order_days_lifetime,
        first_order_day_revenue,
        mean_days_between_orders,
        std_days_between_orders,
        {{ safe_divide('days_since_last_order', 'mean_days_between_orders') }} as last_gap_to_mean_gap
    from totals_and_windows
)

select * from final
{%- endmacro %}

{#
    `cutoffs_to_build` (spine_cutoffs_to_build's answer: none for all) split into the scoring date and the
    other cutoffs, as a pair of lists of 'YYYY-MM-DD' strings or none (all of that kind), from the scoring
    date int_cutoff_spine holds. Both none while dbt parses, in an offline compile (`--no-introspect`) or when
    the spine is not built (the linter's empty warehouse): the query then finds the scoring date by its flag,
    the same rows, without the few-cutoff plan.
#}
{% macro split_scoring_date(cutoffs_to_build) -%}
    {%- set spine = load_relation(ref('int_cutoff_spine')) if execute and flags.INTROSPECT else none -%}
    {%- if spine is none -%}
        {{- return((none, none)) -}}
    {%- endif -%}
    {%- set query -%}
        select cast(cutoff_date as {{ dbt.type_string() }}) from {{ spine }} where is_scoring_date
    {%- endset -%}
    {%- set scoring = run_query(query).columns[0].values() | list -%}
    {%- if cutoffs_to_build is none -%}
        {{- return((scoring, none)) -}}
    {%- endif -%}
    {{- return((
        cutoffs_to_build | select('in', scoring) | list,
        cutoffs_to_build | reject('in', scoring) | list,
    )) -}}
{%- endmacro %}
