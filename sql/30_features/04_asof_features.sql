-- purpose: point-in-time model features at the as-of date: only records dated strictly before
--          as_of are read, and any interval that crosses as_of is cut at as_of.
-- grain: one row per cohort person (asof_cohort) at the as-of date.
-- inputs: asof_cohort, asof_person_scores, clin_stays, clin_spells, clin_ed_attendances,
--         clin_outpatients, clin_community_contacts, clin_social_care.
-- parameters: $as_of, $end_of_life_lookback_months.
-- windows: "_Nm" counts records dated in [as_of - N months, as_of).
-- record dates: admissions by stay admission date; bed days by the days of each spell of an
--   emergency stay that fall inside the window and before as_of (an unfinished spell runs to
--   as_of); ED by arrival date; outpatients by appointment date; community contacts (attended)
--   by contact date; social care services (event type service) by overlap of [start, end] with
--   the window, and their cost as daily cost x days of overlap before as_of.
-- feature definitions and plain-words reasons: src/popheath/clinical/feature_dictionary.yaml.
CREATE OR REPLACE TABLE asof_features AS
WITH params AS (
    SELECT
        CAST($as_of AS DATE) AS as_of,
        CAST(CAST($as_of AS DATE) - INTERVAL 3 MONTH AS DATE) AS m3,
        CAST(CAST($as_of AS DATE) - INTERVAL 6 MONTH AS DATE) AS m6,
        CAST(CAST($as_of AS DATE) - INTERVAL 12 MONTH AS DATE) AS m12,
        CAST(CAST($as_of AS DATE) - INTERVAL 24 MONTH AS DATE) AS m24,
        CAST(CAST($as_of AS DATE) - to_months(CAST($end_of_life_lookback_months AS INTEGER)) AS DATE) AS eol_from
),
stays AS (
    SELECT
        s.person_key,
        count(*) FILTER (WHERE s.is_emergency AND s.admission_date >= p.m3) AS emergency_admissions_3m,
        count(*) FILTER (WHERE s.is_emergency AND s.admission_date >= p.m6) AS emergency_admissions_6m,
        count(*) FILTER (WHERE s.is_emergency AND s.admission_date >= p.m12) AS emergency_admissions_12m,
        count(*) FILTER (WHERE s.is_emergency) AS emergency_admissions_24m,
        count(*) FILTER (WHERE s.is_acsc AND s.admission_date >= p.m3) AS acsc_admissions_3m,
        count(*) FILTER (WHERE s.is_acsc AND s.admission_date >= p.m6) AS acsc_admissions_6m,
        count(*) FILTER (WHERE s.is_acsc AND s.admission_date >= p.m12) AS acsc_admissions_12m,
        count(*) FILTER (WHERE s.is_acsc) AS acsc_admissions_24m,
        count(*) FILTER (WHERE NOT s.is_emergency AND s.admission_date >= p.m12) AS other_admissions_12m,
        count(*) FILTER (WHERE s.is_readmission_30d AND s.admission_date >= p.m12) AS emergency_readmissions_12m,
        count(*) FILTER (WHERE s.is_fall AND s.admission_date >= p.m12) AS fall_admissions_12m,
        count(*) FILTER (WHERE s.is_fall) AS fall_admissions_24m,
        count(*) FILTER (
            WHERE s.admission_date >= p.m12 AND least(coalesce(s.discharge_date, p.as_of), p.as_of) - s.admission_date >= 21
        ) AS long_stays_12m
    FROM clin_stays AS s
    CROSS JOIN params AS p
    WHERE s.admission_date < p.as_of AND s.admission_date >= p.m24
    GROUP BY s.person_key
),
emergency_spells AS (
    SELECT
        sp.person_key,
        greatest(sp.admission_date, w.window_start) AS from_day,
        least(coalesce(sp.discharge_date, p.as_of), p.as_of) AS to_day,
        w.months,
        CASE WHEN sp.discharge_date < p.as_of THEN sp.discharge_date END AS discharge_before_as_of
    FROM clin_spells AS sp
    JOIN clin_stays AS st ON st.stay_key = sp.stay_key
    CROSS JOIN params AS p
    CROSS JOIN (
        SELECT 3 AS months, m3 AS window_start FROM params
        UNION ALL SELECT 6, m6 FROM params
        UNION ALL SELECT 12, m12 FROM params
        UNION ALL SELECT 24, m24 FROM params
    ) AS w
    WHERE st.is_emergency
      AND sp.admission_date < p.as_of
      AND coalesce(sp.discharge_date, p.as_of) >= p.m24
),
bed_days AS (
    SELECT
        person_key,
        coalesce(sum(greatest(to_day - from_day, 0)) FILTER (WHERE months = 3), 0) AS emergency_bed_days_3m,
        coalesce(sum(greatest(to_day - from_day, 0)) FILTER (WHERE months = 6), 0) AS emergency_bed_days_6m,
        coalesce(sum(greatest(to_day - from_day, 0)) FILTER (WHERE months = 12), 0) AS emergency_bed_days_12m,
        coalesce(sum(greatest(to_day - from_day, 0)) FILTER (WHERE months = 24), 0) AS emergency_bed_days_24m
    FROM emergency_spells
    GROUP BY person_key
),
last_discharge AS (
    SELECT sp.person_key, max(sp.discharge_date) AS last_emergency_discharge
    FROM clin_spells AS sp
    JOIN clin_stays AS st ON st.stay_key = sp.stay_key
    CROSS JOIN params AS p
    WHERE st.is_emergency AND sp.discharge_date < p.as_of
    GROUP BY sp.person_key
),
palliative_spells AS (
    SELECT DISTINCT sp.person_key
    FROM clin_spells AS sp
    CROSS JOIN params AS p
    WHERE sp.has_palliative_specialty AND sp.admission_date < p.as_of AND sp.admission_date >= p.eol_from
),
ed AS (
    SELECT
        e.person_key,
        count(*) FILTER (WHERE e.arrival_date >= p.m3) AS ed_attendances_3m,
        count(*) FILTER (WHERE e.arrival_date >= p.m6) AS ed_attendances_6m,
        count(*) FILTER (WHERE e.arrival_date >= p.m12) AS ed_attendances_12m,
        count(*) AS ed_attendances_24m
    FROM clin_ed_attendances AS e
    CROSS JOIN params AS p
    WHERE e.arrival_date < p.as_of AND e.arrival_date >= p.m24
    GROUP BY e.person_key
),
outpatients AS (
    SELECT
        o.person_key,
        count(*) FILTER (WHERE o.attended AND o.appointment_date >= p.m3) AS op_attendances_3m,
        count(*) FILTER (WHERE o.attended AND o.appointment_date >= p.m6) AS op_attendances_6m,
        count(*) FILTER (WHERE o.attended AND o.appointment_date >= p.m12) AS op_attendances_12m,
        count(*) FILTER (WHERE o.attended) AS op_attendances_24m,
        count(*) FILTER (WHERE o.did_not_attend AND o.appointment_date >= p.m3) AS op_dnas_3m,
        count(*) FILTER (WHERE o.did_not_attend AND o.appointment_date >= p.m6) AS op_dnas_6m,
        count(*) FILTER (WHERE o.did_not_attend AND o.appointment_date >= p.m12) AS op_dnas_12m,
        count(*) FILTER (WHERE o.did_not_attend) AS op_dnas_24m
    FROM clin_outpatients AS o
    CROSS JOIN params AS p
    WHERE o.appointment_date < p.as_of AND o.appointment_date >= p.m24
    GROUP BY o.person_key
),
community AS (
    SELECT
        c.person_key,
        count(*) FILTER (WHERE c.contact_date >= p.m3) AS community_contacts_3m,
        count(*) FILTER (WHERE c.contact_date >= p.m6) AS community_contacts_6m,
        count(*) FILTER (WHERE c.contact_date >= p.m12) AS community_contacts_12m,
        count(*) AS community_contacts_24m,
        count(*) FILTER (WHERE c.contact_date >= p.m12 AND c.team_type = 'district_nursing')
            AS district_nursing_contacts_12m,
        count(*) FILTER (WHERE c.contact_date >= p.m12 AND c.team_type = 'community_matron')
            AS community_matron_contacts_12m,
        count(*) FILTER (WHERE c.contact_date >= p.m12 AND c.team_type = 'rapid_response')
            AS rapid_response_contacts_12m,
        count(*) FILTER (WHERE c.contact_date >= p.m12 AND c.team_type = 'intermediate_care')
            AS intermediate_care_contacts_12m,
        count(*) FILTER (WHERE c.contact_date >= p.m12 AND c.team_type IN ('rehabilitation', 'therapy'))
            AS rehabilitation_therapy_contacts_12m,
        count(*) FILTER (WHERE c.contact_date >= p.m12 AND c.team_type = 'specialist_nursing')
            AS specialist_nursing_contacts_12m
    FROM clin_community_contacts AS c
    CROSS JOIN params AS p
    WHERE c.attended AND c.contact_date < p.as_of AND c.contact_date >= p.m24
    GROUP BY c.person_key
),
social_care AS (
    SELECT
        s.person_key,
        count(*) FILTER (WHERE coalesce(s.event_end, p.as_of) >= p.m3) AS social_care_services_3m,
        count(*) FILTER (WHERE coalesce(s.event_end, p.as_of) >= p.m6) AS social_care_services_6m,
        count(*) FILTER (WHERE coalesce(s.event_end, p.as_of) >= p.m12) AS social_care_services_12m,
        count(*) AS social_care_services_24m,
        count(*) FILTER (WHERE coalesce(s.event_end, p.as_of) >= p.m12 AND s.service_type = 'home_care')
            AS home_care_services_12m,
        count(*) FILTER (WHERE coalesce(s.event_end, p.as_of) >= p.m12 AND s.service_type = 'reablement')
            AS reablement_services_12m,
        coalesce(sum(
            s.daily_cost * greatest(
                least(coalesce(s.event_end + 1, p.as_of), p.as_of) - greatest(s.event_start, p.m12), 0)
        ), 0) AS social_care_cost_12m
    FROM clin_social_care AS s
    CROSS JOIN params AS p
    WHERE s.is_service AND s.event_start < p.as_of AND coalesce(s.event_end, p.as_of) >= p.m24
    GROUP BY s.person_key
)
SELECT
    c.as_of,
    c.person_key,
    c.age,
    CASE c.sex WHEN 'F' THEN 1 WHEN 'M' THEN 0 END AS sex_female,
    c.imd_decile,
    CAST(c.care_home AS INTEGER) AS care_home,
    coalesce(st.emergency_admissions_3m, 0) AS emergency_admissions_3m,
    coalesce(st.emergency_admissions_6m, 0) AS emergency_admissions_6m,
    coalesce(st.emergency_admissions_12m, 0) AS emergency_admissions_12m,
    coalesce(st.emergency_admissions_24m, 0) AS emergency_admissions_24m,
    coalesce(st.acsc_admissions_3m, 0) AS acsc_admissions_3m,
    coalesce(st.acsc_admissions_6m, 0) AS acsc_admissions_6m,
    coalesce(st.acsc_admissions_12m, 0) AS acsc_admissions_12m,
    coalesce(st.acsc_admissions_24m, 0) AS acsc_admissions_24m,
    coalesce(st.other_admissions_12m, 0) AS other_admissions_12m,
    coalesce(st.emergency_readmissions_12m, 0) AS emergency_readmissions_12m,
    coalesce(st.long_stays_12m, 0) AS long_stays_12m,
    coalesce(st.fall_admissions_12m, 0) AS fall_admissions_12m,
    coalesce(st.fall_admissions_24m, 0) AS fall_admissions_24m,
    coalesce(b.emergency_bed_days_3m, 0) AS emergency_bed_days_3m,
    coalesce(b.emergency_bed_days_6m, 0) AS emergency_bed_days_6m,
    coalesce(b.emergency_bed_days_12m, 0) AS emergency_bed_days_12m,
    coalesce(b.emergency_bed_days_24m, 0) AS emergency_bed_days_24m,
    CAST(c.as_of - l.last_emergency_discharge AS INTEGER) AS days_since_last_emergency_discharge,
    coalesce(e.ed_attendances_3m, 0) AS ed_attendances_3m,
    coalesce(e.ed_attendances_6m, 0) AS ed_attendances_6m,
    coalesce(e.ed_attendances_12m, 0) AS ed_attendances_12m,
    coalesce(e.ed_attendances_24m, 0) AS ed_attendances_24m,
    coalesce(o.op_attendances_3m, 0) AS op_attendances_3m,
    coalesce(o.op_attendances_6m, 0) AS op_attendances_6m,
    coalesce(o.op_attendances_12m, 0) AS op_attendances_12m,
    coalesce(o.op_attendances_24m, 0) AS op_attendances_24m,
    coalesce(o.op_dnas_3m, 0) AS op_dnas_3m,
    coalesce(o.op_dnas_6m, 0) AS op_dnas_6m,
    coalesce(o.op_dnas_12m, 0) AS op_dnas_12m,
    coalesce(o.op_dnas_24m, 0) AS op_dnas_24m,
    coalesce(cc.community_contacts_3m, 0) AS community_contacts_3m,
    coalesce(cc.community_contacts_6m, 0) AS community_contacts_6m,
    coalesce(cc.community_contacts_12m, 0) AS community_contacts_12m,
    coalesce(cc.community_contacts_24m, 0) AS community_contacts_24m,
    coalesce(cc.district_nursing_contacts_12m, 0) AS district_nursing_contacts_12m,
    coalesce(cc.community_matron_contacts_12m, 0) AS community_matron_contacts_12m,
    coalesce(cc.rapid_response_contacts_12m, 0) AS rapid_response_contacts_12m,
    coalesce(cc.intermediate_care_contacts_12m, 0) AS intermediate_care_contacts_12m,
    coalesce(cc.rehabilitation_therapy_contacts_12m, 0) AS rehabilitation_therapy_contacts_12m,
    coalesce(cc.specialist_nursing_contacts_12m, 0) AS specialist_nursing_contacts_12m,
    coalesce(sc.social_care_services_3m, 0) AS social_care_services_3m,
    coalesce(sc.social_care_services_6m, 0) AS social_care_services_6m,
    coalesce(sc.social_care_services_12m, 0) AS social_care_services_12m,
    coalesce(sc.social_care_services_24m, 0) AS social_care_services_24m,
    coalesce(sc.home_care_services_12m, 0) AS home_care_services_12m,
    coalesce(sc.reablement_services_12m, 0) AS reablement_services_12m,
    round(coalesce(sc.social_care_cost_12m, 0), 2) AS social_care_cost_12m,
    CAST(c.social_care_long_term AS INTEGER) AS social_care_long_term,
    CAST(coalesce(ps.hfrs, 0) AS DOUBLE) AS hfrs,
    CAST(coalesce(ps.frailty_syndromes, 0) AS INTEGER) AS frailty_syndromes,
    CAST(coalesce(ps.charlson_score, 0) AS INTEGER) AS charlson_score,
    CAST(coalesce(ps.charlson_quan_score, 0) AS INTEGER) AS charlson_quan_score,
    CAST(coalesce(ps.elixhauser_vw, 0) AS INTEGER) AS elixhauser_vw,
    CAST(coalesce(ps.long_term_conditions, 0) AS INTEGER) AS long_term_conditions,
    CAST(coalesce(ps.end_of_life_proxy, FALSE) OR pal.person_key IS NOT NULL AS INTEGER) AS end_of_life_proxy
FROM asof_cohort AS c
LEFT JOIN stays AS st ON st.person_key = c.person_key
LEFT JOIN bed_days AS b ON b.person_key = c.person_key
LEFT JOIN last_discharge AS l ON l.person_key = c.person_key
LEFT JOIN palliative_spells AS pal ON pal.person_key = c.person_key
LEFT JOIN ed AS e ON e.person_key = c.person_key
LEFT JOIN outpatients AS o ON o.person_key = c.person_key
LEFT JOIN community AS cc ON cc.person_key = c.person_key
LEFT JOIN social_care AS sc ON sc.person_key = c.person_key
LEFT JOIN asof_person_scores AS ps ON ps.person_key = c.person_key
