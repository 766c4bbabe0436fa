{{ config(materialized="view") }}

-- One row per activation window, as of the var activation_as_of, with the plugin's rules
-- (docs/decisions/0005-honest-figures.rst): a withdrawn window is in no figure; a window's state
-- is its latest activated / reopened / expired statement; a window has ended once closes_at has
-- passed, whatever the tick did; Kaplan-Meier uses whole days elapsed.
with
    windows as (
        select
            window_id,
            any(definition_id) as definition_id,
            any(catalog_course) as catalog_course,
            anyIf(course_key, verb_id = {{ activation_verb("window.opened") }}) as course_key,
            anyIf(org, verb_id = {{ activation_verb("window.opened") }}) as org,
            any(arm) as arm,
            any(actor_id) as actor_id,
            min(opened_at) as opened_at,
            min(closes_at) as closes_at,
            maxIf(window_days, verb_id = {{ activation_verb("window.opened") }}) as window_days,
            anyIf(enrollment_mode, verb_id = {{ activation_verb("window.opened") }}) as enrollment_mode,
            anyIf(segment_org, verb_id = {{ activation_verb("window.opened") }}) as segment_org,
            anyIf(cohort, verb_id = {{ activation_verb("window.opened") }}) as cohort,
            argMaxIf(
                verb_id, emission_time,
                verb_id in (
                    {{ activation_verb("window.activated") }}, {{ activation_verb("window.reopened") }},
                    {{ activation_verb("window.expired") }}
                )
            ) = {{ activation_verb("window.activated") }} as activated,
            argMaxIf(days_to_activation, emission_time, verb_id = {{ activation_verb("window.activated") }})
                as days_to_activation,
            countIf(verb_id = {{ activation_verb("window.opened") }}) > 0 as has_opened,
            countIf(verb_id = {{ activation_verb("window.withdrawn") }}) > 0 as withdrawn,
            countIf(verb_id = {{ activation_verb("prompt.sent") }}) > 0 as prompted,
            countIf(verb_id = {{ activation_verb("evidence.submitted") }}) > 0 as responded,
            countIf(verb_id = {{ activation_verb("evidence.verified") }}) > 0 as verified
        from {{ ref("activation_statements") }}
        group by window_id
    )
select
    window_id,
    definition_id,
    catalog_course,
    course_key,
    org,
    arm,
    actor_id,
    opened_at,
    closes_at,
    window_days,
    enrollment_mode,
    segment_org,
    cohort,
    activated,
    if(activated, days_to_activation, null) as days_to_activation,
    closes_at <= {{ activation_as_of() }} as ended,
    prompted,
    responded,
    verified,
    -- Kaplan-Meier: an activation on its day; a running window censored after the whole days it
    -- has been open (floor); an ended one that did not activate at the window's length.
    multiIf(
        activated, days_to_activation,
        ended, window_days,
        least(greatest(intDiv(
            toUnixTimestamp64Micro({{ activation_as_of() }}) - toUnixTimestamp64Micro(opened_at), 86400000000
        ), 0), window_days)
    ) as km_day
from windows
where has_opened and not withdrawn
