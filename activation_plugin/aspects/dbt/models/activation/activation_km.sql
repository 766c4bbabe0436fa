{{ config(materialized="view") }}

-- The Kaplan-Meier curve of time to activation per definition and course run (row-level security
-- shows instructors their runs; a curve does not add up across runs), as stats.kaplan_meier computes it:
-- one row per whole day with an activation or a censoring (activations before censorings),
-- survival = share not yet activated, its 95 % band on the log(-log) scale (Greenwood), and
-- activated_by_window_end = 1 - survival at the window's last day (km_rate on the page).
with
    days as (
        select
            definition_id,
            any(catalog_course) as catalog_course,
            course_key,
            any(org) as org,
            km_day as day,
            max(window_days) as window_days,
            countIf(activated) as events,
            countIf(not activated) as censored
        from {{ ref("activation_windows") }}
        group by definition_id, course_key, day
    ),
    risk as (
        select
            *,
            sum(events + censored) over (partition by definition_id, course_key)
            - sum(events + censored) over (
                partition by definition_id, course_key order by day rows between unbounded preceding and 1 preceding
            ) as at_risk
        from days
    ),
    steps as (
        select
            *,
            exp(sum(log(1 - events / at_risk)) over (
                partition by definition_id, course_key order by day rows between unbounded preceding and current row
            )) as survival,
            sum(if(events > 0 and events < at_risk, events / (at_risk * (at_risk - events)), 0)) over (
                partition by definition_id, course_key order by day rows between unbounded preceding and current row
            ) as greenwood
        from risk
    )
select
    definition_id,
    catalog_course,
    course_key,
    org,
    day,
    at_risk,
    events,
    censored,
    survival,
    if(survival > 0 and survival < 1,
       pow(survival, exp(1.959963984540054 * sqrt(greenwood) / abs(log(survival)))), survival) as low,
    if(survival > 0 and survival < 1,
       pow(survival, 1 / exp(1.959963984540054 * sqrt(greenwood) / abs(log(survival)))), survival) as high,
    1 - survival as activated_share,
    1 - argMax(survival, if(day <= window_days, day, -1)) over (partition by definition_id, course_key)
        as activated_by_window_end
from steps
