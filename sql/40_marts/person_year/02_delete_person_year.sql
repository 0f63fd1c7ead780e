-- purpose: make the person-year table idempotent per financial year.
-- grain:   n/a (delete).
-- inputs:  cap_person_year.
-- parameters: $year.
DELETE FROM cap_person_year WHERE financial_year = $year
