{{ config(materialized="view") }}

-- The activation statements among Aspects' parsed xAPI statements, one row each, with the
-- window's fields typed. Statements stored before opened and expired got verbs of their own carry
-- their first verbs (ERB's video verbs, which only the object tells apart): read as the current ones.
select
    event_id,
    emission_time,
    actor_id,
    multiIf(
        parsed.verb_id = {{ activation_first_verb("window.opened") }}, {{ activation_verb("window.opened") }},
        parsed.verb_id = {{ activation_first_verb("window.expired") }}, {{ activation_verb("window.expired") }},
        parsed.verb_id
    ) as verb_id,
    object_id,
    splitByString('/course/', course_id)[-1] as course_key,
    parsed.org as org,
    toUInt64OrZero({{ activation_extension("definition-id") }}) as definition_id,
    toUInt64OrZero({{ activation_extension("window-id") }}) as window_id,
    {{ activation_extension("catalog-course") }} as catalog_course,
    {{ activation_extension("arm") }} as arm,
    parseDateTime64BestEffortOrNull({{ activation_extension("opened-at") }}, 6, 'UTC') as opened_at,
    parseDateTime64BestEffortOrNull({{ activation_extension("closes-at") }}, 6, 'UTC') as closes_at,
    toUInt32OrNull({{ activation_extension("window-days") }}) as window_days,
    {{ activation_extension("enrollment-mode") }} as enrollment_mode,
    {{ activation_extension("org") }} as segment_org,
    {{ activation_extension("cohort") }} as cohort,
    toUInt32OrNull({{ activation_extension("days-to-activation", "result") }}) as days_to_activation,
    {{ activation_extension("strength", "result") }} as strength
from {{ ref("xapi_events_all_parsed") }} as parsed
where
    verb_id in (
        {{ activation_verb("window.opened") }}, {{ activation_verb("window.activated") }},
        {{ activation_verb("window.reopened") }}, {{ activation_verb("window.expired") }},
        {{ activation_verb("window.withdrawn") }}, {{ activation_verb("evidence.submitted") }},
        {{ activation_verb("evidence.verified") }}, {{ activation_verb("prompt.sent") }}
    )
    and object_id like '%/activation/%'
