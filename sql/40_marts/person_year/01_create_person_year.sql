-- purpose: person-year resource use (internal, person-level: never published).
-- grain:   one row per person key per financial year.
-- inputs:  none.
-- parameters: none.
CREATE TABLE IF NOT EXISTS cap_person_year (
    financial_year INTEGER,
    person_key VARCHAR,
    in_population BOOLEAN,
    out_of_area BOOLEAN,
    national_data_opt_out BOOLEAN,
    type1_opt_out BOOLEAN,
    birth_year INTEGER,
    sex VARCHAR,
    age INTEGER,
    age_band VARCHAR,
    practice_code VARCHAR,
    pcn_code VARCHAR,
    place VARCHAR,
    exposure_start DATE,
    exposure_end DATE,
    person_years DOUBLE,
    cost_acute DOUBLE,
    cost_community DOUBLE,
    cost_social_care DOUBLE,
    cost_total DOUBLE,
    cost_out_of_ics_provider DOUBLE,
    cost_outside_exposure DOUBLE,
    activity_records BIGINT,
    uncosted_records BIGINT
)
