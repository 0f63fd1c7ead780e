"""Observed against predicted admissions of past lists, by risk decile, tier and practice (set-based in DuckDB)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from popheath import db

CALIBRATION_COLUMNS = [
    "list_date",
    "group_type",
    "group_value",
    "people",
    "predicted",
    "observed",
    "observed_to_expected",
    "complete_follow_up",
]


def calibration_table(
    con: duckdb.DuckDBPyConnection, list_date: date, model: tuple[str, str], outcome: str, data_end: date
) -> pd.DataFrame:
    """Per risk decile (1 = highest), tier and practice: people, predicted and observed events at ``list_date``.

    ``complete_follow_up`` is false while the outcome window (12 months) has not ended by ``data_end``:
    observed counts are then too low and say nothing yet.
    """
    db.require_tables(con, "scores", "labels", "segments", "cohort")
    frame: pd.DataFrame = con.execute(
        f"""
        WITH base AS (
            SELECT s.risk, CAST(l.{outcome} AS DOUBLE) AS outcome, g.tier, c.practice_code,
                   ntile(10) OVER (ORDER BY s.risk DESC) AS decile
            FROM scores AS s
            JOIN labels AS l ON l.as_of = s.as_of AND l.person_key = s.person_key
            LEFT JOIN segments AS g ON g.as_of = s.as_of AND g.person_key = s.person_key
            LEFT JOIN cohort AS c ON c.as_of = s.as_of AND c.person_key = s.person_key
            WHERE s.as_of = $d AND s.model_name = $m AND s.model_version = $v AND l.{outcome} IS NOT NULL
        ), grouped AS (
            SELECT 'risk_decile' AS group_type, CAST(decile AS VARCHAR) AS group_value, risk, outcome FROM base
            UNION ALL SELECT 'tier', coalesce(tier, 'not_segmented'), risk, outcome FROM base
            UNION ALL SELECT 'practice', coalesce(practice_code, 'unknown'), risk, outcome FROM base
        )
        SELECT CAST($d AS DATE) AS list_date, group_type, group_value, count(*) AS people,
               sum(risk) AS predicted, sum(outcome) AS observed,
               sum(outcome) / nullif(sum(risk), 0) AS observed_to_expected,
               CAST($d AS DATE) + INTERVAL 365 DAY <= CAST($end AS DATE) AS complete_follow_up
        FROM grouped
        GROUP BY group_type, group_value
        ORDER BY group_type, CASE WHEN group_type = 'risk_decile' THEN lpad(group_value, 3, '0') ELSE group_value END
        """,
        {"d": list_date, "m": model[0], "v": model[1], "end": data_end},
    ).df()
    return frame[CALIBRATION_COLUMNS]
