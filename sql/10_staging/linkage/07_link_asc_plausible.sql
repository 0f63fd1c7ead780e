-- purpose: the Splink candidates each ASC client record can still belong to, and an empty table of
--          one-to-one assignments for 08_link_asc_assignment.sql to fill. A candidate who died more
--          than $death_grace_days before the client's latest event started is dropped.
--          one_to_one_group (link_asc_input): records of one group never share a spine person.
-- grain: link_asc_plausible: one row per kept (client record, spine person) pair;
--        link_asc_assigned: one row per assigned client record (empty here).
-- inputs: link_asc_input, link_asc_candidates, link_spine_input
-- parameters: $death_grace_days
CREATE OR REPLACE TABLE link_asc_assigned (
    unique_id VARCHAR,
    one_to_one_group VARCHAR,
    person_id VARCHAR,
    record_probability DOUBLE,
    assignment_round INTEGER
);

CREATE OR REPLACE TABLE link_asc_plausible AS
SELECT c.unique_id, i.one_to_one_group, c.person_id, c.match_weight, c.pair_probability, pow(2.0, c.match_weight) AS odds
FROM link_asc_candidates AS c
JOIN link_asc_input AS i ON i.unique_id = c.unique_id
JOIN link_spine_input AS s ON s.unique_id = c.person_id
WHERE i.role <> 'train'
    AND (s.date_of_death IS NULL
        OR i.event_start IS NULL
        OR s.date_of_death >= i.event_start - CAST($death_grace_days AS INTEGER))
