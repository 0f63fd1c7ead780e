-- purpose: diagnoses of each linked episode, one code per row, with its position (1 = primary).
--          Codes are normalised again (upper case, no dots or spaces, trailing X / - removed,
--          as docs/data_model.md) so every rule downstream can equi-join on codes even if a
--          delivery slipped past ingest un-normalised; the regular expressions run once per
--          distinct code, not per row. A code repeated within an episode is kept once, at its
--          first position.
-- grain: one row per (episode, normalised ICD-10 code).
-- inputs: clin_episodes.
-- parameters: none.
CREATE OR REPLACE TABLE clin_episode_diagnoses AS
WITH raw AS (
    SELECT
        episode_id,
        person_key,
        episode_date,
        unnest(diagnoses) AS raw_code,
        unnest(generate_series(1, len(diagnoses))) AS position
    FROM clin_episodes
    WHERE len(diagnoses) > 0
),
normalised AS (
    SELECT
        raw_code,
        nullif(regexp_replace(regexp_replace(upper(raw_code), '[\s.]', '', 'g'), '[X\-]+$', ''), '') AS code
    FROM (SELECT DISTINCT raw_code FROM raw WHERE raw_code IS NOT NULL)
)
SELECT
    r.episode_id,
    any_value(r.person_key) AS person_key,
    any_value(r.episode_date) AS episode_date,
    n.code,
    min(r.position) AS position
FROM raw AS r
JOIN normalised AS n ON n.raw_code = r.raw_code
WHERE n.code IS NOT NULL
GROUP BY r.episode_id, n.code
