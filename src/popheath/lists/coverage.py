"""Data coverage: which sources hold records for a person, how fresh each practice's feeds are, and the flag.

``sql/30_features/06_asof_coverage.sql`` computes ``asof_coverage`` in the features layer (person x
as-of: ``has_<source>`` and the practice's ``practice_last_<source>``), which ``popheath features``
persists as ``coverage`` (that as-of date's rows replaced). ``popheath segment`` summarises it as
``coverage_practice`` (practice x source) for the nightly report. ``popheath publish`` puts
:func:`coverage_flags` on each list row.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from popheath import db

log = logging.getLogger(__name__)

# Source code in the coverage table -> (plain name, staging table, its date column, record id as person_link
# holds it (SQL over the staging row t), link source). An ASC event is (la_code, event_id): asc_record_id
# (sql/10_staging/linked/00_asc_record_id.sql, created by the link stage).
SOURCES: dict[str, tuple[str, str, str, str, str]] = {
    "acute": ("acute (inpatient)", "stg_apc", "admission_date", "CAST(t.episode_id AS VARCHAR)", "apc"),
    "ed": ("A&E", "stg_ecds", "arrival_date", "CAST(t.attendance_id AS VARCHAR)", "ecds"),
    "outpatient": ("outpatient", "stg_opa", "appointment_date", "CAST(t.appointment_id AS VARCHAR)", "opa"),
    "community": ("community", "stg_csds", "contact_date", "CAST(t.contact_id AS VARCHAR)", "csds"),
    "social_care": ("social care", "stg_asc", "event_start", "asc_record_id(t.la_code, t.event_id)", "asc"),
}
COVERAGE_PRACTICE_DDL = """
CREATE TABLE IF NOT EXISTS coverage_practice (
    as_of DATE NOT NULL,
    practice_code VARCHAR,
    pcn_code VARCHAR,
    source VARCHAR NOT NULL,
    people BIGINT NOT NULL,
    people_with_record BIGINT NOT NULL,
    share_with_record DOUBLE,
    last_activity DATE,
    latest_delivery VARCHAR,
    days_since_last_activity INTEGER
)"""


def coverage_rows(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """People in ``coverage`` (persisted by the features stage) at ``as_of``; 0 when it was not built."""
    if not db.table_exists(con, "coverage"):
        return 0
    row = con.execute("SELECT count(*) FROM coverage WHERE as_of = $as_of", {"as_of": as_of}).fetchone()
    return int(row[0]) if row else 0


def _delivery_sql(source: str) -> str:
    _, table, day, record_id, link_source = SOURCES[source]
    # Delivery labels per practice: the raw folder each linked record came from (staging metadata).
    return f"""
        SELECT cv.practice_code, '{source}' AS source, max(CAST(t._delivery AS VARCHAR)) AS latest_delivery
        FROM {table} AS t
        JOIN person_link AS l ON l.source = '{link_source}' AND l.record_id = {record_id}
        JOIN coverage AS cv ON cv.as_of = $as_of AND cv.person_key = l.person_key
        WHERE CAST(t.{day} AS DATE) <= $as_of
        GROUP BY cv.practice_code"""


def build_practice_coverage(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """Replace ``coverage_practice`` rows for ``as_of`` (one per practice x source); returns rows written."""
    con.execute(COVERAGE_PRACTICE_DDL)
    if not db.table_exists(con, "coverage"):
        return 0
    per_source = " UNION ALL ".join(
        f"""SELECT as_of, practice_code, pcn_code, '{source}' AS source, has_{source} AS has_record,
                   practice_last_{source} AS last_activity FROM coverage WHERE as_of = $as_of"""
        for source in SOURCES
    )
    deliveries = [
        _delivery_sql(source)
        for source, (_, table, *_rest) in SOURCES.items()
        if db.table_exists(con, table)
        and "_delivery" in {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        and db.table_exists(con, "person_link")
    ]
    delivery_sql = (
        " UNION ALL ".join(deliveries)
        if deliveries
        else "SELECT NULL::VARCHAR AS practice_code, NULL::VARCHAR AS source,"
        " NULL::VARCHAR AS latest_delivery WHERE false"
    )
    with db.transaction(con):
        con.execute("DELETE FROM coverage_practice WHERE as_of = $as_of", {"as_of": as_of})
        con.execute(
            f"""
            INSERT INTO coverage_practice
            WITH per_source AS ({per_source}),
            deliveries AS ({delivery_sql})
            SELECT p.as_of, p.practice_code, any_value(p.pcn_code), p.source, count(*),
                   count(*) FILTER (WHERE p.has_record), avg(CASE WHEN p.has_record THEN 1.0 ELSE 0.0 END),
                   max(p.last_activity), any_value(d.latest_delivery),
                   date_diff('day', max(p.last_activity), CAST($as_of AS DATE))
            FROM per_source AS p
            LEFT JOIN deliveries AS d ON d.practice_code IS NOT DISTINCT FROM p.practice_code AND d.source = p.source
            GROUP BY p.as_of, p.practice_code, p.source
            """,
            {"as_of": as_of},
        )
    row = con.execute("SELECT count(*) FROM coverage_practice WHERE as_of = $as_of", {"as_of": as_of}).fetchone()
    return int(row[0]) if row else 0


def coverage_flags(frame: pd.DataFrame, as_of: date, stale_days: int) -> pd.Series:
    """Plain-words flag per row from its practice's ``practice_last_<source>`` dates ("" = full coverage).

    A source counts as missing for the practice when it has no record at all, or none in the
    ``stale_days`` before ``as_of``: "no community or social care data for this practice since 2024-11-30".
    """
    cutoff = pd.Timestamp(as_of - timedelta(days=stale_days))
    flags: list[str] = []
    for _, row in frame.iterrows():
        never: list[str] = []
        stale: list[tuple[str, pd.Timestamp]] = []
        for source, (label, *_rest) in SOURCES.items():
            value = row.get(f"practice_last_{source}")
            if value is None or pd.isna(value):
                never.append(label)
            elif pd.Timestamp(value) < cutoff:
                stale.append((label, pd.Timestamp(value)))
        parts = []
        if never:
            parts.append(f"no {_join(never)} data for this practice")
        if stale:
            since = max(day for _, day in stale)
            parts.append(f"no {_join([label for label, _ in stale])} data for this practice since {since:%Y-%m-%d}")
        flags.append("; ".join(parts))
    return pd.Series(flags, index=frame.index, dtype=object)


def _join(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def listed_coverage(con: duckdb.DuckDBPyConnection, as_of: date, tokens: list[str]) -> pd.DataFrame:
    """``coverage`` rows at ``as_of`` for the listed people (empty frame when coverage was not built)."""
    if not tokens or not db.table_exists(con, "coverage"):
        return pd.DataFrame(columns=["person_key"])
    frame: pd.DataFrame = con.execute(
        "SELECT * FROM coverage WHERE as_of = $as_of AND list_contains($tokens, person_key)",
        {"as_of": as_of, "tokens": tokens},
    ).df()
    return frame


def _auroc(outcome: np.ndarray, risk: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(outcome)) < 2:
        return float("nan")
    return float(roc_auc_score(outcome, risk))


def performance_by_coverage(
    frame: pd.DataFrame, group_column: str = "coverage_group", bootstrap: int = 200, seed: int = 1
) -> pd.DataFrame:
    """Model performance per coverage group: people, events, AUROC with a bootstrap 95% CI, Brier, O/E.

    ``frame`` has one row per person with ``risk`` (predicted probability), ``outcome`` (0/1) and
    ``group_column``. AUROC is NaN for a group without both outcomes. Rows are put in (risk, outcome)
    order first, so the seeded bootstrap gives the same interval whatever order the rows came in.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    ordered = frame.sort_values(["risk", "outcome"], kind="stable")
    for group, part in ordered.groupby(group_column, sort=True):
        outcome = part["outcome"].to_numpy(dtype=float)
        risk = part["risk"].to_numpy(dtype=float)
        auroc = _auroc(outcome, risk)
        draws = []
        if not np.isnan(auroc):
            for _ in range(bootstrap):
                index = rng.integers(0, len(part), len(part))
                value = _auroc(outcome[index], risk[index])
                if not np.isnan(value):
                    draws.append(value)
        expected = float(risk.sum())
        rows.append(
            {
                group_column: group,
                "people": len(part),
                "events": int(outcome.sum()),
                "auroc": auroc,
                "auroc_lower": float(np.quantile(draws, 0.025)) if draws else float("nan"),
                "auroc_upper": float(np.quantile(draws, 0.975)) if draws else float("nan"),
                "brier": float(np.mean((risk - outcome) ** 2)),
                "observed_to_expected": float(outcome.sum() / expected) if expected > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def coverage_performance_table(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    model: tuple[str, str],
    outcome: str = "acsc_admission_12m",
    stale_days: int = 120,
    bootstrap: int = 200,
) -> pd.DataFrame:
    """For the model card: performance at ``as_of`` for people whose practice has full vs partial coverage.

    Full: every source has data for the person's practice within ``stale_days`` of ``as_of``. Reads
    ``scores``, ``labels`` and ``coverage`` (set-based join; only risk, outcome and group come back).
    """
    db.require_tables(con, "scores", "labels", "coverage")
    checks = " AND ".join(
        f"coalesce(cv.practice_last_{source} >= CAST($as_of AS DATE) - to_days($stale_days), false)"
        for source in SOURCES
    )
    frame = con.execute(
        f"""
        SELECT s.risk, CAST(l.{outcome} AS DOUBLE) AS outcome,
               CASE WHEN {checks} THEN 'full' ELSE 'partial' END AS coverage_group
        FROM scores AS s
        JOIN labels AS l ON l.as_of = s.as_of AND l.person_key = s.person_key
        JOIN coverage AS cv ON cv.as_of = s.as_of AND cv.person_key = s.person_key
        WHERE s.as_of = $as_of AND s.model_name = $model_name AND s.model_version = $model_version
          AND l.{outcome} IS NOT NULL
        """,
        {"as_of": as_of, "model_name": model[0], "model_version": model[1], "stale_days": stale_days},
    ).df()
    return performance_by_coverage(frame, bootstrap=bootstrap)


def coverage_performance_markdown(table: pd.DataFrame) -> str:
    """The table as a Markdown block for ``model_card.md`` (section "Performance by data coverage")."""
    lines = [
        "## Performance by data coverage",
        "",
        "People whose practice had data from every source (acute, A&E, outpatient, community, social care)",
        "in the months before the as-of date (full) against those whose practice lacked one or more feeds",
        "(partial). A model looks worse, and under-predicts, where a feed is missing: its inputs say less.",
        "",
        "| coverage | people | events | AUROC (95% CI) | Brier | observed / expected |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for row in table.to_dict("records"):
        lines.append(
            f"| {row['coverage_group']} | {row['people']:,} | {row['events']:,} | "
            f"{row['auroc']:.3f} ({row['auroc_lower']:.3f}-{row['auroc_upper']:.3f}) | {row['brier']:.4f} | "
            f"{row['observed_to_expected']:.2f} |"
        )
    return "\n".join(lines) + "\n"
