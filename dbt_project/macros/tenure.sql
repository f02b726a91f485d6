{#
    tenure_days, defined once for the feature mart and the BI mart: whole days from the customer's start to
    the cutoff, the start being the sign-up or the first completed order, whichever came first. A sign-up
    on or after the cutoff is no history, so the first order is the start then (and when there is no
    sign-up). Arguments are SQL expressions; `cutoff_at` is the cutoff's midnight as a timestamp.
#}
{% macro tenure_days(signed_up_at, first_order_at, cutoff_at) -%}
    {%- set signed_up_before = 'case when ' ~ signed_up_at ~ ' < ' ~ cutoff_at ~ ' then ' ~ signed_up_at ~ ' end' -%}
    {{ days_between(
        'case when ' ~ signed_up_before ~ ' < ' ~ first_order_at
        ~ ' then ' ~ signed_up_before ~ ' else ' ~ first_order_at ~ ' end',
        cutoff_at
    ) }}
{%- endmacro %}
