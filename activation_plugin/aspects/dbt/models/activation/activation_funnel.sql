{{ config(materialized="view") }}

-- How far each arm's completers got, per definition and course run: completed, prompted (a prompt, reminder or
-- nudge was sent), responded (evidence submitted), verified, activated (now, running or not).
-- The holdout arm gets no prompts by design. Responded and verified count evidence a reviewer
-- later rejected, or a survey answer later changed, or judged against a condition set later, so that
-- it no longer meets its activation condition, which the page leaves out: the plugin emits no event
-- for these. A survey answer that never met its condition is responded, never verified, as on the page.
select
    definition_id,
    any(catalog_course) as catalog_course,
    course_key,
    any(org) as org,
    arm,
    count() as completed,
    countIf(prompted) as prompted,
    countIf(responded) as responded,
    countIf(verified) as verified,
    countIf(activated) as activated
from {{ ref("activation_windows") }}
group by definition_id, course_key, arm
