-- purpose: the costed activity table written by `popheath cost` (contract in docs/data_model.md,
--          plus financial_year, price_base, provider_code, out_of_area, out_of_ics_provider).
-- grain:   one row per activity record (APC: hospital provider spell) per financial year.
-- inputs:  none.
-- parameters: none.
CREATE TABLE IF NOT EXISTS activity_costs (
    source VARCHAR,
    record_id VARCHAR,
    person_key VARCHAR,
    activity_date DATE,
    setting VARCHAR,
    cost DOUBLE,
    cost_basis VARCHAR,
    costed BOOLEAN,
    financial_year INTEGER,
    price_base VARCHAR,
    provider_code VARCHAR,
    out_of_area BOOLEAN,
    out_of_ics_provider BOOLEAN
)
