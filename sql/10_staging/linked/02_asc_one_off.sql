-- purpose: whether an ASC-CLD cost is one-off, for clinical logic and costing alike: DHSC counts a
--          one-off cost once, with no weekly rate (DataS-DHSC/ASC-CLD-LA-Dashboard 6.Costs_fact.sql,
--          commit 222086c40c31c447f6b4da79395f0744b0bf6564). Matched on the connector's slug of
--          Cost_Frequency_Unit_Type (one_off).
-- grain: a scalar macro of one record's cost_unit.
-- inputs: none.
-- parameters: cost_unit (macro argument).
CREATE OR REPLACE MACRO asc_one_off(cost_unit) AS coalesce(starts_with(lower(trim(cost_unit)), 'one_off'), FALSE)
