-- purpose: cost adult social care (ASC-CLD). Services: unit cost x planned units per week x weeks
--          of the service period overlapping the year (a service with no end date is ongoing to the
--          year end); the record's unit cost is preferred, else the reference cost for its service
--          type and cost unit. Record unit costs are taken as in the prices of the activity year and
--          inflated to the price base. Requests, assessments and reviews take a cost per event.
--          Missing planned units (or no unit cost anywhere) leave the record uncosted and reported.
-- grain:   one row per ASC-CLD event overlapping the year.
-- inputs:  stg_asc, linked_records (sql/10_staging/linked), ref_cap_asc_service, ref_cap_asc_event, ref_cap_inflation.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $year_label, $price_base.
INSERT INTO activity_costs BY NAME
WITH events AS (
    SELECT
        a.*,
        lower(trim(a.event_type)) AS kind,
        lower(trim(a.cost_unit)) AS unit,
        greatest(a.event_start, $year_start::DATE) AS overlap_start,
        least(coalesce(a.event_end, $year_end::DATE), $year_end::DATE) AS overlap_end
    FROM stg_asc AS a
    WHERE a.event_start <= $year_end::DATE
      AND (a.event_end IS NULL OR a.event_end >= $year_start::DATE)
      AND (lower(trim(a.event_type)) = 'service' OR a.event_start >= $year_start::DATE)
),
priced AS (
    SELECT
        e.*,
        (date_diff('day', e.overlap_start, e.overlap_end) + 1) / 7.0 AS weeks,
        CASE WHEN e.unit_cost > 0 THEN e.unit_cost * yr.to_base ELSE s.unit_cost * s.to_base END AS unit_cost_base,
        CASE WHEN e.unit_cost > 0 THEN 'record_unit_cost' WHEN s.unit_cost IS NOT NULL THEN 'reference_unit_cost' END
            AS unit_cost_source,
        ev.cost_per_event * ev.to_base AS event_cost
    FROM events AS e
    LEFT JOIN ref_cap_inflation AS yr ON yr.financial_year = $year_label
    LEFT JOIN ref_cap_asc_service AS s ON s.service_type = e.service_type AND s.cost_unit = e.unit
    LEFT JOIN ref_cap_asc_event AS ev ON ev.event_type = e.kind
)
SELECT
    'asc' AS source,
    CAST(p.event_id AS VARCHAR) AS record_id,
    l.person_key,
    CASE WHEN p.kind = 'service' THEN p.overlap_start ELSE p.event_start END AS activity_date,
    'social_care' AS setting,
    CASE WHEN p.kind = 'service'
         THEN p.unit_cost_base * p.planned_units_per_week * p.weeks
         ELSE p.event_cost END AS cost,
    CASE WHEN p.kind = 'service' AND p.unit_cost_base IS NULL THEN 'asc:uncosted:no_unit_cost'
         WHEN p.kind = 'service' AND p.planned_units_per_week IS NULL THEN 'asc:uncosted:no_planned_units'
         WHEN p.kind = 'service' THEN 'asc:service:' || p.unit_cost_source || ':' || coalesce(p.unit, 'unknown_unit')
         WHEN p.event_cost IS NULL THEN 'asc:uncosted:unknown_event_type'
         ELSE 'asc:event:' || p.kind END AS cost_basis,
    CASE WHEN p.kind = 'service' THEN p.unit_cost_base IS NOT NULL AND p.planned_units_per_week IS NOT NULL
         ELSE p.event_cost IS NOT NULL END AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    CAST(p.la_code AS VARCHAR) AS provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    FALSE AS out_of_ics_provider
FROM priced AS p
LEFT JOIN linked_records('asc', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(p.event_id AS VARCHAR)
