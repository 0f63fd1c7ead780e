"""Write ``segments`` (segment and risk tier per person) and ``pyramid`` (segment x tier counts) for one as-of date."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from popheath import db
from popheath.errors import StageError
from popheath.lists.rules import CompiledRules, RuleSet, compile_rules
from popheath.lists.tiers import ALL_TIERS, tier_parameters, tier_sql

log = logging.getLogger(__name__)


SEGMENTS_DDL = """
CREATE TABLE IF NOT EXISTS segments (
    as_of DATE NOT NULL,
    person_key VARCHAR NOT NULL,
    segment VARCHAR NOT NULL,
    segment_rule VARCHAR NOT NULL,
    segment_evidence VARCHAR,
    tier VARCHAR NOT NULL
)"""
PYRAMID_DDL = """
CREATE TABLE IF NOT EXISTS pyramid (
    as_of DATE NOT NULL,
    pcn_code VARCHAR,
    place VARCHAR,
    segment VARCHAR NOT NULL,
    tier VARCHAR NOT NULL,
    people BIGINT NOT NULL
)"""


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Column names of a table or view in the main schema."""
    rows = con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = $t", {"t": table}).fetchall()
    return {str(row[0]) for row in rows}


def check_rule_columns(con: duckdb.DuckDBPyConnection, rules: RuleSet) -> None:
    """Fail with the rules file, column and table when a rule names a column the inputs lack."""
    for table, columns in rules.columns().items():
        if not columns:
            continue
        available = table_columns(con, table)
        missing = [column for column in columns if column not in available]
        if missing:
            raise StageError(
                f"{rules.source}: rule column(s) {', '.join(f'{table}.{c}' for c in missing)} "
                f"not in table {table} (has: {', '.join(sorted(available))})"
            )


def segments_insert_sql(rules: RuleSet, compiled: CompiledRules, target: str = "segments") -> str:
    """INSERT ... SELECT giving every cohort member at ``$as_of`` a segment and a tier (into ``target``)."""
    needed = rules.columns()
    selected = ["c.as_of", "c.person_key"]
    selected += [f"c.{column} AS cohort__{column}" for column in needed["cohort"]]
    selected += [f"f.{column} AS features__{column}" for column in needed["features"]]
    features_join = (
        "LEFT JOIN features AS f ON f.as_of = c.as_of AND f.person_key = c.person_key" if needed["features"] else ""
    )
    return f"""
INSERT INTO {target} (as_of, person_key, segment, segment_rule, segment_evidence, tier)
WITH scored AS (
    -- Position by risk within the scored population; equal risks share a position (rank()).
    SELECT person_key, rank() OVER (ORDER BY risk DESC) AS position, count(*) OVER () AS scored
    FROM scores
    WHERE as_of = $as_of AND model_name = $model_name AND model_version = $model_version
), i AS (
    SELECT {", ".join(selected)}
    FROM cohort AS c
    {features_join}
    WHERE c.as_of = $as_of
)
SELECT
    i.as_of,
    i.person_key,
    {compiled.segment_sql} AS segment,
    {compiled.rule_sql} AS segment_rule,
    {compiled.evidence_sql} AS segment_evidence,
    {tier_sql("s.position", "s.scored")} AS tier
FROM i
LEFT JOIN scored AS s ON s.person_key = i.person_key
"""


@dataclass(frozen=True)
class SegmentCounts:
    """What one segmentation run wrote."""

    people: int
    scored: int
    by_segment_tier: dict[str, dict[str, int]]


def build_segments(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    rules: RuleSet,
    model: tuple[str, str] | None,
    cutoffs: tuple[float, ...],
) -> SegmentCounts:
    """Replace ``segments`` and ``pyramid`` rows for ``as_of`` in one transaction and return the counts."""
    check_rule_columns(con, rules)
    compiled = compile_rules(rules)
    params: dict[str, Any] = {
        "as_of": as_of,
        "model_name": model[0] if model else None,
        "model_version": model[1] if model else None,
        **tier_parameters(cutoffs),
        **compiled.params,
    }
    con.execute(SEGMENTS_DDL)
    con.execute(PYRAMID_DDL)
    with db.transaction(con):
        con.execute("DELETE FROM segments WHERE as_of = $as_of", {"as_of": as_of})
        con.execute("DELETE FROM pyramid WHERE as_of = $as_of", {"as_of": as_of})
        try:
            db.execute(con, segments_insert_sql(rules, compiled), params)
        except duckdb.Error as error:
            raise StageError(f"segments: {rules.source}: {error}".splitlines()[0]) from error
        db.run_layer(con, "40_marts/pyramid", {"as_of": as_of})
    rows = con.execute(
        "SELECT segment, tier, count(*) FROM segments WHERE as_of = $as_of GROUP BY ALL", {"as_of": as_of}
    ).fetchall()
    by_segment_tier: dict[str, dict[str, int]] = {}
    for segment, tier, people in rows:
        by_segment_tier.setdefault(str(segment), {})[str(tier)] = int(people)
    people = sum(sum(t.values()) for t in by_segment_tier.values())
    scored = sum(n for t in by_segment_tier.values() for tier, n in t.items() if tier != "not_scored")
    log.info("segmented %d people (%d scored) at %s", people, scored, as_of)
    return SegmentCounts(people=people, scored=scored, by_segment_tier=by_segment_tier)


def summarise(
    counts: SegmentCounts, rules: RuleSet, model: tuple[str, str] | None, coverage_rows: int, practice_rows: int
) -> dict[str, object]:
    """The segment stage summary; the pyramid last, one line per segment (highest need first): people per tier."""
    summary: dict[str, object] = {
        "people": counts.people,
        "coverage (people / practice x source rows)": f"{coverage_rows} / {practice_rows}",
        "scored": counts.scored,
        "model": f"{model[0]} {model[1]}" if model else "none",
        "rules": f"{rules.source.name} v{rules.version}",
    }
    for segment in rules.segments:
        tiers = counts.by_segment_tier.get(segment, {})
        summary[f"segment {segment}"] = {tier: tiers.get(tier, 0) for tier in ALL_TIERS}
    return summary
