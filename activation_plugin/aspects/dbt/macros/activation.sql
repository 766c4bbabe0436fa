{# An extension of an activation statement (activation_plugin/xapi/transformers.py), as text. #}
{% macro activation_extension(name, part="context") -%}
JSON_VALUE(event, '$.{{ part }}.extensions."https://w3id.org/xapi/openedx/extension/activation/{{ name }}"')
{%- endmacro %}

{# The verb of each edx.activation.* event: one per event, so the verb says which event it was. #}
{% macro activation_verb(event) -%}
{{ {
    "window.opened": "'http://adlnet.gov/expapi/verbs/initialized'",
    "window.activated": "'https://w3id.org/xapi/adl/verbs/satisfied'",
    "window.reopened": "'http://activitystrea.ms/schema/1.0/unsatisfy'",
    "window.expired": "'http://adlnet.gov/expapi/verbs/terminated'",
    "window.withdrawn": "'http://adlnet.gov/expapi/verbs/exited'",
    "evidence.submitted": "'http://activitystrea.ms/schema/1.0/submit'",
    "evidence.verified": "'http://activitystrea.ms/schema/1.0/approve'",
    "prompt.sent": "'http://activitystrea.ms/schema/1.0/receive'",
    "observations.matched": "'http://adlnet.gov/expapi/verbs/imported'",
}[event] }}
{%- endmacro %}

{# The time the figures are computed as of, as a DateTime64(6) in UTC. #}
{% macro activation_as_of() -%}
toDateTime64({{ var("activation_as_of") }}, 6, 'UTC')
{%- endmacro %}
