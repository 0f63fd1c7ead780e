-- purpose: cost admitted patient care per hospital provider spell on the National Cost Collection
--   2023/24 schedule (ref_cap_apc_hrg, per finished consultant episode).
--   Department (NCC): elective = ADMIMETH 11/12/13, day case when elective with length of stay 0;
--   everything else is non-elective, short stay when LOS <= 1 day, else long stay.
--   Spell pricing: a spell is priced once, as one FCE of the spell's HRG (clin_spells.hrg_code, the
--   HRG of its last episode) in the spell's department. The spell is the unit of activity_costs and
--   of commissioning; the NCC cost per FCE of an HRG averages all its FCEs, so a spell with several
--   episodes is priced as one and its other episodes are not added (an understatement for
--   multi-episode spells, stated in the costing coverage notes).
--   HRG match: full code, then 4-character root, then 2-character chapter (activity-weighted
--   averages), then the department's all-HRG average ('*', level fallback; also for no HRG and UZ01Z).
--   The NCC summary publishes no excess bed days or trim points: none are added.
--   A SUS final price on the spell (clin_spells.final_price, when the extract carries one) is used
--   instead, in the prices of the activity year ($record_to_base).
--   Spells are counted in the year of discharge; a spell with no discharge date is uncosted.
--   cost_basis: apc:<coverage level>:<department>[:detail].
-- grain:   one row per spell in clin_spells discharged (or, if open, admitted) in the year.
-- inputs:  clin_spells, person, ref_cap_apc_hrg.
-- parameters: $year, $year_start, $year_end, $price_base, $record_to_base.
INSERT INTO activity_costs BY NAME
WITH source_spells AS (
    -- final_price is optional: NULL when clin_spells does not carry it
    SELECT * FROM clin_spells
    UNION ALL BY NAME
    SELECT * FROM (SELECT NULL::DOUBLE AS final_price) WHERE FALSE
),
spells AS (
    SELECT
        s.spell_key,
        s.person_key,
        s.provider_code,
        s.admission_date,
        s.discharge_date,
        s.final_price,
        nullif(nullif(upper(trim(s.hrg_code)), ''), 'UZ01Z') AS hrg,
        coalesce(s.out_of_ics_provider, FALSE) AS out_of_ics_provider,
        CASE
            WHEN trim(CAST(s.admission_method AS VARCHAR)) IN ('11', '12', '13') AND coalesce(s.is_emergency, FALSE) = FALSE
                THEN CASE WHEN coalesce(s.length_of_stay, date_diff('day', s.admission_date, s.discharge_date)) = 0
                          THEN 'day_case' ELSE 'elective' END
            WHEN coalesce(s.length_of_stay, date_diff('day', s.admission_date, s.discharge_date)) <= 1 THEN 'non_elective_short'
            ELSE 'non_elective_long'
        END AS department
    FROM source_spells AS s
    WHERE s.discharge_date BETWEEN $year_start AND $year_end
       OR (s.discharge_date IS NULL AND s.admission_date BETWEEN $year_start AND $year_end)
),
matched AS (
    SELECT
        sp.*,
        CASE WHEN h_full.hrg_code IS NOT NULL THEN 'full_hrg'
             WHEN h_root.hrg_code IS NOT NULL THEN 'hrg_root'
             WHEN h_chapter.hrg_code IS NOT NULL THEN 'hrg_chapter'
             WHEN h_all.hrg_code IS NOT NULL THEN 'fallback' END AS hrg_level,
        coalesce(h_full.unit_cost * h_full.to_base, h_root.unit_cost * h_root.to_base,
                 h_chapter.unit_cost * h_chapter.to_base, h_all.unit_cost * h_all.to_base) AS unit_cost_base
    FROM spells AS sp
    LEFT JOIN ref_cap_apc_hrg AS h_full
        ON h_full.hrg_level = 'full_hrg' AND h_full.department = sp.department AND h_full.hrg_code = sp.hrg
    LEFT JOIN ref_cap_apc_hrg AS h_root
        ON h_root.hrg_level = 'hrg_root' AND h_root.department = sp.department AND h_root.hrg_code = left(sp.hrg, 4)
    LEFT JOIN ref_cap_apc_hrg AS h_chapter
        ON h_chapter.hrg_level = 'hrg_chapter' AND h_chapter.department = sp.department AND h_chapter.hrg_code = left(sp.hrg, 2)
    LEFT JOIN ref_cap_apc_hrg AS h_all
        ON h_all.hrg_level = 'all' AND h_all.department = sp.department AND h_all.hrg_code = '*'
)
SELECT
    'apc' AS source,
    CAST(m.spell_key AS VARCHAR) AS record_id,
    m.person_key,
    coalesce(m.discharge_date, m.admission_date) AS activity_date,
    'acute' AS setting,
    CASE
        WHEN m.discharge_date IS NULL THEN NULL
        WHEN m.final_price IS NOT NULL THEN m.final_price * $record_to_base
        ELSE m.unit_cost_base
    END AS cost,
    CASE
        WHEN m.discharge_date IS NULL THEN 'apc:uncosted:open_spell'
        WHEN m.final_price IS NOT NULL THEN 'apc:final_price:' || m.department
        WHEN m.hrg_level = 'fallback'
            THEN 'apc:fallback:' || m.department || CASE WHEN m.hrg IS NULL THEN ':no_hrg' ELSE ':unlisted_hrg' END
        WHEN m.hrg_level IS NOT NULL THEN 'apc:' || m.hrg_level || ':' || m.department
        ELSE 'apc:uncosted:no_reference_row'
    END AS cost_basis,
    m.discharge_date IS NOT NULL AND (m.final_price IS NOT NULL OR m.unit_cost_base IS NOT NULL) AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    m.provider_code,
    m.person_key IS NOT NULL AND NOT coalesce(p.in_population, FALSE) AS out_of_area,
    m.out_of_ics_provider
FROM matched AS m
LEFT JOIN person AS p ON p.person_key = m.person_key
