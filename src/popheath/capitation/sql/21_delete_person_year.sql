-- Purpose: make the person-year table idempotent per financial year.
-- Grain:   n/a (delete).
-- Inputs:  cap_person_year.
-- Parameters: $year.
DELETE FROM cap_person_year WHERE financial_year = $year
