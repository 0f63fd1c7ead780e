-- purpose: the one ASC-CLD cost-frequency conversion, for clinical logic (clin_social_care.daily_cost)
--          and costing (sql/40_marts/costing/07_cost_asc.sql) alike, as DHSC's ASC-CLD LA dashboard
--          costs fact does it (DataS-DHSC/ASC-CLD-LA-Dashboard 6.Costs_fact.sql, commit
--          222086c40c31c447f6b4da79395f0744b0bf6564): the cost frequency is trusted over the planned
--          units, so a cost per week, fortnight, 4 weeks, month, quarter or year is 1, 1/2, 1/4,
--          12/52, 4/52 or 1/52 units a week whatever the planned units say; any other frequency (per
--          session, hour or day) is |planned units per week| units a week, none when they are
--          missing or zero (negative planned units made positive, as DHSC does). A one-off cost has
--          no weekly rate (NULL; asc_one_off). The frequency is matched on the start of the
--          connector's slug of Cost_Frequency_Unit_Type (weekly, fortnightly, 4_weekly, monthly,
--          quarterly, annually, one_off, hourly, per_session, daily).
--          Cost per week = |unit cost| x asc_units_per_week(cost_unit, planned_units_per_week).
-- grain: a scalar macro of one record's cost_unit and planned_units_per_week.
-- inputs: none.
-- parameters: cost_unit, planned_units_per_week (macro arguments).
CREATE OR REPLACE MACRO asc_units_per_week(cost_unit, planned_units_per_week) AS
    CASE
        WHEN asc_one_off(cost_unit) THEN NULL
        WHEN starts_with(lower(trim(cost_unit)), 'week') THEN 1.0
        WHEN starts_with(lower(trim(cost_unit)), 'fortnight') THEN 1.0 / 2
        WHEN starts_with(lower(trim(cost_unit)), '4_week') THEN 1.0 / 4
        WHEN starts_with(lower(trim(cost_unit)), 'month') THEN 12.0 / 52
        WHEN starts_with(lower(trim(cost_unit)), 'quarter') THEN 4.0 / 52
        WHEN starts_with(lower(trim(cost_unit)), 'annual') THEN 1.0 / 52
        ELSE nullif(abs(CAST(planned_units_per_week AS DOUBLE)), 0)
    END
