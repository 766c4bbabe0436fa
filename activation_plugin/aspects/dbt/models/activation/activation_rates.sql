{{ config(materialized="view") }}

-- The activation rate per definition, and per definition and run, arm or cohort month: among
-- the windows that ended, the share that activated (running windows are censored, even those
-- that already activated), with its 95 % Wilson interval. No small-cell suppression here: who
-- may see which rows is Superset's row-level security.
with
    groups as (
        select definition_id, catalog_course, 'all' as breakdown, '' as value, ended as window_ended,
            activated as window_activated
        from {{ ref("activation_windows") }}
        union all
        select definition_id, catalog_course, 'run' as breakdown, course_key as value, ended as window_ended,
            activated as window_activated
        from {{ ref("activation_windows") }}
        union all
        select definition_id, catalog_course, 'arm' as breakdown, arm as value, ended as window_ended,
            activated as window_activated
        from {{ ref("activation_windows") }}
        union all
        select definition_id, catalog_course, 'month' as breakdown, formatDateTime(opened_at, '%Y-%m') as value, ended as window_ended,
            activated as window_activated
        from {{ ref("activation_windows") }}
    ),
    counts as (
        select
            definition_id,
            any(catalog_course) as catalog_course,
            breakdown,
            value,
            count() as completers,
            countIf(window_ended) as eligible,
            countIf(window_ended and window_activated) as activated,
            countIf(not window_ended) as open,
            countIf(not window_ended and window_activated) as open_activated
        from groups
        group by definition_id, breakdown, value
    )
select
    *,
    if(eligible = 0, null, activated / eligible) as rate,
    1.959963984540054 * 1.959963984540054 / eligible as z2n,
    (rate + z2n / 2) / (1 + z2n) as centre,
    1.959963984540054 * sqrt(rate * (1 - rate) / eligible + z2n / (4 * eligible)) / (1 + z2n) as half,
    greatest(0, least(rate, centre - half)) as rate_low,
    least(1, greatest(rate, centre + half)) as rate_high
from counts
