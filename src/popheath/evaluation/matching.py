"""Contacted people against matched people of similar risk who were not contacted, with difference-in-differences.

Observational: the team chose whom to contact, so the comparison can only remove the differences it
matches on (risk score at the list date, age band, segment, PCN or practice) and, through the
before/after difference, stable differences between the groups and regression to the mean (people
picked at a peak of admissions fall back whatever is done). Unmeasured reasons for contacting
someone remain. Intervals are percentile bootstrap intervals over matched pairs.

Design: each contacted person's index date is their first contact (or care plan) on or after the
list date; their matched control takes the same index date. Emergency admissions are counted in the
``h`` months before (pre) and after (post) the index date. The rate ratio is the ratio of ratios
``(post_t / post_c) / (pre_t / pre_c)``; the difference-in-differences is
``mean(post_t - pre_t) - mean(post_c - pre_c)`` in admissions per person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# Counts admissions: in (person_key, index_date) rows, out the same rows plus pre_<h>m and post_<h>m columns.
AdmissionCounter = Callable[[pd.DataFrame, tuple[int, ...]], pd.DataFrame]
STRATA = ("age_band", "segment", "pcn_code")
OBSERVATIONAL_NOTE = (
    "This is an observational comparison, not a trial. Contacted people are compared with people of "
    "similar predicted risk, age band, segment and PCN who were not contacted, and the before/after "
    "difference removes regression to the mean and stable differences between the groups; it cannot "
    "remove reasons for contacting someone that the data do not hold (for example a clinician's "
    "judgement that they would engage). Read the estimates as associations with their uncertainty."
)


@dataclass(frozen=True)
class MatchResult:
    """Matched pairs (case, control, stratum, index date) and how many cases found no control."""

    pairs: pd.DataFrame
    cases: int
    unmatched: int


def match_controls(
    population: pd.DataFrame,
    cases: pd.DataFrame,
    strata: tuple[str, ...] = STRATA,
    caliper: float = 0.05,
    controls_per_case: int = 1,
) -> MatchResult:
    """Nearest neighbour on risk within exact strata, without replacement, within ``caliper``.

    ``population``: one row per eligible person (person_key, risk, strata columns), cases included.
    ``cases``: person_key and index_date of the contacted. Controls are drawn from population rows
    that are not cases. Cases are matched highest risk first (they have the fewest neighbours).
    """
    frame = population.drop_duplicates("person_key").set_index("person_key")
    case_rows = cases.drop_duplicates("person_key").join(frame, on="person_key", how="inner")
    pool = frame[~frame.index.isin(case_rows["person_key"])].reset_index()
    key = list(strata)
    pairs: list[tuple[str, str, date, float, float, int]] = []
    unmatched = 0
    pool_groups = {k: g for k, g in pool.groupby(key, dropna=False, sort=False)} if len(pool) else {}
    for stratum, group in case_rows.sort_values("risk", ascending=False).groupby(key, dropna=False, sort=False):
        candidates = pool_groups.get(stratum)
        if candidates is None or candidates.empty:
            unmatched += len(group)
            continue
        order = np.argsort(candidates["risk"].to_numpy(), kind="stable")
        risks = candidates["risk"].to_numpy()[order]
        tokens = candidates["person_key"].to_numpy()[order]
        used = np.zeros(len(risks), dtype=bool)
        for row in group.sort_values("risk", ascending=False).itertuples():
            found = 0
            for _ in range(controls_per_case):
                best = _nearest_unused(risks, used, float(row.risk), caliper)
                if best is None:
                    break
                used[best] = True
                found += 1
                pairs.append((row.person_key, tokens[best], row.index_date, float(row.risk), float(risks[best]), found))
            if not found:
                unmatched += 1
    out = pd.DataFrame(pairs, columns=["case", "control", "index_date", "case_risk", "control_risk", "slot"])
    return MatchResult(out, cases=len(case_rows), unmatched=unmatched)


def _nearest_unused(risks: np.ndarray, used: np.ndarray, target: float, caliper: float) -> int | None:
    position = int(np.searchsorted(risks, target))
    low, high = position - 1, position
    while low >= 0 and used[low]:
        low -= 1
    while high < len(risks) and used[high]:
        high += 1
    best, distance = None, caliper
    for candidate in (low, high):
        if 0 <= candidate < len(risks) and abs(risks[candidate] - target) <= distance:
            best, distance = candidate, abs(risks[candidate] - target)
    return best


def count_admissions_frame(admissions: pd.DataFrame) -> AdmissionCounter:
    """An :data:`AdmissionCounter` over an in-memory (person_key, admission_date) frame (tests, small data)."""
    by_person = {
        key: np.sort(pd.to_datetime(group["admission_date"]).to_numpy())
        for key, group in admissions.groupby("person_key")
    }

    def count(index: pd.DataFrame, horizons: tuple[int, ...]) -> pd.DataFrame:
        out = index.copy()
        for h in horizons:
            pre, post = [], []
            for person, day in zip(out["person_key"], out["index_date"], strict=True):
                dates = by_person.get(person, np.array([], dtype="datetime64[ns]"))
                start, end = (
                    np.datetime64(pd.Timestamp(day) - pd.DateOffset(months=h)),
                    np.datetime64(pd.Timestamp(day) + pd.DateOffset(months=h)),
                )
                middle = np.datetime64(pd.Timestamp(day))
                pre.append(int(((dates >= start) & (dates < middle)).sum()))
                post.append(int(((dates >= middle) & (dates < end)).sum()))
            out[f"pre_{h}m"], out[f"post_{h}m"] = pre, post
        return out

    return count


def _estimates(t_pre: np.ndarray, t_post: np.ndarray, c_pre: np.ndarray, c_post: np.ndarray) -> tuple[float, ...]:
    with np.errstate(divide="ignore", invalid="ignore"):
        post_ratio = t_post.sum() / c_post.sum() if c_post.sum() else np.nan
        pre_ratio = t_pre.sum() / c_pre.sum() if c_pre.sum() else np.nan
        rate_ratio = post_ratio / pre_ratio if pre_ratio else np.nan
    did = float(np.mean(t_post - t_pre) - np.mean(c_post - c_pre))
    return float(rate_ratio), did, float(post_ratio)


def effect_table(
    pairs: pd.DataFrame,
    counter: AdmissionCounter,
    horizons: tuple[int, ...],
    bootstrap: int = 500,
    seed: int = 1,
    follow_up_end: date | None = None,
) -> pd.DataFrame:
    """Per horizon: pairs, admissions before/after in both groups, DiD and rate ratio with 95% bootstrap CIs.

    A pair counts for horizon ``h`` only when its post window ends by ``follow_up_end`` (complete data).
    """
    rows: list[dict[str, float | int]] = []
    if pairs.empty:
        return pd.DataFrame(rows)
    cases = counter(pairs[["case", "index_date"]].rename(columns={"case": "person_key"}), horizons)
    controls = counter(pairs[["control", "index_date"]].rename(columns={"control": "person_key"}), horizons)
    rng = np.random.default_rng(seed)
    for h in horizons:
        complete = np.ones(len(pairs), dtype=bool)
        if follow_up_end is not None:
            ends = pd.to_datetime(pairs["index_date"]) + pd.DateOffset(months=h)
            complete = (ends <= pd.Timestamp(follow_up_end)).to_numpy()
        if not complete.any():
            continue
        t_pre, t_post = cases[f"pre_{h}m"].to_numpy()[complete], cases[f"post_{h}m"].to_numpy()[complete]
        c_pre, c_post = controls[f"pre_{h}m"].to_numpy()[complete], controls[f"post_{h}m"].to_numpy()[complete]
        rate_ratio, did, post_ratio = _estimates(t_pre, t_post, c_pre, c_post)
        draws = []
        n = len(t_pre)
        for _ in range(bootstrap):
            i = rng.integers(0, n, n)
            draws.append(_estimates(t_pre[i], t_post[i], c_pre[i], c_post[i]))
        boot = np.array(draws, dtype=float)

        def ci(column: int, boot: np.ndarray = boot) -> tuple[float, float]:
            values = boot[:, column][np.isfinite(boot[:, column])]
            return (
                (float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975)))
                if len(values)
                else (np.nan, np.nan)
            )

        rr_low, rr_high = ci(0)
        did_low, did_high = ci(1)
        post_low, post_high = ci(2)
        rows.append(
            {
                "horizon_months": h,
                "pairs": n,
                "contacted_before_per_person": float(t_pre.mean()),
                "contacted_after_per_person": float(t_post.mean()),
                "matched_before_per_person": float(c_pre.mean()),
                "matched_after_per_person": float(c_post.mean()),
                "naive_before_after_change": float(t_post.mean() - t_pre.mean()),
                "difference_in_differences": did,
                "did_lower": did_low,
                "did_upper": did_high,
                "post_only_rate_ratio": post_ratio,
                "post_only_lower": post_low,
                "post_only_upper": post_high,
                "rate_ratio": rate_ratio,
                "rate_ratio_lower": rr_low,
                "rate_ratio_upper": rr_high,
            }
        )
    return pd.DataFrame(rows)


def contact_cases(
    actions: pd.DataFrame, list_date: date, next_list_date: date | None, intervention_actions: tuple[str, ...]
) -> pd.DataFrame:
    """Contacted people of one list: first intervention action from ``list_date`` up to the next list.

    ``actions``: person_token, action, action_date (the feedback store's export). Returns person_key,
    index_date.
    """
    if actions.empty:
        return pd.DataFrame(columns=["person_key", "index_date"])
    days = pd.to_datetime(actions["action_date"]).dt.date
    keep = actions["action"].isin(intervention_actions) & (days >= list_date)
    if next_list_date is not None:
        keep &= days < next_list_date
    chosen = actions[keep].assign(index_date=days[keep])
    first = chosen.groupby("person_token", as_index=False)["index_date"].min()
    return first.rename(columns={"person_token": "person_key"})
