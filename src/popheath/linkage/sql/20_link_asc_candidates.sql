-- Purpose: empty table of scored candidate pairs (ASC event x spine person), filled from Splink's
--          predictions by the link stage.
-- Grain: one row per candidate pair kept (pair probability above the spec's floor).
-- Inputs: none
-- Parameters: none
CREATE OR REPLACE TABLE link_asc_candidates (
    unique_id VARCHAR,
    person_id VARCHAR,
    match_weight DOUBLE,
    pair_probability DOUBLE
)
