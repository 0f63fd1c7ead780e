-- Purpose: make costing idempotent: remove the year's rows before they are written again.
-- Grain:   n/a (delete).
-- Inputs:  activity_costs.
-- Parameters: $year (financial year starting April $year).
DELETE FROM activity_costs WHERE financial_year = $year
