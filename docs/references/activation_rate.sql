-- Activation figures per definition and course run from the edx.activation.* events alone,
-- as of :as_of. A definition's figures are the sums of its runs' rows; rate = activated / eligible.
-- One row per event in activation_events: name, emitted_at (the event's timestamp) and the
-- fields of its data as columns. Standard SQL with a window function: the test suite runs it
-- on SQLite; ClickHouse and MySQL 8 accept the same constructs (bind :as_of their way).
WITH opened AS (
    SELECT DISTINCT window_id, catalog_course, definition_id, course_id, closes_at
    FROM activation_events
    WHERE name = 'edx.activation.window.opened'
      -- A learner who withdrew is in no figure.
      AND window_id NOT IN (SELECT window_id FROM activation_events WHERE name = 'edx.activation.window.withdrawn')
),
latest AS (
    -- A window's state is the last state change emitted for it.
    SELECT window_id, name,
           ROW_NUMBER() OVER (PARTITION BY window_id ORDER BY emitted_at DESC) AS position
    FROM activation_events
    WHERE name IN ('edx.activation.window.activated', 'edx.activation.window.reopened',
                   'edx.activation.window.expired')
)
SELECT o.catalog_course,
       o.definition_id,
       o.course_id,
       COUNT(*) AS completers,
       -- Windows still running are censored, even those that already activated: only windows
       -- whose whole window has elapsed are eligible, and activated counts among them.
       SUM(CASE WHEN l.name = 'edx.activation.window.activated' AND o.closes_at <= :as_of
                THEN 1 ELSE 0 END) AS activated,
       SUM(CASE WHEN o.closes_at <= :as_of THEN 1 ELSE 0 END) AS eligible
FROM opened AS o
LEFT JOIN latest AS l ON l.window_id = o.window_id AND l.position = 1
GROUP BY o.catalog_course, o.definition_id, o.course_id
ORDER BY o.catalog_course, o.definition_id, o.course_id
