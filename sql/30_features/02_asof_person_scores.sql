-- purpose: frailty, comorbidity and long-term-condition scores per person at the as-of date,
--          from the codes recorded before it (asof_person_codes).
-- grain: one row per person with at least one code before the as-of date.
-- inputs: asof_person_codes, clin_code_conditions, ref_charlson_weights, ref_elixhauser_weights.
-- parameters: none (the windows are fixed in asof_person_codes).
-- rules:
--   hfrs: Hospital Frailty Risk Score, Gilbert et al. Lancet 2018;391:1775-82 - sum of the
--     weights of the distinct listed codes (each of the 109 codes once per person) in the
--     2-year window.
--   charlson_score / charlson_quan_score: Charlson conditions (Quan et al. Med Care 2005
--     ICD-10 coding), each once per person, weighted by Charlson 1987 / Quan 2011 weights,
--     after the hierarchy rules: mild liver disease dropped with moderate/severe liver disease,
--     diabetes without complications dropped with diabetes with complications, any malignancy
--     dropped with metastatic solid tumour.
--   elixhauser_vw: Elixhauser conditions (Quan 2005 ICD-10 coding) weighted by van Walraven et
--     al. Med Care 2009, after the hierarchy: uncomplicated diabetes dropped with complicated
--     diabetes, solid tumour dropped with metastatic cancer, uncomplicated hypertension dropped
--     with complicated hypertension.
--   frailty_syndromes: distinct frailty syndromes of ref_frailty_syndromes (7 syndromes) in the
--     2-year HFRS window (the count that HFRS, a weighted sum of codes, does not show).
--   long_term_conditions: distinct conditions of ref_long_term_conditions (24 conditions) in
--     the comorbidity window.
--   end_of_life_proxy: ICD-10 Z51.5 (encounter for palliative care) in any diagnosis position in
--     the end-of-life window: the palliative care coding used by NHS Digital's SHMI contextual
--     indicator "percentage of deaths with palliative care coding".
CREATE OR REPLACE TABLE asof_person_scores AS
WITH hierarchy(scheme, dropped, when_present) AS (
    VALUES
        ('charlson', 'mild_liver_disease', 'moderate_severe_liver_disease'),
        ('charlson', 'diabetes_without_complications', 'diabetes_with_complications'),
        ('charlson', 'any_malignancy', 'metastatic_solid_tumour'),
        ('elixhauser', 'diabetes_uncomplicated', 'diabetes_complicated'),
        ('elixhauser', 'solid_tumour_without_metastasis', 'metastatic_cancer'),
        ('elixhauser', 'hypertension_uncomplicated', 'hypertension_complicated')
),
matched AS (
    SELECT DISTINCT c.person_key, m.scheme, m.condition, m.weight
    FROM asof_person_codes AS c
    JOIN clin_code_conditions AS m ON m.code = c.code
    WHERE (m.scheme IN ('hfrs', 'frailty_syndrome') AND c.in_hfrs_window)
       OR (m.scheme IN ('charlson', 'elixhauser', 'long_term_condition') AND c.in_comorbidity_window)
),
dropped AS (
    SELECT m.person_key, m.scheme, h.dropped AS condition
    FROM matched AS m
    JOIN hierarchy AS h ON h.scheme = m.scheme AND h.when_present = m.condition
),
kept AS (
    SELECT m.person_key, m.scheme, m.condition, m.weight
    FROM matched AS m
    ANTI JOIN dropped AS d ON d.person_key = m.person_key AND d.scheme = m.scheme AND d.condition = m.condition
),
per_person AS (
    SELECT
        k.person_key,
        sum(k.weight) FILTER (WHERE k.scheme = 'hfrs') AS hfrs,
        count(*) FILTER (WHERE k.scheme = 'frailty_syndrome') AS frailty_syndromes,
        sum(cw.charlson_weight) FILTER (WHERE k.scheme = 'charlson') AS charlson_score,
        sum(cw.quan_2011_weight) FILTER (WHERE k.scheme = 'charlson') AS charlson_quan_score,
        sum(ew.van_walraven_weight) FILTER (WHERE k.scheme = 'elixhauser') AS elixhauser_vw,
        count(*) FILTER (WHERE k.scheme = 'long_term_condition') AS long_term_conditions
    FROM kept AS k
    LEFT JOIN ref_charlson_weights AS cw ON k.scheme = 'charlson' AND cw.condition = k.condition
    LEFT JOIN ref_elixhauser_weights AS ew ON k.scheme = 'elixhauser' AND ew.condition = k.condition
    GROUP BY k.person_key
),
end_of_life AS (
    SELECT DISTINCT person_key
    FROM asof_person_codes
    WHERE in_end_of_life_window AND starts_with(code, 'Z515')
)
SELECT
    coalesce(p.person_key, e.person_key) AS person_key,
    coalesce(p.hfrs, 0) AS hfrs,
    coalesce(p.frailty_syndromes, 0) AS frailty_syndromes,
    coalesce(p.charlson_score, 0) AS charlson_score,
    coalesce(p.charlson_quan_score, 0) AS charlson_quan_score,
    coalesce(p.elixhauser_vw, 0) AS elixhauser_vw,
    coalesce(p.long_term_conditions, 0) AS long_term_conditions,
    e.person_key IS NOT NULL AS end_of_life_proxy
FROM per_person AS p
FULL OUTER JOIN end_of_life AS e ON e.person_key = p.person_key
