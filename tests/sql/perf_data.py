"""Set-based generator of canonical staging tables at scale (no Python loops), for timing the SQL layers.

About 10 activity rows per person over 2021-2025, in the proportions of a real ICS extract: APC
episodes (with multi-episode spells and transfers), ED attendances, outpatient appointments,
community contacts and social care events; every record linked with probability 1.
"""

from __future__ import annotations

import duckdb

CODES = [
    "J441",
    "J440",
    "I500",
    "N390",
    "J181",
    "S720",
    "W19",
    "F00",
    "F03",
    "G81",
    "C787",
    "C180",
    "K703",
    "K721",
    "E112",
    "E119",
    "I10",
    "I48",
    "R69",
    "R55",
    "Z515",
    "L031",
    "E86",
    "N179",
    "R296",
    "I639",
    "M796",
    "H269",
]


def generate(con: duckdb.DuckDBPyConnection, people: int, seed: float = 0.42) -> dict[str, int]:
    """Create person, person_link and the stg_* tables for ``people`` people; return row counts."""
    con.execute(f"SELECT setseed({seed})")
    con.execute(
        """
        CREATE OR REPLACE TABLE person AS
        SELECT
            printf('%016X', i) AS person_key, printf('%016X', i) AS person_id,
            CAST(1925 + floor(random() * 95) AS INTEGER) AS birth_year,
            CAST(1 + floor(random() * 12) AS INTEGER) AS birth_month,
            CASE WHEN random() < 0.51 THEN 'F' ELSE 'M' END AS sex,
            ['A', 'B', 'H', 'J', 'M', 'R', 'Z'][CAST(1 + floor(random() * 7) AS INTEGER)] AS ethnic_category,
            'E0' || CAST(i % 3000 AS VARCHAR) AS lsoa_code,
            CAST(1 + floor(random() * 10) AS INTEGER) AS imd_decile,
            'P' || CAST(i % 60 AS VARCHAR) AS practice_code, 'PCN' || CAST(i % 12 AS VARCHAR) AS pcn_code,
            'Place' || CAST(i % 4 AS VARCHAR) AS place,
            DATE '2000-01-01' + CAST(floor(random() * 9000) AS INTEGER) AS registration_start,
            CASE WHEN random() < 0.04 THEN DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) END
                AS registration_end,
            CASE WHEN random() < 0.03 THEN DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) END
                AS date_of_death,
            random() < 0.01 AS care_home, random() < 0.02 AS type1_opt_out, random() < 0.05 AS national_data_opt_out,
            TRUE AS in_population
        FROM range($n) AS t(i)
        """,
        {"n": people},
    )
    # Episodes: ~2 per person; 15% of spells have a second episode; a few are transfers.
    con.execute(
        """
        CREATE OR REPLACE TABLE stg_apc AS
        WITH spells AS (
            SELECT
                row_number() OVER () AS s,
                printf('%016X', CAST(floor(random() * $n) AS BIGINT)) AS person_id,
                DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) AS admitted,
                CAST(floor(-ln(random() + 1e-9) * 4) AS INTEGER) AS los,
                ['21', '21', '21', '22', '2A', '28', '11', '12', '13', '81'][CAST(1 + floor(random() * 10) AS INTEGER)]
                    AS method,
                random() < 0.15 AS two_episodes
            FROM range(CAST($n * 1.7 AS BIGINT))
        ),
        episodes AS (
            SELECT s.*, e.episode_order FROM spells AS s, range(1, 3) AS e(episode_order)
            WHERE e.episode_order = 1 OR s.two_episodes
        )
        SELECT
            'E' || CAST(s AS VARCHAR) || '-' || CAST(episode_order AS VARCHAR) AS episode_id,
            person_id,
            CASE WHEN random() < 0.02 THEN NULL ELSE 'S' || CAST(s AS VARCHAR) END AS spell_id,
            ['RAA', 'RBB', 'RCC'][CAST(1 + s % 3 AS INTEGER)] AS provider_code,
            admitted AS admission_date, admitted + los AS discharge_date,
            admitted + CASE WHEN episode_order = 2 THEN los // 2 ELSE 0 END AS episode_start,
            admitted + CASE WHEN episode_order = 1 AND two_episodes THEN los // 2 ELSE los END AS episode_end,
            CAST(episode_order AS INTEGER) AS episode_order,
            method AS admission_method,
            CASE WHEN random() < 0.03 THEN '51' ELSE '19' END AS admission_source,
            CASE WHEN random() < 0.03 THEN '51' WHEN random() < 0.02 THEN '54' ELSE '19' END AS discharge_destination,
            CASE WHEN random() < 0.02 THEN '4' ELSE '1' END AS discharge_method,
            list_transform(range(CAST(1 + floor(random() * 6) AS INTEGER)),
                           lambda x: $codes[CAST(1 + floor(random() * len($codes)) AS INTEGER)]) AS diagnoses,
            CASE WHEN random() < 0.2 THEN ['K401'] ELSE [] END::VARCHAR[] AS procedures,
            'HRG' AS hrg_code, '300' AS treatment_specialty,
            CAST(NULL AS VARCHAR) AS patient_classification, CAST(NULL AS VARCHAR) AS episode_status
        FROM episodes
        """,
        {"n": people, "codes": CODES},
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE stg_ecds AS
        SELECT 'A' || CAST(i AS VARCHAR) AS attendance_id,
               printf('%016X', CAST(floor(random() * $n) AS BIGINT)) AS person_id, 'RAA' AS provider_code,
               DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) AS arrival_date, '12:00' AS arrival_time,
               '01' AS department_type, NULL AS arrival_mode, NULL AS discharge_destination,
               NULL AS diagnosis_snomed, NULL AS diagnosis_icd10, CAST(NULL AS VARCHAR) AS diagnosis_ae,
               CAST(NULL AS VARCHAR) AS attendance_category, CAST(NULL AS VARCHAR) AS chief_complaint_snomed,
               CAST(NULL AS VARCHAR) AS acuity_snomed, CAST(NULL AS VARCHAR[]) AS diagnoses_snomed,
               CAST(NULL AS BOOLEAN) AS duplicate
        FROM range(CAST($n * 1.5 AS BIGINT)) AS t(i)
        """,
        {"n": people},
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE stg_opa AS
        SELECT 'O' || CAST(i AS VARCHAR) AS appointment_id,
               printf('%016X', CAST(floor(random() * $n) AS BIGINT)) AS person_id, 'RAA' AS provider_code,
               DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) AS appointment_date,
               '5' AS attendance_status,
               r < 0.9 AS attended, r >= 0.9 AS did_not_attend, '1' AS first_attendance, '300' AS treatment_specialty,
               NULL AS hrg_code
        FROM (SELECT i, random() AS r FROM range(CAST($n * 4 AS BIGINT)) AS t(i))
        """,
        {"n": people},
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE stg_csds AS
        SELECT 'C' || CAST(i AS VARCHAR) AS contact_id,
               printf('%016X', CAST(floor(random() * $n) AS BIGINT)) AS person_id, 'RDD' AS provider_code,
               DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) AS contact_date,
               ['district_nursing', 'community_matron', 'rapid_response', 'therapy', 'other']
                   [CAST(1 + floor(random() * 5) AS INTEGER)] AS team_type,
               30 AS duration_minutes, random() < 0.95 AS attended
        FROM range(CAST($n * 2.5 AS BIGINT)) AS t(i)
        """,
        {"n": people},
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE stg_asc AS
        SELECT 'S' || CAST(i AS VARCHAR) AS event_id,
               printf('%016X', CAST(floor(random() * $n) AS BIGINT)) AS person_id,
               1940 AS birth_year, 1 AS birth_month, 'F' AS sex, NULL AS lsoa_code, NULL AS practice_code,
               'E0801' AS la_code, CASE WHEN random() < 0.7 THEN 'service' ELSE 'assessment' END AS event_type,
               ['home_care', 'residential', 'nursing', 'reablement', 'equipment']
                   [CAST(1 + floor(random() * 5) AS INTEGER)] AS service_type,
               start AS event_start,
               CASE WHEN random() < 0.5 THEN start + CAST(floor(random() * 400) AS INTEGER) END AS event_end,
               10.0 AS planned_units_per_week, 21.5 AS unit_cost, 'hourly' AS cost_unit,
               'service_user' AS client_type, FALSE AS unpaid_carer, NULL::BOOLEAN AS long_term_support
        FROM (SELECT i, DATE '2021-01-01' + CAST(floor(random() * 1800) AS INTEGER) AS start
              FROM range(CAST($n * 0.3 AS BIGINT)) AS t(i))
        """,
        {"n": people},
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE person_link AS
        SELECT 'apc' AS source, episode_id AS record_id, person_id AS person_key, 'deterministic' AS method,
               1.0 AS match_probability, FALSE AS out_of_area, FALSE AS out_of_ics_provider FROM stg_apc
        UNION ALL SELECT 'ecds', attendance_id, person_id, 'deterministic', 1.0, FALSE, FALSE FROM stg_ecds
        UNION ALL SELECT 'opa', appointment_id, person_id, 'deterministic', 1.0, FALSE, FALSE FROM stg_opa
        UNION ALL SELECT 'csds', contact_id, person_id, 'deterministic', 1.0, FALSE, FALSE FROM stg_csds
        UNION ALL SELECT 'asc', la_code || '|' || event_id, person_id, 'deterministic', 1.0, FALSE, FALSE FROM stg_asc
        """
    )
    tables = ("person", "stg_apc", "stg_ecds", "stg_opa", "stg_csds", "stg_asc", "person_link")
    return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]
