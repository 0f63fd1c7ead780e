-- purpose: make costing idempotent: remove the year's rows before they are written again.
-- grain:   n/a (delete).
-- inputs:  activity_costs.
-- parameters: $year (financial year starting April $year).
DELETE FROM activity_costs WHERE financial_year = $year
