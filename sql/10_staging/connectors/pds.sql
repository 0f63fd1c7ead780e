-- purpose: resolve a PDS delivery (DSCRO data lake tables, ncl-icb-analytics/dbt-ncl-analytics
--          models/sources/auto_data_lake_pds.yml) to the registration spine as at the extract date:
--          the rows effective then are the open ones (PDS closes a row with its effective-to date; a
--          sentinel To date such as 9999-12-31 is open), as NCL's PDS queries take
--          `target BETWEEN From AND coalesce(To, '9999-12-31')` with the extract day as target.
--          * mergers: PDS_Person_Merger maps each superseded pseudonym to the surviving one (the latest
--            open merger row); the superseded pseudonym's person, registration and address rows are
--            the survivor's, and its pseudonyms come out as Superseded Pseudo NHS Number 1..n.
--          * registration: the effective one is the open registration with the latest From date, else
--            (registration ended: removal, death) the latest by From date; its practice, To date and
--            Reason for Removal (the registration's own, else the PDS_Reason_For_Removal row effective
--            at its end). Continuous Registration Start Date is the start of the run of registrations
--            it ends: a registration starting no later than the day after the previous one ended
--            continues the run (a move between practices), a later one starts a new run.
--          * address: the open address with the latest From date, else the latest; its LSOA 2021 and
--            Care Home (a CQC care-home location code is present, derCqcCareHomeCode). The person's
--            earlier addresses (every other address row that has ended, by its effective-to date) give
--            their LSOAs other than the current one, latest ended first, as Previous LSOA 1..n: another
--            organisation's record (an LA's) may still hold an address the person has left.
--          * birth: YearMonth_Of_Birth (YYYYMM, YYYY-MM or a date) split into Birth Year and Birth
--            Month; a value of another shape is passed whole as Birth Year, so its type check names it.
--          Values of the effective rows are passed as delivered (text), so the contract checks,
--          types and quarantines them as for any column; dates are parsed here only to order rows.
-- grain: one row per core PDS_Person row (_file, _row_number of the PDS_Person file).
-- inputs: _connector_core (PDS_Person rows, _key = Pseudo NHS Number); _connector_practices,
--         _connector_addresses, _connector_mergers, _connector_removals (attached rows, every row of a
--         key: rows: many; _key = Pseudo NHS Number).
--         _connector_sentinels (sentinel_date: ingest.sentinel_dates; a To date among them is no end date).
-- parameters: none.
CREATE OR REPLACE TEMP MACRO pds_parsed(v) AS coalesce(
    TRY_CAST(left(trim(CAST(v AS VARCHAR)), 10) AS DATE),
    CAST(try_strptime(trim(CAST(v AS VARCHAR)), ['%d/%m/%Y', '%Y%m%d']) AS DATE)
);
CREATE OR REPLACE TEMP MACRO pds_date(v) AS (
    CASE WHEN pds_parsed(v) IN (SELECT sentinel_date FROM _connector_sentinels) THEN NULL ELSE pds_parsed(v) END
);
CREATE OR REPLACE TEMP TABLE _pds_merged AS
SELECT NULLIF(trim(CAST("Pseudo Superseded NHS Number" AS VARCHAR)), '') AS superseded, _key AS survivor
FROM _connector_mergers
WHERE NULLIF(trim(CAST("Pseudo Superseded NHS Number" AS VARCHAR)), '') IS NOT NULL
  AND NULLIF(trim(CAST("Pseudo Superseded NHS Number" AS VARCHAR)), '') <> _key
  AND pds_date("Person Merger Business Effective To Date") IS NULL
