{{ config(materialized="view") }}

-- The activation rate per definition and course run (breakdown 'all'), and per run and arm or
-- cohort month: among the windows that ended, the share that activated (running windows are
-- censored, even those that already activated), with its 95 % Wilson interval. Every row is of
-- one run (course_key), so that Aspects' row-level security shows instructors their runs only;
-- figures over several runs are sums of the counts, their interval the datasets' saved metrics.
-- The run's org is there too: the guest token of a dashboard embedded in a course filters on it.
-- No small-cell suppression here: who may see which rows is Superset's row-level security.
with
    groups as (
        select definition_id, catalog_course, course_key, org, 'all' as breakdown, '' as value,
            ended as window_ended, activated as window_activated
        from {{ ref("activation_windows") }}
        union all
        select definition_id, catalog_course, course_key, org, 'arm' as breakdown, arm as value,
            ended as window_ended, activated as window_activated
        from {{ ref("activation_windows") }}
        union all
        select definition_id, catalog_course, course_key, org, 'month' as breakdown,
            formatDateTime(opened_at, '%Y-%m') as value, ended as window_ended, activated as window_activated
        from {{ ref("activation_windows") }}
    ),
    counts as (
        select
            definition_id,
            any(catalog_course) as catalog_course,
            course_key,
            any(org) as org,
            breakdown,
            value,
            count() as completers,
            countIf(window_ended) as eligible,
            countIf(window_ended and window_activated) as activated,
            countIf(not window_ended) as open,
            countIf(not window_ended and window_activated) as open_activated
        from groups
        group by definition_id, course_key, breakdown, value
    )
select
    *,
    if(eligible = 0, null, activated / eligible) as rate,
    {{ activation_wilson("activated", "eligible", "low") }} as rate_low,
    {{ activation_wilson("activated", "eligible", "high") }} as rate_high
from counts
