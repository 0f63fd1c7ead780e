"""Risk tiers by rank in the scored population, and the model whose scores rank the lists.

Tiers (DESIGN.md section 6): very high = top 0.5%, high = 0.5-5%, moderate = 5-20%, low = the rest;
people without a score get ``not_scored``. A person at position ``r`` of ``n`` (``r`` = 1 for the
highest risk) is in a tier whose upper bound ``f`` satisfies ``r <= f * n``: the top 0.5% of 1,000
people is exactly 5 people, and of 100 people nobody (0.5 of a person rounds down). People with
equal risk share a position (SQL ``rank()``), so ties never split across tiers.
"""

from __future__ import annotations

from datetime import date

import duckdb

from popheath.errors import ConfigError, StageError

TIERS: tuple[str, ...] = ("very_high", "high", "moderate", "low")
NOT_SCORED = "not_scored"
ALL_TIERS: tuple[str, ...] = (*TIERS, NOT_SCORED)
TIER_LABELS = {
    "very_high": "Very high",
    "high": "High",
    "moderate": "Moderate",
    "low": "Low",
    NOT_SCORED: "Not scored",
}
# Tolerance for floating-point products such as 0.07 * 100 = 7.000000000000001.
_EPSILON = 1e-9


def check_cutoffs(cutoffs: tuple[float, ...]) -> tuple[float, float, float]:
    """Validate the three tier upper bounds (fractions of the scored population, increasing)."""
    if len(cutoffs) != 3:
        raise ConfigError(f"setting lists.tier_cutoffs: expected 3 fractions, got {len(cutoffs)}")
    very_high, high, moderate = (float(value) for value in cutoffs)
    if not 0 <= very_high <= high <= moderate <= 1:
        raise ConfigError(f"setting lists.tier_cutoffs: expected 0 <= a <= b <= c <= 1, got {cutoffs}")
    return very_high, high, moderate


def tier_for_position(position: int, scored: int, cutoffs: tuple[float, ...] = (0.005, 0.05, 0.20)) -> str:
    """Tier of the person at ``position`` (1 = highest risk) among ``scored`` people (reference version of the SQL)."""
    very_high, high, moderate = check_cutoffs(cutoffs)
    for bound, tier in ((very_high, "very_high"), (high, "high"), (moderate, "moderate")):
        if position <= bound * scored + _EPSILON:
            return tier
    return "low"


def tier_sql(position: str, scored: str) -> str:
    """SQL CASE giving the tier from a position and population-size expression; bounds are ``$tier_*`` parameters."""
    return (
        f"CASE WHEN {position} IS NULL THEN '{NOT_SCORED}' "
        f"WHEN {position} <= $tier_very_high * {scored} + {_EPSILON} THEN 'very_high' "
        f"WHEN {position} <= $tier_high * {scored} + {_EPSILON} THEN 'high' "
        f"WHEN {position} <= $tier_moderate * {scored} + {_EPSILON} THEN 'moderate' "
        "ELSE 'low' END"
    )


def tier_parameters(cutoffs: tuple[float, ...]) -> dict[str, float]:
    """Named SQL parameters for :func:`tier_sql`."""
    very_high, high, moderate = check_cutoffs(cutoffs)
    return {"tier_very_high": very_high, "tier_high": high, "tier_moderate": moderate}


def tier_order(tier: str) -> int:
    """1 for very high ... 5 for not scored; a smaller number is a higher tier."""
    return ALL_TIERS.index(tier) + 1


def choose_model(con: duckdb.DuckDBPyConnection, as_of: date, configured: str) -> tuple[str, str] | None:
    """The (model_name, model_version) whose scores rank people at ``as_of``; None when nothing is scored.

    With ``configured`` empty: the only model scored that day, or the one whose name contains
    "acsc" (the primary outcome: avoidable admission). Several versions of one model on one date
    is an error, because scoring replaces a date's rows.
    """
    rows = con.execute(
        "SELECT model_name, model_version, count(*) FROM scores WHERE as_of = $as_of GROUP BY ALL ORDER BY ALL",
        {"as_of": as_of},
    ).fetchall()
    if not rows:
        if configured:
            raise StageError(f"scores: no rows for model {configured!r} at {as_of}: run popheath score first")
        return None
    names = sorted({str(row[0]) for row in rows})
    if configured:
        chosen = configured
        if chosen not in names:
            raise StageError(f"scores: model {chosen!r} not scored at {as_of} (scored: {', '.join(names)})")
    elif len(names) == 1:
        chosen = names[0]
    else:
        acsc = [name for name in names if "acsc" in name.lower()]
        if len(acsc) != 1:
            raise StageError(f"scores: several models scored at {as_of} ({', '.join(names)}): set [lists] model_name")
        chosen = acsc[0]
    versions = [str(row[1]) for row in rows if row[0] == chosen]
    if len(versions) != 1:
        raise StageError(f"scores: model {chosen!r} has several versions at {as_of}: {', '.join(versions)}")
    return chosen, versions[0]
