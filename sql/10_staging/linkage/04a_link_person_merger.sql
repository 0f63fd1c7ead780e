-- purpose: the pseudonyms PDS merged into another person (PDS_Person_Merger, kept on the spine as
--          stg_population.superseded_person_ids): activity recorded under a superseded pseudonym
--          belongs to the surviving person. A pseudonym that is itself on the spine is not mapped
--          (the spine's own row wins); one claimed by two people goes to neither (ambiguous).
-- grain: one row per superseded pseudonym.
-- inputs: stg_population
-- parameters: none
CREATE OR REPLACE TABLE link_person_merger AS
WITH claimed AS (
    SELECT DISTINCT NULLIF(trim(CAST(superseded AS VARCHAR)), '') AS superseded_id, CAST(person_id AS VARCHAR) AS person_id
    FROM (SELECT person_id, unnest(superseded_person_ids) AS superseded FROM stg_population WHERE person_id IS NOT NULL)
)
SELECT superseded_id, any_value(person_id) AS person_id
FROM claimed
WHERE superseded_id IS NOT NULL
  AND superseded_id NOT IN (SELECT CAST(person_id AS VARCHAR) FROM stg_population WHERE person_id IS NOT NULL)
GROUP BY superseded_id
HAVING count(DISTINCT person_id) = 1
