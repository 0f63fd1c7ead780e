-- purpose: empty table of scored candidate pairs (ASC event x spine person), filled from Splink's
--          predictions by the link stage.
-- grain: one row per candidate pair kept (pair probability above the spec's floor).
-- inputs: none
-- parameters: none
CREATE OR REPLACE TABLE link_asc_candidates (
    unique_id VARCHAR,
    person_id VARCHAR,
    match_weight DOUBLE,
    pair_probability DOUBLE
)
