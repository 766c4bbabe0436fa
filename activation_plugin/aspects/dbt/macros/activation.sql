{# An extension of an activation statement (activation_plugin/xapi/transformers.py), as text. #}
{% macro activation_extension(name, part="context") -%}
JSON_VALUE(event, '$.{{ part }}.extensions."https://w3id.org/xapi/openedx/extension/activation/{{ name }}"')
{%- endmacro %}

{# The verb of each edx.activation.* event: one per event, so the verb says which event it was. #}
{% macro activation_verb(event) -%}
{{ {
    "window.opened": "'http://activitystrea.ms/schema/1.0/start'",
    "window.activated": "'https://w3id.org/xapi/adl/verbs/satisfied'",
    "window.reopened": "'http://activitystrea.ms/schema/1.0/unsatisfy'",
    "window.expired": "'http://activitystrea.ms/schema/1.0/close'",
    "window.withdrawn": "'http://adlnet.gov/expapi/verbs/exited'",
    "evidence.submitted": "'http://activitystrea.ms/schema/1.0/submit'",
    "evidence.verified": "'http://activitystrea.ms/schema/1.0/approve'",
    "prompt.sent": "'http://activitystrea.ms/schema/1.0/receive'",
}[event] }}
{%- endmacro %}

{# The verb an event's statements had first, where it changed since (statements stored then). #}
{% macro activation_first_verb(event) -%}
{{ {
    "window.opened": "'http://adlnet.gov/expapi/verbs/initialized'",
    "window.expired": "'http://adlnet.gov/expapi/verbs/terminated'",
}[event] }}
{%- endmacro %}

{# The time the figures are computed as of, as a DateTime64(6) in UTC: the var activation_as_of,
   by default the query's time (windows closing later are still running, censored). The default is
   here, not in dbt_project.yml: in Aspects' own dbt project the models run without it. #}
{% macro activation_as_of() -%}
toDateTime64({{ var("activation_as_of", "now64(6, 'UTC')") }}, 6, 'UTC')
{%- endmacro %}

{# The 95 % Wilson interval of activated out of eligible, one bound ("low" or "high"); null when
   nothing ended. The Superset datasets' saved metrics are the same formula over sums. #}
{% macro activation_wilson(activated, eligible, bound) -%}
if({{ eligible }} = 0, null, {{ "greatest(0, least" if bound == "low" else "least(1, greatest" }}(
    {{ activated }} / {{ eligible }},
    ({{ activated }} / {{ eligible }} + 1.959963984540054 * 1.959963984540054 / (2 * {{ eligible }})
     {{ "-" if bound == "low" else "+" }} 1.959963984540054 * sqrt(
        {{ activated }} / {{ eligible }} * (1 - {{ activated }} / {{ eligible }}) / {{ eligible }}
        + 1.959963984540054 * 1.959963984540054 / (4 * {{ eligible }} * {{ eligible }})))
    / (1 + 1.959963984540054 * 1.959963984540054 / {{ eligible }}))))
{%- endmacro %}