QUALIFY row_number() OVER (
    PARTITION BY superseded ORDER BY pds_date("Person Merger Business Effective From Date") DESC NULLS LAST, _key
) = 1;
CREATE OR REPLACE TEMP TABLE _pds_superseded AS
PIVOT (
    SELECT survivor, superseded, 'Superseded Pseudo NHS Number ' || row_number() OVER (
        PARTITION BY survivor ORDER BY superseded) AS position
    FROM _pds_merged
) ON position USING first(superseded) GROUP BY survivor;
CREATE OR REPLACE TEMP TABLE _pds_registration AS
WITH registrations AS (
    SELECT coalesce(m.survivor, p._key) AS person,
           p."Primary Care Provider" AS practice,
           p."Primary Care Provider Business Effective From Date" AS from_text,
           p."Primary Care Provider Business Effective To Date" AS to_text,
           NULLIF(trim(CAST(p."Reason for Removal" AS VARCHAR)), '') AS reason,
           pds_date(p."Primary Care Provider Business Effective From Date") AS from_date,
           pds_date(p."Primary Care Provider Business Effective To Date") AS to_date,
           p._file, p._row_number
    FROM _connector_practices AS p
    LEFT JOIN _pds_merged AS m ON m.superseded = p._key
),
runs AS (
    -- A registration starts a new run when it starts more than a day after every earlier one ended.
    SELECT *, sum(CASE WHEN from_date <= ended_before + 1 THEN 0 ELSE 1 END) OVER (
               PARTITION BY person ORDER BY from_date NULLS FIRST, _file, _row_number) AS run
    FROM (
        SELECT *, max(coalesce(to_date, DATE '9999-12-30')) OVER (
                   PARTITION BY person ORDER BY from_date NULLS FIRST, _file, _row_number
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS ended_before
        FROM registrations
    )
),
effective AS (
    SELECT * FROM runs
    QUALIFY row_number() OVER (
        PARTITION BY person ORDER BY to_date IS NULL DESC, from_date DESC NULLS LAST, to_date DESC NULLS LAST,
                                     _file DESC, _row_number DESC) = 1
),
run_start AS (
    SELECT r.person, arg_min(r.from_text, r.from_date) AS start_text
    FROM runs AS r JOIN effective AS e ON e.person = r.person AND e.run = r.run
    GROUP BY r.person
),
removal AS (
    SELECT coalesce(m.survivor, x._key) AS person,
           NULLIF(trim(CAST(x."Reason for Removal" AS VARCHAR)), '') AS reason,
           pds_date(x."Reason for Removal Business Effective From Date") AS from_date,
           pds_date(x."Reason for Removal Business Effective To Date") AS to_date
    FROM _connector_removals AS x
    LEFT JOIN _pds_merged AS m ON m.superseded = x._key
)
SELECT e.person, e.practice, e.to_text, s.start_text,
       CASE WHEN e.to_date IS NOT NULL THEN coalesce(e.reason, (
           SELECT arg_max(x.reason, x.from_date) FROM removal AS x
           WHERE x.person = e.person AND x.reason IS NOT NULL
             AND (x.from_date IS NULL OR x.from_date <= e.to_date + 1)
             AND (x.to_date IS NULL OR x.to_date >= e.to_date))) END AS reason
FROM effective AS e
JOIN run_start AS s ON s.person = e.person;
CREATE OR REPLACE TEMP TABLE _pds_address AS
SELECT coalesce(m.survivor, a._key) AS person,
       a."derCurrentyr2021LSOAofResidence_FromPostcode" AS lsoa,
       NULLIF(trim(CAST(a."derCqcCareHomeCode" AS VARCHAR)), '') IS NOT NULL AS care_home
FROM _connector_addresses AS a
LEFT JOIN _pds_merged AS m ON m.superseded = a._key
QUALIFY row_number() OVER (
    PARTITION BY coalesce(m.survivor, a._key)
    ORDER BY pds_date(a."Usual Address Business Effective To Date") IS NULL DESC,
             pds_date(a."Usual Address Business Effective From Date") DESC NULLS LAST,
             pds_date(a."Usual Address Business Effective To Date") DESC NULLS LAST,
             a._file DESC, a._row_number DESC
) = 1;
CREATE OR REPLACE TEMP TABLE _pds_previous_lsoa AS
WITH earlier AS (
    SELECT coalesce(m.survivor, a._key) AS person,
           NULLIF(upper(trim(CAST(a."derCurrentyr2021LSOAofResidence_FromPostcode" AS VARCHAR))), '') AS lsoa,
           max(pds_date(a."Usual Address Business Effective To Date")) AS ended
    FROM _connector_addresses AS a
    LEFT JOIN _pds_merged AS m ON m.superseded = a._key
    WHERE pds_date(a."Usual Address Business Effective To Date") IS NOT NULL
    GROUP BY ALL
)
PIVOT (
    SELECT e.person, e.lsoa, 'Previous LSOA ' || row_number() OVER (
        PARTITION BY e.person ORDER BY e.ended DESC, e.lsoa) AS position
    FROM earlier AS e
    LEFT JOIN _pds_address AS c ON c.person = e.person
    WHERE e.lsoa IS NOT NULL
      AND e.lsoa IS DISTINCT FROM NULLIF(upper(trim(CAST(c.lsoa AS VARCHAR))), '')
) ON position USING first(lsoa) GROUP BY person;
CREATE OR REPLACE TEMP TABLE _raw AS
WITH core AS (
    SELECT c.* EXCLUDE (_key) REPLACE (coalesce(m.survivor, c._key) AS "Pseudo NHS Number"),
           coalesce(m.survivor, c._key) AS _person,
           regexp_extract(trim(CAST(c."YearMonth_Of_Birth" AS VARCHAR)), '^([0-9]{4})-?([0-9]{2})', ['y', 'm'])
               AS _birth
    FROM _connector_core AS c
    LEFT JOIN _pds_merged AS m ON m.superseded = c._key
)
SELECT c.* EXCLUDE (_person, _birth),
       CASE WHEN c._birth.y <> '' THEN c._birth.y ELSE CAST(c."YearMonth_Of_Birth" AS VARCHAR) END AS "Birth Year",
       NULLIF(c._birth.m, '') AS "Birth Month",
       r.practice AS "Primary Care Provider",
       r.start_text AS "Continuous Registration Start Date",
       r.to_text AS "Primary Care Provider Business Effective To Date",
       r.reason AS "Reason for Removal",
       a.lsoa AS "derCurrentyr2021LSOAofResidence_FromPostcode",
       a.care_home AS "Care Home",
       s.* EXCLUDE (survivor),
       v.* EXCLUDE (person)
FROM core AS c
LEFT JOIN _pds_registration AS r ON r.person = c._person
LEFT JOIN _pds_address AS a ON a.person = c._person
LEFT JOIN _pds_superseded AS s ON s.survivor = c._person
LEFT JOIN _pds_previous_lsoa AS v ON v.person = c._person;
DROP TABLE _pds_merged;
DROP TABLE _pds_superseded;
DROP TABLE _pds_registration;
DROP TABLE _pds_address;
DROP TABLE _pds_previous_lsoa;
