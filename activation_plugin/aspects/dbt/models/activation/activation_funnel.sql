{{ config(materialized="view") }}

-- How far each arm's completers got, per definition: completed, prompted (a prompt, reminder or
-- nudge was sent), responded (evidence submitted), verified, activated (now, running or not).
-- The holdout arm gets no prompts by design. Responded and verified count evidence a reviewer
-- later rejected, which the page leaves out: the plugin emits no event for a rejection.
select
    definition_id,
    arm,
    count() as completed,
    countIf(prompted) as prompted,
    countIf(responded) as responded,
    countIf(verified) as verified,
    countIf(activated) as activated
from {{ ref("activation_windows") }}
group by definition_id, arm
