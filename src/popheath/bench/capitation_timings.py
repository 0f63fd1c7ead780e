"""Time ``popheath cost`` and ``popheath capitation`` on a generated warehouse of N people.

``python -m popheath.bench.capitation_timings --people 50000``: builds the upstream tables the stages read
(person, person_link, clin_spells, stg_*, features, segments, cohort) for two financial years with
about ten activity records per person-year, in a temporary DuckDB file, then runs costing for both
years and the capitation stage, and logs the time of each step. Data are generated in DuckDB SQL
with a planted cost signal; nothing is written outside the temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from popheath import config, db, logs
from popheath.stages import capitation, cost

log = logging.getLogger(__name__)

_TABLES = [
    """CREATE OR REPLACE TABLE person AS
    SELECT printf('%016X', i * 2654435761 % 18446744073709551557) AS person_key,
           (2024 - 1 - CAST(floor(random() * 95) AS INTEGER)) AS birth_year,
           CAST(1 + floor(random() * 12) AS INTEGER) AS birth_month,
           CASE WHEN random() < 0.5 THEN 'M' ELSE 'F' END AS sex,
           printf('P%03d', i % 120) AS practice_code, printf('N%02d', i % 120 // 8) AS pcn_code,
           printf('Place%d', i % 120 // 30) AS place,
           CASE WHEN random() < 0.05 THEN DATE '2024-04-01' + CAST(floor(random() * 360) AS INTEGER)
                ELSE DATE '2005-01-01' END AS registration_start,
           CASE WHEN random() < 0.03 THEN DATE '2024-04-01' + CAST(floor(random() * 360) AS INTEGER) END
               AS registration_end,
           CASE WHEN random() < 0.01 THEN DATE '2024-04-01' + CAST(floor(random() * 360) AS INTEGER) END
               AS date_of_death,
           random() < 0.03 AS national_data_opt_out, random() < 0.01 AS type1_opt_out,
           random() > 0.01 AS in_population,
           random() < (0.05 + 0.5 * ((i % 120) / 120.0)) AS _chronic
    FROM range($people) AS t(i)""",
    """CREATE OR REPLACE TABLE features AS
    SELECT make_date(y, 4, 1) AS as_of, person_key,
           CAST(_chronic AS DOUBLE) AS chronic_condition,
           CAST(floor(-ln(random()) * (0.1 + 1.2 * CAST(_chronic AS INTEGER))) AS DOUBLE) AS emergency_admissions_12m,
           CAST(y - birth_year AS DOUBLE) AS age_years,
           random() AS noise_1, random() AS noise_2, random() AS noise_3, random() AS noise_4, random() AS noise_5
    FROM person, (VALUES (2023), (2024)) AS v(y)""",
    """CREATE OR REPLACE TABLE segments AS
    SELECT as_of, person_key,
           CASE WHEN chronic_condition > 0 AND age_years >= 75 THEN 'frailty_moderate'
                WHEN chronic_condition > 0 THEN 'long_term_condition' ELSE 'mostly_healthy' END AS segment,
           CASE WHEN emergency_admissions_12m >= 3 THEN 'very_high' WHEN emergency_admissions_12m >= 2 THEN 'high'
                WHEN emergency_admissions_12m >= 1 THEN 'moderate' ELSE 'low' END AS tier
    FROM features""",
    """CREATE OR REPLACE TABLE cohort AS
    SELECT as_of, person_key, chronic_condition > 0 AND age_years >= 75 AS is_frail FROM features""",
    """CREATE OR REPLACE TABLE clin_spells AS
    SELECT printf('S%d_%d', y, row_number() OVER ()) AS spell_key, f.person_key, 'RX1' AS provider_code,
           make_date(y, 4, 1) + CAST(floor(random() * 340) AS INTEGER) AS admission_date,
           make_date(y, 4, 1) + CAST(floor(random() * 340) AS INTEGER) + los AS discharge_date,
           los AS length_of_stay, CASE WHEN random() < 0.7 THEN '21' ELSE '11' END AS admission_method,
           random() < 0.7 AS is_emergency,
           (['DZ65B', 'EB03C', 'FD01A', 'LA04F', 'HE11A', NULL, 'UZ01Z', 'QQ99Z'])
               [1 + CAST(floor(random() * 8) AS INTEGER)] AS hrg_code,
           random() < 0.05 AS out_of_ics_provider
    FROM (SELECT *, CAST(floor(-ln(random()) * 5) AS INTEGER) AS los, year(as_of) AS y FROM features) AS f,
         range(CAST(floor(-ln(random()) * (0.2 + f.emergency_admissions_12m)) AS INTEGER))""",
    """CREATE OR REPLACE TABLE stg_ecds AS
    SELECT printf('E%d_%d', year(as_of), row_number() OVER ()) AS attendance_id, person_key AS person_id,
           'RX1' AS provider_code, as_of + CAST(floor(random() * 364) AS INTEGER) AS arrival_date,
           printf('%02d', 1 + CAST(floor(random() * 4) AS INTEGER)) AS department_type
    FROM features, range(CAST(floor(-ln(random()) * (0.3 + emergency_admissions_12m)) AS INTEGER))""",
    """CREATE OR REPLACE TABLE stg_opa AS
    SELECT printf('O%d_%d', year(as_of), row_number() OVER ()) AS appointment_id, person_key AS person_id,
           'RX1' AS provider_code, as_of + CAST(floor(random() * 364) AS INTEGER) AS appointment_date,
           '5' AS attendance_status, random() > 0.07 AS attended, FALSE AS did_not_attend,
           CAST(1 + floor(random() * 4) AS VARCHAR) AS first_attendance,
           (['300', '430', '320', '110', '999'])[1 + CAST(floor(random() * 5) AS INTEGER)] AS treatment_specialty,
           NULL AS hrg_code
    FROM features, range(CAST(floor(-ln(random()) * (2.5 + 4 * chronic_condition)) AS INTEGER))""",
    """CREATE OR REPLACE TABLE stg_csds AS
    SELECT printf('C%d_%d', year(as_of), row_number() OVER ()) AS contact_id, person_key AS person_id,
           'RY1' AS provider_code, as_of + CAST(floor(random() * 364) AS INTEGER) AS contact_date,
           (['district_nursing', 'community_matron', 'therapy', 'podiatry'])[1 + CAST(floor(random() * 4) AS INTEGER)]
               AS team_type,
           CAST(10 + floor(random() * 50) AS INTEGER) AS duration_minutes, TRUE AS attended
    FROM features, range(CAST(floor(-ln(random()) * (2.5 + 8 * chronic_condition * (age_years >= 75)::INT))
                              AS INTEGER))""",
    """CREATE OR REPLACE TABLE stg_asc AS
    SELECT printf('A%d_%d', year(as_of), row_number() OVER ()) AS event_id, NULL AS person_id, 'E06' AS la_code,
           'service' AS event_type, 'home_care' AS service_type,
           as_of + CAST(floor(random() * 300) AS INTEGER) AS event_start, NULL::DATE AS event_end,
           CAST(2 + floor(random() * 10) AS DOUBLE) AS planned_units_per_week, 22.0 AS unit_cost, 'hourly' AS cost_unit,
           FALSE AS unpaid_carer, person_key AS _person_key
    FROM features WHERE age_years >= 70 AND random() < 0.08 + 0.2 * chronic_condition""",
    """CREATE OR REPLACE TABLE person_link AS
    SELECT 'ecds' AS source, attendance_id AS record_id, person_id AS person_key, 'deterministic' AS method,
           1.0 AS match_probability, FALSE AS out_of_area, FALSE AS out_of_ics_provider FROM stg_ecds
    UNION ALL SELECT 'opa', appointment_id, person_id, 'deterministic', 1.0, FALSE, random() < 0.05 FROM stg_opa
    UNION ALL SELECT 'csds', contact_id, person_id, 'deterministic', 1.0, FALSE, FALSE FROM stg_csds
    UNION ALL SELECT 'asc', la_code || '|' || event_id, CASE WHEN random() < 0.9 THEN _person_key END,
           'probabilistic', 0.95, FALSE, FALSE FROM stg_asc""",
]


def build(settings: config.Settings, people: int, seed: float = 0.42) -> dict[str, int]:
    """Generate the upstream tables for ``people`` people; returns row counts."""
    con = db.connect(settings)
    try:
        con.execute("SELECT setseed($seed)", {"seed": seed})
        for sql in _TABLES:
            db.execute(con, sql, {"people": people})
        counts = {}
        for name in ("person", "clin_spells", "stg_ecds", "stg_opa", "stg_csds", "stg_asc", "features"):
            row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Build a warehouse, run the stages and return the timings in seconds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--bootstrap-samples", type=int, default=500)
    args = parser.parse_args(argv)
    logs.setup("INFO")
    timings: dict[str, float] = {}
    cpu_started = time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        settings = config.with_overrides(
            config.Settings(),
            **{
                "paths.warehouse": Path(folder) / "bench.duckdb",
                "paths.outputs": Path(folder) / "outputs",
                "capitation.bootstrap_samples": args.bootstrap_samples,
            },
        )
        started = time.perf_counter()
        counts = build(settings, args.people)
        timings["generate"] = time.perf_counter() - started
        log.info("generated %s", counts)
        for year in (2023, 2024):
            started, cpu = time.perf_counter(), time.process_time()
            cost.run(settings, settings.as_of, year=year)
            timings[f"cost_{year}"] = time.perf_counter() - started
            timings[f"cost_{year}_cpu"] = time.process_time() - cpu
        started = time.perf_counter()
        result = capitation.run(settings, settings.as_of, year=2024)
        timings["capitation"] = time.perf_counter() - started
        log.info("capitation steps (wall s): %s", result.summary["seconds"])
        log.info("capitation steps (process CPU s): %s", result.summary["cpu_seconds"])
        log.info("R2: %s", result.summary.get("r2"))
    timings["total_stages"] = sum(
        v for k, v in timings.items() if k.startswith(("cost_", "capitation")) and "cpu" not in k
    )
    timings["process_cpu_all"] = time.process_time() - cpu_started
    log.info("timings (s): %s", {k: round(v, 1) for k, v in timings.items()})
    return timings


if __name__ == "__main__":
    main()
