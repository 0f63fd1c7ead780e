"""Champion/challenger gate of ``popheath promote``.

The newest registered version (the challenger) replaces the champion only when its AUROC on the
same test data is not worse than the champion's by more than ``model.promotion_margin``; each
version is judged by the model it deploys (LightGBM or logistic, see :mod:`popheath.modelling.selection`).
The first model registered under a name becomes champion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sklearn.metrics import roc_auc_score

from popheath import db
from popheath.config import Settings
from popheath.errors import StageError
from popheath.modelling import data, deployed, registry


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger is promoted, and why."""

    promote: bool
    challenger_auroc: float
    champion_auroc: float
    margin: float
    reason: str


def gate(challenger_auroc: float, champion_auroc: float, margin: float) -> GateDecision:
    """Promote when ``challenger >= champion - margin`` (both measured on the same test data)."""
    if not math.isfinite(challenger_auroc):
        return GateDecision(False, challenger_auroc, champion_auroc, margin, "challenger AUROC is missing")
    passed = challenger_auroc >= champion_auroc - margin
    reason = (
        f"challenger AUROC {challenger_auroc:.4f} vs champion {champion_auroc:.4f} on the same test data, "
        f"margin {margin:g}: {'passes' if passed else 'fails'} (needs challenger >= champion - margin)"
    )
    return GateDecision(passed, challenger_auroc, champion_auroc, margin, reason)


def _stored_auroc(model: registry.ModelVersion) -> float:
    """The test AUROC of the model a version deploys."""
    stored = model.read_json(registry.METRICS_FILE)
    value = stored["populations"]["65plus"][deployed.deployed_kind(stored)].get("auroc")
    return float(value) if value is not None else math.nan


def _auroc_on(model: registry.ModelVersion, frame: data.ModelFrame, outcome: str) -> float:
    """AUROC of a registered version's deployed model on a test frame."""
    columns = [frame.feature_names.index(name) for name in model.features]
    predicted = deployed.load(model).predict(frame.x[:, columns])
    return float(roc_auc_score(frame.outcomes[outcome], predicted))


def compare(settings: Settings, challenger: registry.ModelVersion, champion: registry.ModelVersion) -> GateDecision:
    """Gate the challenger against the champion on the challenger's test data."""
    margin = settings.model.promotion_margin
    challenger_metrics = challenger.read_json(registry.METRICS_FILE)
    champion_metrics = champion.read_json(registry.METRICS_FILE)
    if challenger_metrics.get("test_fingerprint") == champion_metrics.get("test_fingerprint"):
        return gate(_stored_auroc(challenger), _stored_auroc(champion), margin)
    # Different test data: score both on the challenger's test date from the warehouse.
    test_as_of = date.fromisoformat(str(challenger_metrics["test_as_of"]))
    outcome = str(challenger_metrics["outcome"])
    con = db.connect(settings)
    try:
        db.require_tables(con, "features", "labels", "cohort")
        available = data.feature_columns(con)
        missing = sorted(set(champion.features) - set(available))
        frame = data.load_frame(con, test_as_of, outcomes=[outcome], feature_names=available)
    finally:
        con.close()
    unavailable = sorted(set(challenger.features) - set(available))
    if unavailable:
        raise StageError(
            f"challenger {challenger.name} {challenger.version} needs features not in table features: "
            f"{', '.join(unavailable)}"
        )
    if missing:
        return GateDecision(
            True,
            math.nan,
            math.nan,
            margin,
            f"champion {champion.version} needs features no longer produced ({', '.join(missing)}) and cannot be "
            "scored any more; challenger promoted",
        )
    return gate(_auroc_on(challenger, frame, outcome), _auroc_on(champion, frame, outcome), margin)


def promote(settings: Settings, name: str, version: str | None = None) -> tuple[str, dict[str, Any]]:
    """Gate one model name; returns a one-line outcome and details."""
    root = settings.paths.models
    candidates = registry.versions(root, name)
    if not candidates:
        raise StageError(f"{root / name}: no registered versions: run `popheath train` first")
    challenger = registry.load(root, name, version or candidates[-1])
    current = registry.champion(root, name)
    if current is None:
        registry.set_champion(root, name, challenger.version)
        return f"{challenger.version} is the first champion", {"promoted": True}
    if current == challenger.version:
        return f"{challenger.version} is already champion", {"promoted": False}
    decision = compare(settings, challenger, registry.load(root, name, current))
    if decision.promote:
        registry.set_champion(root, name, challenger.version)
        return f"{challenger.version} replaces {current}: {decision.reason}", {"promoted": True}
    return f"{challenger.version} refused, {current} stays champion: {decision.reason}", {"promoted": False}
