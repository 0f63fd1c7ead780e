-- purpose: cost adult social care (ASC-CLD) services from the record's own unit cost with the cost
--          frequency conversion DHSC uses (the asc_units_per_week and asc_one_off macros of
--          sql/10_staging/linked, which clin_social_care.daily_cost uses too; DHSC ASC-CLD dashboard
--          6.Costs_fact.sql): cost per week = |unit cost| x units per week, where units per week is
--          1 weekly, 1/2 fortnightly, 1/4 4-weekly, 12/52 monthly, 4/52 quarterly, 1/52 annually,
--          and |planned units per week| for any other frequency (per session, hourly, daily);
--          cost = cost per week x weeks of the service period overlapping the year (a service with
--          no end date is ongoing to the year end). A one-off cost is counted once, in the year the
--          service starts. Negative unit costs and planned units are made positive, as DHSC does.
--          Record unit costs are in the prices of the activity year ($record_to_base). A service
--          with no (or a zero) unit cost, or no units per week, is uncosted and reported (there is
--          no citable national fallback). Requests are zero by rule. Assessments and reviews are
--          uncosted and reported (cost_basis ...:no_verified_unit_cost:<event>): pricing them needs a
--          social worker cost per hour (PSSRU Unit Costs of Health and Social Care) and an assessment
--          duration, and neither could be read in a citable copy (reference/sources.yaml).
--          Events of unpaid carers (stg_asc.unpaid_carer) are not costed: they are not the
--          social care use of a person in the population (sql/20_clinical/09_clin_social_care.sql).
--          cost_basis: asc:<coverage level>:<detail>.
-- grain:   one row per ASC-CLD event overlapping the year (one-off services: starting in it).
-- inputs:  stg_asc, linked_records, asc_units_per_week, asc_one_off (sql/10_staging/linked), ref_cap_asc_event.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base, $record_to_base.
INSERT INTO activity_costs BY NAME
WITH events AS (
    SELECT
        a.*,
        lower(trim(a.event_type)) AS kind,
        lower(trim(a.cost_unit)) AS unit,
        asc_one_off(a.cost_unit) AS one_off,
        asc_units_per_week(a.cost_unit, a.planned_units_per_week) AS units_per_week,
        greatest(a.event_start, $year_start::DATE) AS overlap_start,
        least(coalesce(a.event_end, $year_end::DATE), $year_end::DATE) AS overlap_end
    FROM stg_asc AS a
    WHERE NOT coalesce(a.unpaid_carer, FALSE)
      AND a.event_start <= $year_end::DATE
      AND (a.event_end IS NULL OR a.event_end >= $year_start::DATE)
      AND ((lower(trim(a.event_type)) = 'service' AND NOT asc_one_off(a.cost_unit))
           OR a.event_start >= $year_start::DATE)
),
priced AS (
    SELECT
        e.*,
        (date_diff('day', e.overlap_start, e.overlap_end) + 1) / 7.0 AS weeks,
        nullif(abs(e.unit_cost), 0) * $record_to_base AS unit_cost_base,
        ev.cost_per_event * ev.to_base AS event_cost
    FROM events AS e
    LEFT JOIN ref_cap_asc_event AS ev ON ev.event_type = e.kind
)
SELECT
    'asc' AS source,
    CAST(p.event_id AS VARCHAR) AS record_id,
    l.person_key,
    CASE WHEN p.kind = 'service' THEN p.overlap_start ELSE p.event_start END AS activity_date,
    'social_care' AS setting,
    CASE WHEN p.kind <> 'service' THEN p.event_cost
         WHEN p.one_off THEN p.unit_cost_base
         ELSE p.unit_cost_base * p.units_per_week * p.weeks END AS cost,
    CASE WHEN p.kind = 'service' AND p.unit_cost_base IS NULL THEN 'asc:uncosted:no_unit_cost'
         WHEN p.kind = 'service' AND p.one_off THEN 'asc:record_unit_cost:one_off'
         WHEN p.kind = 'service' AND p.units_per_week IS NULL THEN 'asc:uncosted:no_planned_units'
         WHEN p.kind = 'service' THEN 'asc:record_unit_cost:' || coalesce(p.unit, 'unknown_frequency')
         WHEN p.event_cost IS NULL THEN 'asc:uncosted:no_verified_unit_cost:' || p.kind
         WHEN p.event_cost = 0 THEN 'asc:zero_by_rule:' || p.kind
         ELSE 'asc:reference_event_cost:' || p.kind END AS cost_basis,
    CASE WHEN p.kind <> 'service' THEN p.event_cost IS NOT NULL
         WHEN p.one_off THEN p.unit_cost_base IS NOT NULL
         ELSE p.unit_cost_base IS NOT NULL AND p.units_per_week IS NOT NULL END AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    CAST(p.la_code AS VARCHAR) AS provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    FALSE AS out_of_ics_provider
FROM priced AS p
LEFT JOIN linked_records('asc', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(p.event_id AS VARCHAR)
