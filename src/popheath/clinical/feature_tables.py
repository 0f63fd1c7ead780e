"""Clinical logic (``sql/20_clinical``), then cohort, features, labels and coverage at an as-of date.

The clinical layer rebuilds the as-of-independent ``clin_*`` tables (spells, stays, activity linked to
a person key, code-to-condition map). The features layer computes ``asof_*`` work tables for one date,
which :func:`persist` copies into ``cohort``, ``features``, ``labels`` and ``coverage`` (that date's
rows replaced).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb

from popheath import db
from popheath.clinical import incremental
from popheath.clinical.feature_dictionary import FeatureDictionary
from popheath.config import Settings
from popheath.errors import StageError

log = logging.getLogger(__name__)

CLINICAL_LAYER = incremental.CLINICAL_LAYER
FEATURES_LAYER = "30_features"
INPUT_TABLES = ("stg_apc", "stg_ecds", "stg_opa", "stg_csds", "stg_asc", "person_link", "person")
# Output table -> the work table of the features layer that fills it for one as-of date. ``coverage``
# (which sources hold records for a person, lists/coverage.py) is read by segment and publish.
OUTPUTS = {"cohort": "asof_cohort", "features": "asof_features", "labels": "asof_labels", "coverage": "asof_coverage"}
# The outputs reported as "rows written"; coverage has one row per cohort person (segment reports it).
COUNTED_OUTPUTS = ("cohort", "features", "labels")
WORK_TABLES = ("asof_person_codes", "asof_person_scores", *OUTPUTS.values())
KEY_COLUMNS = ("as_of", "person_key")


def sql_parameters(settings: Settings, as_of: date) -> dict[str, Any]:
    """Named parameters of every SQL file of both layers, from settings."""
    return {
        "as_of": as_of,
        "min_link_probability": float(settings.link.min_link_probability),
        "include_out_of_area": bool(settings.link.include_out_of_area),
        "include_out_of_ics_providers": bool(settings.link.include_out_of_ics_providers),
        "min_age": int(settings.cohort.min_age),
        "frail_hfrs_min": float(settings.cohort.frail_hfrs_min),
        "frail_include_care_home": bool(settings.cohort.frail_include_care_home),
        "frail_include_social_care": bool(settings.cohort.frail_include_social_care),
        "hfrs_lookback_years": int(settings.cohort.hfrs_lookback_years),
        "comorbidity_lookback_years": int(settings.cohort.comorbidity_lookback_years),
        "end_of_life_lookback_months": int(settings.cohort.end_of_life_lookback_months),
    }


def build_clinical(
    con: duckdb.DuckDBPyConnection, settings: Settings
) -> tuple[incremental.ClinicalBuild, list[db.SqlTiming]]:
    """Bring the ``clin_*`` tables up to date from the linked-activity layer (needs the ``ref_*`` tables).

    Only the people the deliveries and link runs since the last build touched are rebuilt, unless a
    full build is due (:mod:`popheath.clinical.incremental`).
    """
    db.run_layer(con, db.LINKED_ACTIVITY_LAYER)
    return incremental.build(con, settings, sql_parameters(settings, settings.as_of))


def population_snapshot(con: duckdb.DuckDBPyConnection) -> date | None:
    """First day of the latest population delivery month: the spine's flags describe that moment.

    None when the delivery is unknown (no ``stg_population``), and the spine is then taken as current.
    """
    if not db.table_exists(con, "stg_population"):
        return None
    row = con.execute("SELECT max(try_strptime(_delivery || '-01', '%Y-%m-%d'))::DATE FROM stg_population").fetchall()
    return row[0][0] if row else None


def build_as_of(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date) -> list[db.SqlTiming]:
    """Compute the ``asof_*`` work tables (cohort, scores, features, labels, coverage) for one as-of date."""
    parameters = sql_parameters(settings, as_of) | {"population_snapshot": population_snapshot(con)}
    return db.run_layer(con, FEATURES_LAYER, parameters)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = $t AND schema_name = 'main' "
        "ORDER BY column_index",
        {"t": table},
    ).fetchall()
    return {name: data_type for name, data_type in rows}


def persist(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, int]:
    """Replace the as-of date's rows of every output table atomically; return row counts.

    A column new to this version of the SQL is added to an existing table (NULL for earlier dates), so
    earlier dates are never dropped by a rerun after a feature is added.
    """
    counts: dict[str, int] = {}
    with db.transaction(con):
        for target, work in OUTPUTS.items():
            wanted = _columns(con, work)
            if not db.table_exists(con, target):
                con.execute(f"CREATE TABLE {target} AS SELECT * FROM {work} LIMIT 0")
            else:
                existing = _columns(con, target)
                for column, data_type in wanted.items():
                    if column not in existing:
                        log.info("%s: adding column %s %s", target, column, data_type)
                        con.execute(f'ALTER TABLE {target} ADD COLUMN "{column}" {data_type}')
            con.execute(f"DELETE FROM {target} WHERE as_of = $as_of", {"as_of": as_of})
            con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {work}")
            row = con.execute(f"SELECT count(*) FROM {target} WHERE as_of = $as_of", {"as_of": as_of}).fetchone()
            counts[target] = int(row[0]) if row else 0
    return counts


def check_dictionary(con: duckdb.DuckDBPyConnection, dictionary: FeatureDictionary) -> None:
    """Every feature column must be described in the feature dictionary, and nothing described be missing."""
    columns = [c for c in _columns(con, OUTPUTS["features"]) if c not in KEY_COLUMNS]
    described = dictionary.features
    missing = [c for c in columns if c not in described]
    extra = [name for name in described if name not in columns]
    if missing or extra:
        name = dictionary.path.name if dictionary.path else "the feature dictionary"
        raise StageError(
            f"{name} does not match sql/{FEATURES_LAYER}: "
            f"undescribed {', '.join(missing) or '-'}; described but not built {', '.join(extra) or '-'}"
        )


def cohort_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, Any]:
    """Cohort sizes and outcome rates at the as-of date (from the persisted tables)."""
    row = con.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE c.is_65plus), count(*) FILTER (WHERE c.is_frail),
               avg(l.acsc_admission_12m) FILTER (WHERE c.is_65plus),
               avg(l.emergency_admission_12m) FILTER (WHERE c.is_65plus),
               avg(l.acsc_admission_12m) FILTER (WHERE c.is_frail),
               avg(l.emergency_admission_12m) FILTER (WHERE c.is_frail),
               avg(l.died_12m) FILTER (WHERE c.is_65plus),
               avg(l.fall_admission_12m) FILTER (WHERE c.is_65plus)
        FROM cohort AS c JOIN labels AS l USING (as_of, person_key)
        WHERE c.as_of = $as_of
        """,
        {"as_of": as_of},
    ).fetchone()
    if row is None:
        return {}

    def pct(value: Any) -> str:
        return "-" if value is None else f"{100 * float(value):.1f}%"

    return {
        "people": int(row[0]),
        "aged 65+": int(row[1]),
        "frail 65+": int(row[2]),
        "ACSC admission 12m (65+ / frail)": f"{pct(row[3])} / {pct(row[5])}",
        "emergency admission 12m (65+ / frail)": f"{pct(row[4])} / {pct(row[6])}",
        "died 12m (65+)": pct(row[7]),
        "fall admission 12m (65+)": pct(row[8]),
    }


