-- purpose: hospital provider spells built from APC episodes, each placed in a continuous
--          inpatient spell (stay_key) when it continues a stay by transfer.
-- grain: one row per hospital provider spell (spell_key).
-- inputs: clin_episodes, clin_episode_diagnoses, clin_code_conditions, ref_acsc_rules.
-- parameters: none.
-- rules:
--   spell: episodes sharing (person, provider, admission date, hospital provider spell number),
--     as NHS Digital "Methodology to create provider and CIP spells from HES APC data" groups
--     episodes on TOKEN_PERSON_ID, ADMIDATE, PROCODET and PROVSPNOPS (quoted in The-Strategy-Unit/
--     hes_processing apc/silver "Process HES APC (Episodes)"); when the spell number is missing,
--     (person, provider, admission date). Earlier versions grouped on the spell number without the
--     admission date; they differ only when one spell number carries two admission dates.
--   regular attenders: an episode with CLASSPAT 3 (regular day attender) or 4 (regular night
--     attender) is a spell of its own (same methodology). It is kept here (is_regular_attender)
--     and costed, but it is never an admission: it has no stay_key, so clin_stays and every
--     admission count, feature and label built on clin_stays leave it out, and is_emergency,
--     is_acsc and is_fall are FALSE for it.
--   is_day_case: elective ADMIMETH 11, 12 or 13 with CLASSPAT 2 (The-Strategy-Unit/nhp_data
--     raw_data/inpatients.py point-of-delivery rules). CLASSPAT missing: FALSE and not a regular
--     attender, so spells are exactly as without the field.
--   first episode: lowest episode order (then episode start); it gives the admission
--     method, source, patient classification and the primary diagnosis. Last episode: discharge
--     destination and method; discharge date is the latest on any episode (NULL: spell unfinished).
--   length_of_stay: discharge date - admission date in days (same-day = 0; NULL if unfinished).
--   is_emergency: ADMIMETH of the first episode in 21, 22, 23, 24, 25, 2A, 2B, 2C, 2D, 28
--     (NHS Data Dictionary, Admission Method: emergency admissions).
--   is_acsc / acsc_groups: emergency AND the primary diagnosis of the FIRST episode is on the ACSC
--     list in one or more groups (chronic, acute, vaccine_preventable) and passes that group's
--     rule; acsc_groups lists every group that matches (sorted), acsc_group is the same as text
--     ("chronic, vaccine_preventable") for display. The NHS Outcomes Framework 2.3.i and 3a
--     specifications count emergency admissions on the primary diagnosis of the first episode of
--     the spell (EPIORDER = 1): later episodes reflect in-hospital events, not the reason for
--     admission. Rules from ref_acsc_rules on the same first episode, in the scope each states:
--     exclude_if_procedure (OPCS-4 prefix in the primary / any procedure), requires_diagnosis and
--     exclude_if_diagnosis (ICD-10 prefix in any / a secondary diagnosis position).
--   chronic ACSC filters: the chronic group also needs the NHS OF 2.3.i specification v1.15
--     filters on the first episode: ADMISORC not 51, 52, 53 (excludes transfers), CLASSPAT 1
--     (ordinary admissions) and EPISTAT 1 or 3; a field not delivered (NULL) passes.
--   is_fall: emergency AND the first episode has an injury primary diagnosis (S00-T98) and a fall
--     external cause (W00-W19) in a secondary position (ref_falls categories injury and
--     fall_external_cause): OHID Public Health Outcomes Framework C29 / Fingertips indicator 22401,
--     emergency hospital admissions due to falls.
--   is_long_stay: length of stay 21+ days (NHS England/Improvement "super-stranded" patients,
--     Guide to reducing long hospital stays, 2018).
--   transfers: continuous inpatient spells (CIPS), same NHS Digital methodology - a spell
--     continues the person's previous spell when it starts 0-3 days after that spell's
--     discharge, the previous spell did not end in death (DISMETH 4, 5), and the transfer is
--     documented: previous DISDEST in 49-53 (to another NHS hospital provider), or this spell's
--     ADMISORC in 49-53 (from another NHS hospital provider), or ADMIMETH 2B / 81 (transfer of
--     an admitted patient). A stay's admission attributes come from its first spell only.
CREATE OR REPLACE TABLE clin_spells AS
WITH keyed AS (
    SELECT
        *,
        coalesce(patient_classification IN ('3', '4'), FALSE) AS is_regular_attender_episode,
        concat_ws('|', person_key, provider_code,
                  CASE
                      WHEN coalesce(patient_classification IN ('3', '4'), FALSE) THEN 'ep:' || episode_id
                      WHEN spell_id IS NOT NULL THEN coalesce(CAST(admission_date AS VARCHAR), '') || '|' || spell_id
                      ELSE 'adm:' || CAST(coalesce(admission_date, episode_start) AS VARCHAR)
                  END) AS spell_key,
        -- first / last episode: lowest / highest episode order, then episode date (ties: arbitrary)
        CAST(coalesce(episode_order, 999) AS BIGINT) * 1000000
            + coalesce(CAST(episode_date - DATE '1900-01-01' AS BIGINT), 0) AS episode_rank
    FROM clin_episodes
),
spells AS (
    SELECT
        spell_key,
        person_key,
        any_value(provider_code) AS provider_code,
        any_value(spell_id) AS spell_id,
        min(coalesce(admission_date, episode_start)) AS admission_date,
        max(discharge_date) AS discharge_date,
        arg_min_null(episode_id, episode_rank) AS first_episode_id,
        arg_min_null(admission_method, episode_rank) AS admission_method,
        arg_min_null(admission_source, episode_rank) AS admission_source,
        arg_min_null(patient_classification, episode_rank) AS patient_classification,
        arg_min_null(episode_status, episode_rank) AS first_episode_status,
        bool_or(is_regular_attender_episode) AS is_regular_attender,
        arg_min_null(procedures, episode_rank) AS first_episode_procedures,
        arg_max_null(discharge_destination, episode_rank) AS discharge_destination,
        arg_max_null(discharge_method, episode_rank) AS discharge_method,
        arg_max(hrg_code, episode_rank) AS hrg_code,
        bool_or(out_of_ics_provider) AS out_of_ics_provider,
        bool_or(treatment_specialty = '315') AS has_palliative_specialty,
        count(*) AS episode_count
    FROM keyed
    GROUP BY spell_key, person_key
),
first_episode_codes AS (
    SELECT s.spell_key, d.position, m.scheme, m.listed_code, m.condition, m.acsc_group, m.rule
    FROM spells AS s
    JOIN clin_episode_diagnoses AS d ON d.episode_id = s.first_episode_id
    JOIN clin_code_conditions AS m ON m.code = d.code
    WHERE m.scheme IN ('acsc', 'acsc_rule_dx', 'falls')
),
acsc_candidates AS (
    SELECT spell_key, condition, acsc_group, rule
    FROM first_episode_codes
    WHERE scheme = 'acsc' AND position = 1
),
-- OPCS-4 procedures of the first episode, as prefixes, for the exclude_if_procedure rules.
procedure_prefixes AS (
    SELECT pr.spell_key, pr.position, left(pr.code, CAST(n AS INTEGER)) AS prefix
    FROM (
        SELECT spell_key,
               unnest(first_episode_procedures) AS code,
               unnest(generate_series(1, len(first_episode_procedures))) AS position
        FROM spells
        WHERE spell_key IN (SELECT spell_key FROM acsc_candidates WHERE rule = 'exclude_if_procedure')
    ) AS pr, range(1, length(pr.code) + 1) AS r(n)
    WHERE pr.code IS NOT NULL
),
procedure_exclusions AS (
    SELECT DISTINCT c.spell_key, c.condition
    FROM acsc_candidates AS c
    JOIN procedure_prefixes AS pp ON pp.spell_key = c.spell_key
    JOIN ref_acsc_rules AS r
        ON r.condition = c.condition AND r.rule = c.rule AND r.code_prefix = pp.prefix
       AND (r.applies_to = 'any_procedure' OR (r.applies_to = 'primary_procedure' AND pp.position = 1))
    WHERE c.rule = 'exclude_if_procedure'
),
-- Diagnosis prefixes of the rules, in the scope each rule states (any position or positions 2+).
diagnosis_matches AS (
    SELECT DISTINCT f.spell_key, f.condition, f.rule
    FROM first_episode_codes AS f
    JOIN ref_acsc_rules AS r
        ON r.condition = f.condition AND r.rule = f.rule AND r.code_prefix = f.listed_code
       AND (r.applies_to = 'any_diagnosis' OR (r.applies_to = 'secondary_diagnosis' AND f.position > 1))
    WHERE f.scheme = 'acsc_rule_dx'
),
acsc AS (
    SELECT c.spell_key, list_sort(list_distinct(list(c.acsc_group))) AS acsc_groups
    FROM acsc_candidates AS c
    JOIN spells AS s ON s.spell_key = c.spell_key
    LEFT JOIN procedure_exclusions AS x ON x.spell_key = c.spell_key AND x.condition = c.condition
    LEFT JOIN diagnosis_matches AS h ON h.spell_key = c.spell_key AND h.condition = c.condition AND h.rule = c.rule
    WHERE CASE c.rule
        WHEN 'exclude_if_procedure' THEN x.spell_key IS NULL
        WHEN 'requires_diagnosis' THEN h.spell_key IS NOT NULL
        WHEN 'exclude_if_diagnosis' THEN h.spell_key IS NULL
        ELSE c.rule IS NULL
    END
      -- NHS OF 2.3.i v1.15 filters 4, 8 and 10 (chronic group only; NULL = not delivered, passes).
      AND (
          c.acsc_group <> 'chronic'
          OR (
              coalesce(s.admission_source NOT IN ('51', '52', '53'), TRUE)
              AND coalesce(s.patient_classification = '1', TRUE)
              AND coalesce(s.first_episode_status IN ('1', '3'), TRUE)
          )
      )
    GROUP BY c.spell_key
),
falls AS (
    SELECT spell_key
    FROM first_episode_codes
    WHERE scheme = 'falls'
    GROUP BY spell_key
    HAVING bool_or(condition = 'injury' AND position = 1) AND bool_or(condition = 'fall_external_cause' AND position > 1)
),
primary_diagnoses AS (
    SELECT s.spell_key, d.code AS primary_diagnosis
    FROM spells AS s
    JOIN clin_episode_diagnoses AS d ON d.episode_id = s.first_episode_id AND d.position = 1
),
flagged AS (
    SELECT
        s.*,
        pd.primary_diagnosis,
        CAST(s.discharge_date - s.admission_date AS INTEGER) AS length_of_stay,
        coalesce(s.admission_method IN ('21', '22', '23', '24', '25', '2A', '2B', '2C', '2D', '28'), FALSE)
            AND NOT s.is_regular_attender AS is_emergency,
        coalesce(s.admission_method IN ('11', '12', '13') AND s.patient_classification = '2', FALSE) AS is_day_case,
        a.acsc_groups AS acsc_candidate_groups,
        f.spell_key IS NOT NULL AS has_fall_codes,
        lag(s.discharge_date) OVER w AS previous_discharge,
        lag(s.discharge_destination) OVER w AS previous_discharge_destination,
        lag(s.discharge_method) OVER w AS previous_discharge_method
    FROM spells AS s
    LEFT JOIN primary_diagnoses AS pd USING (spell_key)
    LEFT JOIN acsc AS a USING (spell_key)
    LEFT JOIN falls AS f USING (spell_key)
    WINDOW w AS (
        PARTITION BY s.person_key, s.is_regular_attender
        ORDER BY s.admission_date, s.discharge_date NULLS LAST, s.spell_key
    )
),
transfers AS (
    SELECT
        *,
        coalesce(
            admission_date - previous_discharge BETWEEN 0 AND 3
            AND coalesce(previous_discharge_method, '') NOT IN ('4', '5')
            AND (
                previous_discharge_destination IN ('49', '50', '51', '52', '53')
                OR admission_source IN ('49', '50', '51', '52', '53')
                OR admission_method IN ('2B', '81')
            ),
            FALSE
        ) AND NOT is_regular_attender AS is_transfer_in
    FROM flagged
)
SELECT
    spell_key,
    person_key,
    provider_code,
    spell_id,
    admission_date,
    discharge_date,
    length_of_stay,
    admission_method,
    admission_source,
    patient_classification,
    is_day_case,
    is_regular_attender,
    is_emergency,
    primary_diagnosis,
    is_emergency AND acsc_candidate_groups IS NOT NULL AS is_acsc,
    CASE WHEN is_emergency THEN acsc_candidate_groups END AS acsc_groups,
    CASE WHEN is_emergency THEN array_to_string(acsc_candidate_groups, ', ') END AS acsc_group,
    is_emergency AND has_fall_codes AS is_fall,
    hrg_code,
    discharge_destination,
    discharge_method,
    out_of_ics_provider,
    coalesce(length_of_stay >= 21, FALSE) AS is_long_stay,
    has_palliative_specialty,
    episode_count,
    first_episode_id,
    spell_id IS NULL AS spell_key_derived,
    is_transfer_in,
    CASE WHEN NOT is_regular_attender THEN
        person_key || '|stay' || CAST(sum(CASE WHEN is_transfer_in THEN 0 ELSE 1 END) OVER w AS VARCHAR)
    END AS stay_key,
    row_number() OVER w AS person_spell_sequence
FROM transfers
WINDOW w AS (
    PARTITION BY person_key, is_regular_attender
    ORDER BY admission_date, discharge_date NULLS LAST, spell_key ROWS UNBOUNDED PRECEDING
)
