-- purpose: this release's list: the listed people of list_ranked (people to call, plus people in hospital
--          now held off the call list) with what a coordinator needs before calling: recent hospital
--          activity in words, days since the last EMERGENCY discharge, end-of-life proxy, care home, a
--          recent contact by a managing community team, the counts behind the impactability note, and
--          the change since the previous release (new / risen / fallen / unchanged tier).
-- grain: one row per listed person (a person is in one PCN).
-- inputs: list_ranked (temp), list_previous (temp, the previous release's rows), clin_spells,
--         clin_episodes (treatment function of the first episode), clin_ed_attendances,
--         clin_community_contacts, list_ref_diagnoses, list_ref_procedures, list_ref_procedure_chapters,
--         list_ref_treatment_functions, list_ref_department_types (temp; lists/codes/sources.yaml).
-- parameters: $as_of, $community_days, $managing_team_types, $acsc_window_months, $recent_months
--             (lists/row_rules.yaml).
-- rules: days_since_emergency_discharge is blank when there is no emergency discharge on or before the
--        as-of date, or when the person is in hospital now (the last discharge is then not "since").
--        The procedure is the first (primary) OPCS-4 code of the admission's first episode: its OPCS-4.10
--        title when shipped, else its chapter (OPCS-4 chapters A-Z).
--        Impactability counts are emergency admissions (clin_spells.is_emergency) admitted in the window
--        ending on the as-of date; rising use compares the last $recent_months months with the
--        $recent_months months before.
CREATE OR REPLACE TEMP TABLE list_current AS
WITH listed AS (
    SELECT * FROM list_ranked WHERE listed
),

emergency AS (
    SELECT s.*
    FROM clin_spells AS s
    WHERE s.is_emergency
      AND s.admission_date <= $as_of
      AND s.person_key IN (SELECT person_key FROM listed)
),

activity AS (
    SELECT
        person_key,
        max(admission_date) AS last_emergency_admission,
        arg_max(primary_diagnosis, admission_date) AS last_emergency_diagnosis_code,
        arg_max(first_episode_id, admission_date) AS last_emergency_episode_id,
        max(discharge_date) FILTER (WHERE discharge_date <= $as_of) AS last_emergency_discharge,
        count(*) FILTER (
            WHERE admission_date > CAST($as_of AS DATE) - to_months(CAST($acsc_window_months AS INTEGER))
        ) AS emergency_admissions_window,
        count(*) FILTER (
            WHERE is_acsc AND admission_date > CAST($as_of AS DATE) - to_months(CAST($acsc_window_months AS INTEGER))
        ) AS acsc_admissions_window,
        count(*) FILTER (
            WHERE admission_date > CAST($as_of AS DATE) - to_months(CAST($recent_months AS INTEGER))
        ) AS emergency_admissions_recent,
        count(*) FILTER (
            WHERE admission_date > CAST($as_of AS DATE) - to_months(2 * CAST($recent_months AS INTEGER))
              AND admission_date <= CAST($as_of AS DATE) - to_months(CAST($recent_months AS INTEGER))
        ) AS emergency_admissions_before
    FROM emergency
    GROUP BY person_key
),

diagnosis AS (
    -- The longest shipped ICD-10 prefix of the last emergency admission's primary diagnosis.
    SELECT
        a.person_key,
        arg_max(r.description, length(r.code)) AS description,
        arg_max(r.kind, length(r.code)) AS kind
    FROM activity AS a
    INNER JOIN list_ref_diagnoses AS r ON starts_with(a.last_emergency_diagnosis_code, r.code)
    GROUP BY a.person_key
),

specialty AS (
    SELECT a.person_key, e.treatment_specialty, t.description, e.procedures[1] AS procedure_code
    FROM activity AS a
    INNER JOIN clin_episodes AS e ON e.episode_id = a.last_emergency_episode_id
    LEFT JOIN list_ref_treatment_functions AS t ON t.code = e.treatment_specialty
),

procedure AS (
    SELECT
        sp.person_key,
        CASE WHEN length(sp.procedure_code) > 3
            THEN left(sp.procedure_code, 3) || '.' || substr(sp.procedure_code, 4)
            ELSE sp.procedure_code END AS dotted,
        p.description AS title,
        c.chapter,
        c.title AS chapter_title
    FROM specialty AS sp
    LEFT JOIN list_ref_procedures AS p ON p.code = sp.procedure_code
    LEFT JOIN list_ref_procedure_chapters AS c ON c.chapter = left(sp.procedure_code, 1)
    WHERE sp.procedure_code IS NOT NULL
),

last_ed AS (
    SELECT
        e.person_key,
        max(e.arrival_date) AS arrived,
        arg_max(e.department_type, e.arrival_date) AS department_type
    FROM clin_ed_attendances AS e
    WHERE e.arrival_date <= $as_of AND e.person_key IN (SELECT person_key FROM listed)
    GROUP BY e.person_key
),

community AS (
    SELECT
        c.person_key,
        arg_max(c.team_type, c.contact_date) AS team_type,
        max(c.contact_date) AS contacted
    FROM clin_community_contacts AS c
    WHERE c.attended
      AND c.contact_date <= $as_of
      AND c.contact_date > CAST($as_of AS DATE) - CAST($community_days AS INTEGER)
      AND list_contains($managing_team_types, c.team_type)
      AND c.person_key IN (SELECT person_key FROM listed)
    GROUP BY c.person_key
),

tier_order AS (
    SELECT ['very_high', 'high', 'moderate', 'low', 'not_scored'] AS tiers
)

SELECT
    l.pcn_code,
    l.list_rank,
    l.risk_rank,
    CASE WHEN l.list_rank IS NOT NULL THEN
        row_number() OVER (PARTITION BY l.pcn_code, l.practice_code, l.list_rank IS NULL ORDER BY l.list_rank)
    END AS practice_rank,
    l.person_key AS person_token,
    l.practice_code,
    l.age_band,
    l.sex,
    l.segment,
    l.tier,
    l.risk,
    l.percentile,
    l.reason_1,
    l.reason_2,
    l.reason_3,
    CASE WHEN l.in_hospital_now THEN 'Y' ELSE 'N' END AS in_hospital_now,
    l.in_hospital_detail,
    a.last_emergency_admission,
    CASE WHEN NOT l.in_hospital_now THEN date_diff('day', a.last_emergency_discharge, CAST($as_of AS DATE)) END
        AS days_since_emergency_discharge,
    CASE
        WHEN a.last_emergency_diagnosis_code IS NULL THEN NULL
        WHEN d.kind = 'title' THEN dx.dotted || ' ' || d.description
        WHEN d.kind = 'condition' THEN dx.dotted || ', a code for ' || d.description
        ELSE dx.dotted || ' (no description shipped)'
    END AS last_emergency_diagnosis,
    CASE
        WHEN sp.treatment_specialty IS NULL THEN NULL
        WHEN sp.description IS NOT NULL THEN sp.treatment_specialty || ' ' || sp.description
        ELSE 'treatment function ' || sp.treatment_specialty || ' (no description shipped)'
    END AS last_emergency_specialty,
    CASE
        WHEN pr.dotted IS NULL THEN NULL
        WHEN pr.title IS NOT NULL THEN pr.title || ' (OPCS ' || pr.dotted || ')'
        WHEN pr.chapter IS NOT NULL THEN
            'a procedure in OPCS chapter ' || pr.chapter || ', ' || pr.chapter_title || ' (OPCS ' || pr.dotted || ')'
        ELSE 'OPCS ' || pr.dotted || ' (no description shipped)'
    END AS last_emergency_procedure,
    CASE WHEN e.arrived IS NOT NULL THEN
        strftime(e.arrived, '%Y-%m-%d')
        || coalesce(', ' || dt.description || ' (type ' || dt.code || ')',
                    ', department type ' || e.department_type || ' (no description shipped)', '')
    END AS last_ed_attendance,
    CASE WHEN l.end_of_life THEN 'Y' ELSE 'N' END AS end_of_life,
    CASE WHEN l.care_home THEN 'Y' ELSE 'N' END AS care_home,
    CASE WHEN m.contacted IS NOT NULL THEN
        replace(m.team_type, '_', ' ') || ' contact on ' || strftime(m.contacted, '%Y-%m-%d')
    END AS community_team_contact,
    coalesce(a.emergency_admissions_window, 0) AS emergency_admissions_window,
    coalesce(a.acsc_admissions_window, 0) AS acsc_admissions_window,
    coalesce(a.emergency_admissions_recent, 0) AS emergency_admissions_recent,
    coalesce(a.emergency_admissions_before, 0) AS emergency_admissions_before,
    CASE WHEN l.social_care THEN 'Y' ELSE 'N' END AS social_care,
    CASE
        WHEN p.person_token IS NULL THEN 'new'
        WHEN list_position(t.tiers, l.tier) < list_position(t.tiers, p.tier) THEN 'risen'
        WHEN list_position(t.tiers, l.tier) > list_position(t.tiers, p.tier) THEN 'fallen'
        ELSE 'unchanged'
    END AS change,
    p.tier AS previous_tier,
    p.list_rank AS previous_rank,
    coalesce(p.on_list_since, CAST($as_of AS DATE)) AS on_list_since
FROM listed AS l
CROSS JOIN tier_order AS t
LEFT JOIN activity AS a ON a.person_key = l.person_key
LEFT JOIN diagnosis AS d ON d.person_key = l.person_key
LEFT JOIN specialty AS sp ON sp.person_key = l.person_key
LEFT JOIN procedure AS pr ON pr.person_key = l.person_key
LEFT JOIN last_ed AS e ON e.person_key = l.person_key
LEFT JOIN list_ref_department_types AS dt ON dt.code = lpad(e.department_type, 2, '0')
LEFT JOIN community AS m ON m.person_key = l.person_key
LEFT JOIN list_previous AS p ON p.pcn_code = l.pcn_code AND p.person_token = l.person_key
CROSS JOIN LATERAL (
    SELECT CASE WHEN length(a.last_emergency_diagnosis_code) > 3
        THEN left(a.last_emergency_diagnosis_code, 3) || '.' || substr(a.last_emergency_diagnosis_code, 4)
        ELSE a.last_emergency_diagnosis_code END AS dotted
) AS dx