def summarise(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    counts: dict[str, int],
    clinical: Sequence[db.SqlTiming],
    as_of_timings: Sequence[db.SqlTiming],
    clinical_build: incremental.ClinicalBuild,
) -> dict[str, Any]:
    """The stage summary: cohort sizes and rates, hospital spells, rows written, seconds per layer and file."""
    summary = cohort_summary(con, as_of)
    summary["clinical tables"] = f"{clinical_build.mode}: {clinical_build.reason}"
    spells = con.execute("SELECT count(*), count(*) FILTER (WHERE is_emergency) FROM clin_spells").fetchone()
    if spells is not None:
        summary["hospital spells (emergency)"] = f"{spells[0]:,} ({spells[1]:,})"
    summary["rows written"] = {table: counts[table] for table in COUNTED_OUTPUTS}
    summary["seconds per SQL layer"] = {
        CLINICAL_LAYER: round(sum(t.seconds for t in clinical), 2),
        FEATURES_LAYER: round(sum(t.seconds for t in as_of_timings), 2),
    }
    summary["seconds per SQL file"] = {
        t.file.removesuffix(".sql"): round(t.seconds, 2) for t in [*clinical, *as_of_timings]
    }
    return summary


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the ``asof_*`` work tables once persisted."""
    for table in WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
