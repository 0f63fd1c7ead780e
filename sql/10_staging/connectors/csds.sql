-- purpose: assemble CSDS v1.6 care contacts as an ICB data lake delivers them (ncl-icb-analytics/
--          dbt-ncl-analytics CSDS sources; shared reference national_formats.md 1.4): each CYP201CareContact
--          row with its referral (CYP101Referral, latest submission), the team type it was seen under
--          (CYP102ServiceTypeReferredTo), its person (CYP001MPI, latest submission) and the person's
--          pseudonymised NHS number (Bridging). A value the contact row carries itself wins over the
--          satellite's (an extract that flattens the team type or NHS number onto the contact).
--          Team type: CSDS records it per referral, and a referral can be referred to several teams;
--          NCL keeps every team type of a referral (deduplicate_csds partitions CYP102 on the team
--          type). One contact is one team's, chosen in this order:
--            1. the row whose CARE PROFESSIONAL TEAM LOCAL IDENTIFIER is the contact's, when the contact
--               carries one;
--            2. a row open on the contact date (not rejected, not closed before it);
--            3. the latest submission (UNIQUE SUBMISSION ID, as a number);
--            4. the later row (file, then row order), so the choice is always the same.
--          Dates are compared as ISO dates (a date in another format counts as absent: the row counts as
--          open). Every CYP102 row of the referral is loaded with the contact (rows: many). Team type
--          codes are two digits: a one-digit code (an extract that typed the code as a number, 4 for
--          04) is read with its leading zero.
-- grain: one row per core care contact row (_file, _row_number of the CYP201CareContact file).
-- inputs: _connector_core (the CYP201 rows, every column; the mapping's ensure columns present),
--         _connector_referral, _connector_team (every row per referral), _connector_person and
--         _connector_bridge (attached rows only; _key = the satellite's key; see satellite_rows.sql);
--         every table with _delivery: rows of several deliveries are joined within their delivery.
-- parameters: none.
CREATE OR REPLACE TEMP TABLE _raw AS
WITH contacts AS (
    SELECT *,
           NULLIF(trim(CAST("SERVICE REQUEST IDENTIFIER" AS VARCHAR)), '') AS _referral,
           NULLIF(trim(CAST("PERSON ID" AS VARCHAR)), '') AS _person
    FROM _connector_core
),
teams AS (
    -- the first row in the order above: one hash aggregate per contact (arg_max_null keeps a NULL code)
    SELECT c._file, c._row_number,
           arg_max_null(t."SERVICE OR TEAM TYPE REFERRED TO (COMMUNITY CARE)", {
               'team': coalesce(NULLIF(trim(CAST(t."CARE PROFESSIONAL TEAM LOCAL IDENTIFIER" AS VARCHAR)), '')
                                = NULLIF(trim(CAST(c."CARE PROFESSIONAL TEAM LOCAL IDENTIFIER" AS VARCHAR)), ''), FALSE),
               'open': try_cast(left(CAST(t."REFERRAL REJECTION DATE" AS VARCHAR), 10) AS DATE) IS NULL
                       AND coalesce(try_cast(left(CAST(t."REFERRAL CLOSURE DATE" AS VARCHAR), 10) AS DATE)
                                    >= try_cast(left(CAST(c."CARE CONTACT DATE" AS VARCHAR), 10) AS DATE), TRUE),
               'has_submission': try_cast(t."UNIQUE SUBMISSION ID" AS DOUBLE) IS NOT NULL,
               'submission': coalesce(try_cast(t."UNIQUE SUBMISSION ID" AS DOUBLE), 0),
               'file': t._file,
               'row': t._row_number
           }) AS _team_code
    FROM contacts c
    JOIN _connector_team t ON t._key = c._referral AND t._delivery = c._delivery
    GROUP BY c._file, c._row_number
)
SELECT * EXCLUDE (_code) REPLACE (
           CASE WHEN regexp_full_match(_code, '[0-9]') THEN '0' || _code ELSE _code END
               AS "SERVICE OR TEAM TYPE REFERRED TO (COMMUNITY CARE)"
       )
FROM (
    SELECT c.* EXCLUDE (_key, _referral, _person) REPLACE (
               coalesce(NULLIF(trim(CAST(c."UNIQUE SERVICE REQUEST IDENTIFIER" AS VARCHAR)), ''),
                        CAST(r."UNIQUE SERVICE REQUEST IDENTIFIER" AS VARCHAR)) AS "UNIQUE SERVICE REQUEST IDENTIFIER",
               coalesce(NULLIF(trim(CAST(c."ETHNIC CATEGORY" AS VARCHAR)), ''),
                        CAST(p."ETHNIC CATEGORY" AS VARCHAR)) AS "ETHNIC CATEGORY",
               coalesce(NULLIF(trim(CAST(c."LOWER SUPER OUTPUT AREA (RESIDENCE)" AS VARCHAR)), ''),
                        CAST(p."LOWER SUPER OUTPUT AREA (RESIDENCE)" AS VARCHAR)) AS "LOWER SUPER OUTPUT AREA (RESIDENCE)",
               coalesce(NULLIF(trim(CAST(c."Pseudo_NHS_Number" AS VARCHAR)), ''),
                        CAST(b."Pseudo_NHS_Number" AS VARCHAR)) AS "Pseudo_NHS_Number"
           ),
           coalesce(NULLIF(trim(CAST(c."SERVICE OR TEAM TYPE REFERRED TO (COMMUNITY CARE)" AS VARCHAR)), ''),
                    NULLIF(trim(CAST(t._team_code AS VARCHAR)), '')) AS _code
    FROM contacts c
    LEFT JOIN teams t ON t._file = c._file AND t._row_number = c._row_number
    LEFT JOIN _connector_referral r ON r._key = c._referral AND r._delivery = c._delivery
    LEFT JOIN _connector_person p ON p._key = c._person AND p._delivery = c._delivery
    LEFT JOIN _connector_bridge b ON b._key = c._person AND b._delivery = c._delivery
)
