"""Scoring machinery of ``popheath score``: risk, rank, percentile, reasons and drift for each champion.

Scored population: everyone in ``cohort`` with ``is_65plus`` at the as-of date (registered, alive,
aged 65+, type 1 objections already excluded upstream). Writes ``scores`` (risk, rank, percentile
and the top 3 reasons per person) and ``drift`` (PSI of each feature and of the score against the
training distribution), replacing that date's rows for the model.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from popheath import db
from popheath.clinical.feature_dictionary import FeatureDictionary
from popheath.errors import StageError
from popheath.modelling import data, deployed, drift, explain, registry

SCORES_DDL = """
CREATE TABLE IF NOT EXISTS scores (
    as_of DATE, person_key VARCHAR, model_name VARCHAR, model_version VARCHAR, risk DOUBLE,
    rank BIGINT, percentile DOUBLE, reason_1 VARCHAR, reason_2 VARCHAR, reason_3 VARCHAR
)
"""
DRIFT_DDL = """
CREATE TABLE IF NOT EXISTS drift (
    as_of DATE, model_name VARCHAR, model_version VARCHAR, variable VARCHAR, kind VARCHAR,
    psi DOUBLE, warn BOOLEAN, people BIGINT
)
"""
SCORE_COLUMNS = "as_of, person_key, model_name, model_version, risk, rank, percentile, reason_1, reason_2, reason_3"
DRIFT_COLUMNS = "as_of, model_name, model_version, variable, kind, psi, warn, people"


def check_compatible(model: registry.ModelVersion, features: list[str], dictionary: FeatureDictionary) -> None:
    """Refuse a model trained on other feature definitions or another feature list."""
    trained_version = model.feature_definition_version
    if trained_version != dictionary.version:
        raise StageError(
            f"model {model.name} {model.version} was trained on feature-definition version {trained_version}, "
            f"but the current features are version {dictionary.version} ({dictionary.path}): retrain and promote"
        )
    missing = [name for name in model.features if name not in features]
    extra = [name for name in features if name not in model.features]
    if missing or extra:
        details = "; ".join(
            part
            for part in (
                f"missing from table features: {', '.join(missing)}" if missing else "",
                f"not known to the model: {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise StageError(f"model {model.name} {model.version} feature list does not match table features ({details})")


def rank_scores(person_key: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank 1 = highest risk (ties broken by person_key); percentile = 100 * (1 - (rank - 1) / n)."""
    order = np.lexsort((person_key, -risk))
    rank = np.empty(risk.size, dtype=np.int64)
    rank[order] = np.arange(1, risk.size + 1)
    percentile = 100.0 * (1.0 - (rank - 1) / max(risk.size, 1))
    return rank, percentile


def score_frame(
    model: registry.ModelVersion, frame: data.ModelFrame, dictionary: FeatureDictionary
) -> tuple[pd.DataFrame, np.ndarray]:
    """Risk, rank, percentile and reasons for every person of ``frame`` (columns in model order)."""
    champion = deployed.load(model)
    columns = [frame.feature_names.index(name) for name in model.features]
    x = frame.x[:, columns]
    risk = champion.predict(x)
    indices, _ = explain.top_contributions(champion.contributions(x))
    reasons = explain.render_reasons(indices, x, model.features, dictionary)
    rank, percentile = rank_scores(frame.person_key, risk)
    scores = pd.DataFrame(
        {
            "as_of": frame.as_of,
            "person_key": frame.person_key,
            "model_name": model.name,
            "model_version": model.version,
            "risk": risk,
            "rank": rank,
            "percentile": percentile,
            "reason_1": reasons[0] if len(reasons) > 0 else None,
            "reason_2": reasons[1] if len(reasons) > 1 else None,
            "reason_3": reasons[2] if len(reasons) > 2 else None,
        }
    )
    return scores, x


def drift_frame(
    model: registry.ModelVersion, x: np.ndarray, risk: np.ndarray, as_of: date, psi_warn: float
) -> pd.DataFrame:
    """PSI of each feature and of the score against the training bins stored with the model."""
    reference = model.read_json(registry.DRIFT_FILE)
    rows: list[dict[str, Any]] = []
    for position, name in enumerate(model.features):
        value = drift.psi(drift.Bins.from_dict(reference["features"][name]), x[:, position])
        rows.append({"variable": name, "kind": "feature", "psi": value})
    rows.append({"variable": "risk", "kind": "score", "psi": drift.psi(drift.Bins.from_dict(reference["score"]), risk)})
    table = pd.DataFrame(rows)
    table.insert(0, "model_version", model.version)
    table.insert(0, "model_name", model.name)
    table.insert(0, "as_of", as_of)
    table["warn"] = table["psi"] > psi_warn
    table["people"] = int(risk.size)
    return table


def load_scoring_frame(
    con: duckdb.DuckDBPyConnection, as_of: date, models: list[registry.ModelVersion], dictionary: FeatureDictionary
) -> data.ModelFrame:
    """The as-of date's frame of table ``features``, once every model is checked to be compatible with it."""
    features = data.feature_columns(con)
    for model in models:
        check_compatible(model, features, dictionary)
    return data.load_frame(con, as_of, feature_names=features)


def write_scores(
    con: duckdb.DuckDBPyConnection, as_of: date, model_name: str, scores: pd.DataFrame, drifts: pd.DataFrame
) -> None:
    """Replace the model's ``scores`` and ``drift`` rows for ``as_of`` in one transaction."""
    with db.transaction(con):
        con.execute(SCORES_DDL)
        con.execute(DRIFT_DDL)
        params = {"as_of": as_of, "model_name": model_name}
        con.execute("DELETE FROM scores WHERE as_of = $as_of AND model_name = $model_name", params)
        con.execute("DELETE FROM drift WHERE as_of = $as_of AND model_name = $model_name", params)
        con.register("new_scores", scores)
        con.register("new_drift", drifts)
        con.execute(f"INSERT INTO scores ({SCORE_COLUMNS}) SELECT {SCORE_COLUMNS} FROM new_scores")
        con.execute(f"INSERT INTO drift ({DRIFT_COLUMNS}) SELECT {DRIFT_COLUMNS} FROM new_drift")
        con.unregister("new_scores")
        con.unregister("new_drift")


def drift_warnings(model: registry.ModelVersion, drifts: pd.DataFrame, psi_warn: float) -> list[str]:
    """One warning per feature or score whose PSI exceeds ``psi_warn``."""
    return [
        f"{model.name}: {row.kind} {row.variable} has drifted from training (PSI {row.psi:.3f} > {psi_warn:g})"
        for row in drifts.loc[drifts["warn"]].itertuples(index=False)
    ]


def model_summary(model: registry.ModelVersion, scores: pd.DataFrame, drifts: pd.DataFrame) -> dict[str, Any]:
    """The stage summary lines of one model: version, people scored, mean risk, score PSI."""
    return {
        f"{model.name} version": model.version,
        f"{model.name} scored": len(scores),
        f"{model.name} mean risk": round(float(scores["risk"].mean()), 4),
        f"{model.name} score PSI": round(float(drifts["psi"].iloc[-1]), 4),
    }
