-- purpose: cost admitted patient care per hospital provider spell.
--   Spell type (National Cost Collection currencies): elective = ADMIMETH 11/12/13, day case when
--   elective with length of stay 0; everything else is non-elective, short stay when LOS <= 1 day.
--   HRG match: full code, then 4-character root, then 2-character chapter (ref_cap_apc_hrg);
--   cost = spell unit cost + max(0, LOS - trim point) x excess bed day cost.
--   No HRG, UZ01Z (ungroupable) or an unlisted HRG: spell type x LOS (ref_cap_apc_spell_type).
--   Spells are counted in the year of discharge; a spell with no discharge date is uncosted.
-- grain:   one row per spell in clin_spells discharged (or, if open, admitted) in the year.
-- inputs:  clin_spells, person, ref_cap_apc_hrg, ref_cap_apc_spell_type.
-- parameters: $year, $year_start, $year_end, $price_base.
INSERT INTO activity_costs BY NAME
WITH spells AS (
    SELECT
        s.spell_key,
        s.person_key,
        s.provider_code,
        s.admission_date,
        s.discharge_date,
        greatest(coalesce(s.length_of_stay, date_diff('day', s.admission_date, s.discharge_date)), 0) AS los,
        nullif(nullif(upper(trim(s.hrg_code)), ''), 'UZ01Z') AS hrg,
        coalesce(s.out_of_ics_provider, FALSE) AS out_of_ics_provider,
        CASE
            WHEN trim(CAST(s.admission_method AS VARCHAR)) IN ('11', '12', '13') AND coalesce(s.is_emergency, FALSE) = FALSE
                THEN CASE WHEN coalesce(s.length_of_stay, date_diff('day', s.admission_date, s.discharge_date)) = 0
                          THEN 'day_case' ELSE 'elective' END
            WHEN coalesce(s.length_of_stay, date_diff('day', s.admission_date, s.discharge_date)) <= 1 THEN 'non_elective_short'
            ELSE 'non_elective_long'
        END AS spell_type
    FROM clin_spells AS s
    WHERE s.discharge_date BETWEEN $year_start AND $year_end
       OR (s.discharge_date IS NULL AND s.admission_date BETWEEN $year_start AND $year_end)
),
matched AS (
    SELECT
        sp.*,
        coalesce(h_full.hrg_code, h_root.hrg_code, h_chapter.hrg_code) AS matched_hrg,
        CASE WHEN h_full.hrg_code IS NOT NULL THEN 'hrg'
             WHEN h_root.hrg_code IS NOT NULL THEN 'hrg_root'
             WHEN h_chapter.hrg_code IS NOT NULL THEN 'hrg_chapter' END AS hrg_level,
        CASE sp.spell_type
            WHEN 'day_case' THEN coalesce(h_full.day_case, h_root.day_case, h_chapter.day_case)
            WHEN 'elective' THEN coalesce(h_full.elective, h_root.elective, h_chapter.elective)
            WHEN 'non_elective_short' THEN coalesce(h_full.non_elective_short, h_root.non_elective_short, h_chapter.non_elective_short)
            ELSE coalesce(h_full.non_elective_long, h_root.non_elective_long, h_chapter.non_elective_long)
        END AS hrg_spell_cost,
        CASE WHEN sp.spell_type = 'elective'
             THEN coalesce(h_full.elective_trim_days, h_root.elective_trim_days, h_chapter.elective_trim_days)
             WHEN sp.spell_type = 'non_elective_long'
             THEN coalesce(h_full.non_elective_trim_days, h_root.non_elective_trim_days, h_chapter.non_elective_trim_days)
        END AS trim_days,
        coalesce(h_full.excess_bed_day, h_root.excess_bed_day, h_chapter.excess_bed_day) AS excess_bed_day,
        coalesce(h_full.to_base, h_root.to_base, h_chapter.to_base) AS hrg_to_base,
        st.cost_per_spell,
        st.included_days,
        st.cost_per_extra_bed_day,
        st.to_base AS spell_type_to_base
    FROM spells AS sp
    LEFT JOIN ref_cap_apc_hrg AS h_full ON h_full.hrg_code = sp.hrg
    LEFT JOIN ref_cap_apc_hrg AS h_root ON length(h_root.hrg_code) = 4 AND h_root.hrg_code = left(sp.hrg, 4)
    LEFT JOIN ref_cap_apc_hrg AS h_chapter ON length(h_chapter.hrg_code) = 2 AND h_chapter.hrg_code = left(sp.hrg, 2)
    LEFT JOIN ref_cap_apc_spell_type AS st ON st.spell_type = sp.spell_type
)
SELECT
    'apc' AS source,
    CAST(m.spell_key AS VARCHAR) AS record_id,
    m.person_key,
    coalesce(m.discharge_date, m.admission_date) AS activity_date,
    'acute' AS setting,
    CASE
        WHEN m.discharge_date IS NULL THEN NULL
        WHEN m.matched_hrg IS NOT NULL
            THEN (m.hrg_spell_cost + greatest(m.los - coalesce(m.trim_days, m.los), 0) * m.excess_bed_day) * m.hrg_to_base
        WHEN m.cost_per_spell IS NOT NULL
            THEN (m.cost_per_spell + greatest(m.los - m.included_days, 0) * m.cost_per_extra_bed_day) * m.spell_type_to_base
    END AS cost,
    CASE
        WHEN m.discharge_date IS NULL THEN 'apc:uncosted:open_spell'
        WHEN m.matched_hrg IS NOT NULL THEN 'apc:' || m.hrg_level || ':' || m.spell_type
        WHEN m.cost_per_spell IS NOT NULL
            THEN 'apc:spell_type_los:' || m.spell_type || CASE WHEN m.hrg IS NULL THEN ':no_hrg' ELSE ':unlisted_hrg' END
        ELSE 'apc:uncosted:no_reference_row'
    END AS cost_basis,
    m.discharge_date IS NOT NULL AND (m.matched_hrg IS NOT NULL OR m.cost_per_spell IS NOT NULL) AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    m.provider_code,
    m.person_key IS NOT NULL AND NOT coalesce(p.in_population, FALSE) AS out_of_area,
    m.out_of_ics_provider
FROM matched AS m
LEFT JOIN person AS p ON p.person_key = m.person_key
