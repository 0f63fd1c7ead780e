-- purpose: which candidates are in hospital now (lists/row_rules.yaml rule in_hospital_now): a spell
--          admitted on or before the as-of date and not discharged by it, or an ED attendance on one
--          of the last $ed_recent_days days of ED data (counted back from the latest attendance on or
--          before the as-of date). They are shown first on the list and held off the call list.
-- grain: one row per candidate in hospital now (people not in hospital have no row).
-- inputs: list_candidates (temp), clin_spells, clin_ed_attendances, list_ref_department_types (temp).
-- parameters: $as_of, $ed_recent_days
CREATE OR REPLACE TEMP TABLE list_in_hospital AS
WITH open_spells AS (
    SELECT s.person_key, max(s.admission_date) AS admitted
    FROM clin_spells AS s
    WHERE s.person_key IN (SELECT person_key FROM list_candidates)
      AND s.admission_date <= $as_of
      AND (s.discharge_date IS NULL OR s.discharge_date > $as_of)
    GROUP BY s.person_key
),

ed_end AS (
    SELECT max(arrival_date) AS last_day FROM clin_ed_attendances WHERE arrival_date <= $as_of
),

recent_ed AS (
    SELECT
        e.person_key,
        max(e.arrival_date) AS arrived,
        arg_max(e.department_type, e.arrival_date) AS department_type
    FROM clin_ed_attendances AS e
    CROSS JOIN ed_end AS d
    WHERE e.person_key IN (SELECT person_key FROM list_candidates)
      AND e.arrival_date <= $as_of
      AND e.arrival_date > d.last_day - CAST($ed_recent_days AS INTEGER)
    GROUP BY e.person_key
)

SELECT
    coalesce(o.person_key, e.person_key) AS person_key,
    concat_ws(
        '; ',
        CASE WHEN o.admitted IS NOT NULL
            THEN 'in hospital: admitted ' || strftime(o.admitted, '%Y-%m-%d') || ', no discharge recorded' END,
        CASE WHEN e.arrived IS NOT NULL
            THEN 'A&E attendance on ' || strftime(e.arrived, '%Y-%m-%d')
                || coalesce(' (' || t.description || ')', '') END
    ) AS in_hospital_detail
FROM open_spells AS o
FULL OUTER JOIN recent_ed AS e ON e.person_key = o.person_key
LEFT JOIN list_ref_department_types AS t ON t.code = lpad(e.department_type, 2, '0')
