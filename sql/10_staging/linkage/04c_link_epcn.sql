-- purpose: the ePCN practice-to-PCN relationships (NHS England ODS, epcn.xlsx sheet "PCN Core Partner
--          Details"; popheath.linkage.population_reference) as a table: codes upper-cased and trimmed,
--          relationship dates parsed (YYYY-MM-DD or YYYYMMDD as the ODS reports write them), the ICS's
--          Place column kept as given.
-- grain: one row per relationship row of the file.
-- inputs: _epcn_frame (the file's text columns, registered by the loader)
-- parameters: none
CREATE OR REPLACE TABLE ref_epcn AS
SELECT
    upper(trim("Partner Organisation Code")) AS practice_code,
    upper(trim("PCN Code")) AS pcn_code,
    NULLIF(trim("PCN Name"), '') AS pcn_name,
    CAST(try_strptime(trim("Practice to PCN Relationship Start Date"), ['%Y-%m-%d', '%Y%m%d']) AS DATE)
        AS relationship_start,
    CAST(try_strptime(trim("Practice to PCN Relationship End Date"), ['%Y-%m-%d', '%Y%m%d']) AS DATE)
        AS relationship_end,
    NULLIF(trim("Place"), '') AS place
FROM _epcn_frame
