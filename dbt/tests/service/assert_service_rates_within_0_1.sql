-- Every rate in the service marts lies in [0, 1] (nulls, for empty denominators, are allowed).
{{ config(meta={'dagster': {'ref': {'name': 'delivery_performance'}}}) }}
{%- set rates = {
    'delivery_performance': ['on_time_rate', 'exception_rate'],
    'returns_analysis': ['return_rate', 'product_return_rate'],
    'support_sla': ['first_response_breach_rate', 'resolution_breach_rate', 'csat_rate'],
} %}
{%- for model, columns in rates.items() %}
{%- for col in columns %}
select '{{ model }}' as model_name, '{{ col }}' as rate_name, {{ col }} as rate_value
from {{ ref(model) }}
where {{ col }} < 0 or {{ col }} > 1
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
