-- purpose: Adult Social Care (ASC-CLD) events that reach a person, with service classes and a
--          daily cost.
-- grain: one row per ASC event linked to a person key.
-- inputs: stg_asc (unpaid_carer and long_term_support: contracts/asc.yaml), linked_records
--         (sql/10_staging/linked) (source = 'asc', record_id = event_id), asc_units_per_week
--         (sql/10_staging/linked, the cost-frequency conversion costing uses too).
-- parameters: $min_link_probability, $include_out_of_area, $include_out_of_ics_providers (ASC events
--             of local authorities outside the ICS are flagged out_of_ics_provider by link).
-- rules:
--   unpaid carers: events of a client who is an unpaid carer (stg_asc.unpaid_carer: ASC-CLD
--     Client_Type 'Carer' / 'Carer known by association' in release 1, 'Unpaid carer' / 'Unpaid
--     carer known by association' in release 2) are the carer's support, not social care use of
--     the person they care for or their own need: they are left out here (and so from the
--     features, cohort, labels and lists built on this table) and from costing; SALT LTS001a
--     counts Client_Type = 'Service User' only. They stay in stg_asc.
--   is_long_term: a service whose ASC-CLD Service_Type is long-term support (stg_asc.long_term_support:
--     the four 'Long term support' types SALT LTS001 counts); for a delivery without Service_Type,
--     a service of long-term class - residential, nursing, home care, supported living, direct
--     payment, day care; reablement (short-term care to maximise independence), equipment and
--     other are short-term.
--   is_care_home_placement: residential or nursing service.
--   daily_cost: |unit cost| x units per week / 7, units per week by DHSC's cost-frequency conversion
--     (asc_units_per_week: 1 weekly, 1/2 fortnightly, 1/4 4-weekly, 12/52 monthly, 4/52 quarterly,
--     1/52 annually, else |planned units per week| for a cost per session, hour or day), as in
--     sql/40_marts/costing/07_cost_asc.sql in the activity year's prices. A one-off cost has no daily
--     rate (NULL; costing counts it once).
CREATE OR REPLACE TABLE clin_social_care AS
SELECT
    CAST(s.event_id AS VARCHAR) AS event_id,
    l.person_key,
    lower(trim(s.event_type)) AS event_type,
    coalesce(lower(trim(s.service_type)), 'other') AS service_type,
    CAST(s.event_start AS DATE) AS event_start,
    CAST(s.event_end AS DATE) AS event_end,
    coalesce(lower(trim(s.event_type)) = 'service', FALSE) AS is_service,
    coalesce(lower(trim(s.event_type)) = 'service'
             AND coalesce(s.long_term_support,
                          lower(trim(s.service_type)) IN ('residential', 'nursing', 'home_care', 'supported_living',
                                                          'direct_payment', 'day_care')), FALSE) AS is_long_term,
    coalesce(lower(trim(s.event_type)) = 'service'
             AND lower(trim(s.service_type)) IN ('residential', 'nursing'), FALSE) AS is_care_home_placement,
    CASE
        WHEN lower(trim(s.event_type)) = 'service' THEN
            abs(CAST(s.unit_cost AS DOUBLE)) * asc_units_per_week(s.cost_unit, s.planned_units_per_week) / 7.0
    END AS daily_cost
FROM stg_asc AS s
JOIN linked_records('asc', $min_link_probability, $include_out_of_area, $include_out_of_ics_providers) AS l
    ON l.record_id = CAST(s.event_id AS VARCHAR)
WHERE l.reaches_person
  AND s.event_start IS NOT NULL
  AND NOT coalesce(s.unpaid_carer, FALSE)
