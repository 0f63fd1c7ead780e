-- purpose: which code-list entries each distinct diagnosis code matches. A code matches a listed
--          code when it starts with it (ICD-10 prefix rule: I50 covers I500, I501, I509). The
--          prefixes of each distinct code (length 1 .. full length) are equi-joined to the
--          ref_* tables, so the cost scales with distinct codes, never with episodes.
-- grain: one row per (diagnosis code, scheme, listed code, condition).
-- inputs: clin_episode_diagnoses; ref_hfrs, ref_charlson, ref_elixhauser, ref_acsc,
--         ref_acsc_rules, ref_falls, ref_long_term_conditions, ref_frailty_syndromes (loaded from
--         src/popheath/clinical/codelists/, sources and versions in sources.yaml there).
-- parameters: none.
-- schemes: hfrs (condition = the listed code: Gilbert et al. 2018 count each code once),
--          charlson and elixhauser (condition = comorbidity name),
--          acsc (acsc_group, rule; a code listed in several ACSC groups gives one row per group),
--          acsc_rule_dx (diagnosis prefixes of ref_acsc_rules, any_diagnosis or
--          secondary_diagnosis scope: condition, rule; the scope is checked in clin_spells),
--          falls (condition = category), long_term_condition (condition),
--          frailty_syndrome (condition = syndrome).
CREATE OR REPLACE TABLE clin_code_conditions AS
WITH codes AS (
    SELECT DISTINCT code FROM clin_episode_diagnoses
),
prefixes AS (
    SELECT code, left(code, CAST(n AS INTEGER)) AS prefix
    FROM codes, range(1, length(code) + 1) AS r(n)
)
SELECT p.code, 'hfrs' AS scheme, h.code AS listed_code, h.code AS condition,
       CAST(h.weight AS DECIMAL(9, 1)) AS weight, CAST(NULL AS VARCHAR) AS acsc_group, CAST(NULL AS VARCHAR) AS rule
FROM prefixes AS p JOIN ref_hfrs AS h ON h.code = p.prefix
UNION ALL
SELECT p.code, 'charlson', c.code, c.condition, NULL, NULL, NULL
FROM prefixes AS p JOIN ref_charlson AS c ON c.code = p.prefix
UNION ALL
SELECT p.code, 'elixhauser', x.code, x.condition, NULL, NULL, NULL
FROM prefixes AS p JOIN ref_elixhauser AS x ON x.code = p.prefix
UNION ALL
SELECT p.code, 'acsc', a.code, a.condition, NULL, a.acsc_group, nullif(trim(CAST(a.rule AS VARCHAR)), '')
FROM prefixes AS p JOIN ref_acsc AS a ON a.code = p.prefix
UNION ALL
SELECT p.code, 'falls', f.code, f.category, NULL, NULL, NULL
FROM prefixes AS p JOIN ref_falls AS f ON f.code = p.prefix
UNION ALL
SELECT p.code, 'acsc_rule_dx', r.code_prefix, r.condition, NULL, NULL, r.rule
FROM prefixes AS p JOIN ref_acsc_rules AS r ON r.code_prefix = p.prefix AND r.applies_to IN ('any_diagnosis', 'secondary_diagnosis')
UNION ALL
SELECT p.code, 'long_term_condition', t.code, t.condition, NULL, NULL, NULL
FROM prefixes AS p JOIN ref_long_term_conditions AS t ON t.code = p.prefix
UNION ALL
SELECT p.code, 'frailty_syndrome', y.code, y.syndrome, NULL, NULL, NULL
FROM prefixes AS p JOIN ref_frailty_syndromes AS y ON y.code = p.prefix
