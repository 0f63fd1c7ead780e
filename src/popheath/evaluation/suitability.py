"""Who can be helped: a small secondary model of which flagged people coordinators judge suitable.

Optional and off by default (settings ``lists.suitability_model``). Once the PCNs have judged at least
``lists.suitability_min_feedback`` people (suitable: contacted or care plan in place; not suitable:
not suitable or declined; other actions are not a judgement), a logistic regression on a few features
(predicted risk, age, frailty score, care home, long-term social care) estimates P(suitable) for each
listed person. The list then carries both orders: by risk (``rank``) and by risk x P(suitable)
(``suitability_rank``), and the run reports how much the two top-N sets overlap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from popheath.config import Settings
from popheath.lists.feedback import SUITABLE_ACTIONS, UNSUITABLE_ACTIONS

log = logging.getLogger(__name__)

FEATURES = ("risk", "age", "hfrs", "care_home", "social_care_long_term")
CARD_TEXT = """## Who can be helped (optional secondary ordering)

Risk lists rank people by how likely they are to be admitted, not by how likely a team can help them.
When enabled (`lists.suitability_model = true`) and enough coordinator feedback exists
(`lists.suitability_min_feedback` people judged), a logistic regression on predicted risk, age, frailty
score (HFRS), care-home residence and long-term social care learns which listed people coordinators
judged suitable (contacted or care plan in place) rather than not (not suitable or declined). Each list
row then shows `p_suitable` and `suitability_rank`, the position when the PCN's list is ordered by
risk x P(suitable); `rank` (by risk alone) is unchanged. It learns the teams' past judgements, including
their habits and biases, not who would benefit: it is a prompt for review, not a replacement for the
risk order, and its top-N overlap with the risk order is reported on every run.
"""


@dataclass(frozen=True)
class SuitabilityFit:
    """The fitted model (None when there was not enough feedback) and what it was fitted on."""

    model: Pipeline | None
    judged: int
    suitable: int
    reason: str


def judgements(actions: pd.DataFrame) -> pd.DataFrame:
    """Latest judgement per person (pcn_code, person_token, suitable 0/1) from the feedback export."""
    judged = actions[actions["action"].isin((*SUITABLE_ACTIONS, *UNSUITABLE_ACTIONS))]
    if judged.empty:
        return pd.DataFrame(columns=["pcn_code", "person_token", "suitable"])
    last = judged.sort_values(["action_date", "action_id"]).groupby(["pcn_code", "person_token"]).tail(1)
    return last.assign(suitable=last["action"].isin(SUITABLE_ACTIONS).astype(int))[
        ["pcn_code", "person_token", "suitable"]
    ]


def fit_suitability(train: pd.DataFrame, min_judged: int) -> SuitabilityFit:
    """Fit on rows with the FEATURES columns and ``suitable``; refuse with a reason below ``min_judged``."""
    judged, suitable = len(train), int(train["suitable"].sum()) if len(train) else 0
    if judged < min_judged:
        return SuitabilityFit(None, judged, suitable, f"not enough feedback: {judged} people judged, need {min_judged}")
    if suitable in (0, judged):
        return SuitabilityFit(None, judged, suitable, "every judgement is the same: nothing to learn")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[list(FEATURES)].astype(float).fillna(0.0), train["suitable"].astype(int))
    return SuitabilityFit(model, judged, suitable, f"fitted on {judged} judged people ({suitable} suitable)")


def add_order(lists: pd.DataFrame, features: pd.DataFrame, fit: SuitabilityFit) -> pd.DataFrame:
    """The list rows with ``p_suitable`` and ``suitability_rank`` (by risk x P(suitable) within each PCN)."""
    out = lists.copy()
    if fit.model is None or out.empty:
        out["p_suitable"], out["suitability_rank"] = np.nan, pd.NA
        return out
    merged = out[["person_token"]].merge(features, how="left", left_on="person_token", right_on="person_key")
    x = merged.reindex(columns=list(FEATURES)).astype(float).fillna(0.0)
    x["risk"] = out["risk"].astype(float).to_numpy()
    out["p_suitable"] = fit.model.predict_proba(x)[:, 1]
    score = out["risk"].astype(float) * out["p_suitable"]
    if "in_hospital_now" in out:  # held off the call list: no call position in either order
        score = score.where(out["in_hospital_now"] != "Y")
    out["suitability_rank"] = score.groupby(out["pcn_code"]).rank(ascending=False, method="first").astype("Int64")
    return out


def top_n_overlap(lists: pd.DataFrame, n: int) -> pd.DataFrame:
    """Per PCN: how many of the top ``n`` by risk are also in the top ``n`` by risk x P(suitable).

    People in hospital now are held off the call list (no ``list_rank``), so neither order counts them.
    """
    rows = []
    callable_rows = lists[lists["in_hospital_now"] != "Y"] if "in_hospital_now" in lists else lists
    for pcn, part in callable_rows.groupby("pcn_code"):
        by_risk = set(part.nsmallest(n, "list_rank")["person_token"])
        by_both = set(part.nsmallest(n, "suitability_rank")["person_token"])
        size = min(n, len(part))
        rows.append({"pcn_code": pcn, "top_n": size, "in_both": len(by_risk & by_both)})
    return pd.DataFrame(rows)


def _features(con: duckdb.DuckDBPyConnection, as_of: date, tokens: list[str]) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(
        """
        SELECT c.person_key, c.age, c.hfrs, CAST(c.care_home AS DOUBLE) AS care_home,
               CAST(c.social_care_long_term AS DOUBLE) AS social_care_long_term, s.risk
        FROM cohort AS c
        LEFT JOIN (SELECT person_key, max(risk) AS risk FROM scores WHERE as_of = $as_of GROUP BY person_key) AS s
            USING (person_key)
        WHERE c.as_of = $as_of AND list_contains($tokens, c.person_key)
        """,
        {"as_of": as_of, "tokens": tokens},
    ).df()
    return frame


def order_lists(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date, lists: pd.DataFrame, actions: pd.DataFrame
) -> tuple[pd.DataFrame, str]:
    """Fit on the feedback so far and add the second order to the list rows; returns rows and a one-line note."""
    judged = judgements(actions)
    tokens = sorted(set(judged["person_token"]) | set(lists["person_token"].astype(str)))
    features = _features(con, as_of, tokens)
    train = judged.merge(features, how="inner", left_on="person_token", right_on="person_key")
    fit = fit_suitability(train, settings.lists.suitability_min_feedback)
    out = add_order(lists, features, fit)
    if fit.model is None:
        return out, fit.reason
    overlap = top_n_overlap(out, min(20, settings.lists.capacity_per_pcn))
    share = overlap["in_both"].sum() / max(overlap["top_n"].sum(), 1)
    return out, f"{fit.reason}; top-20 overlap of the two orders {100 * share:.0f}%"
