"""Rule-change diff: who would move between segments under a proposed rules file, and by which rule.

Both rule sets are applied to the same cohort and features at the as-of date in temporary tables
(nothing in the warehouse changes); the report counts people per (current segment -> proposed
segment, proposed rule) and writes Markdown and CSV to ``<paths.outputs>/segments/``.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from popheath import db
from popheath.config import Settings
from popheath.errors import StageError
from popheath.lists.rules import RuleSet, compile_rules, load_rules
from popheath.lists.segmentation import SEGMENTS_DDL, check_rule_columns, segments_insert_sql
from popheath.lists.tiers import choose_model, tier_parameters
from popheath.results import StageResult

log = logging.getLogger(__name__)

MOVE_COLUMNS = ["current_segment", "proposed_segment", "people", "current_rule", "proposed_rule", "example_evidence"]


def apply_rules(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    rules: RuleSet,
    table: str,
    model: tuple[str, str] | None,
    cutoffs: tuple[float, ...],
) -> None:
    """Fill temporary table ``table`` with every cohort member's segment under ``rules``."""
    check_rule_columns(con, rules)
    compiled = compile_rules(rules)
    con.execute(SEGMENTS_DDL.replace("CREATE TABLE IF NOT EXISTS segments", f"CREATE OR REPLACE TEMP TABLE {table}"))
    params: dict[str, Any] = {
        "as_of": as_of,
        "model_name": model[0] if model else None,
        "model_version": model[1] if model else None,
        **tier_parameters(cutoffs),
        **compiled.params,
    }
    try:
        db.execute(con, segments_insert_sql(rules, compiled, target=table), params)
    except duckdb.Error as error:
        raise StageError(f"segments: {rules.source}: {error}".splitlines()[0]) from error


def segment_moves(con: duckdb.DuckDBPyConnection, current: str, proposed: str) -> pd.DataFrame:
    """People per (current -> proposed segment, current rule, proposed rule), movers first, largest first."""
    frame: pd.DataFrame = con.execute(
        f"""
        SELECT * FROM (
            SELECT c.segment AS current_segment, p.segment AS proposed_segment, count(*) AS people,
                   regexp_replace(c.segment_rule, ' \\(rules [^)]*\\)', '') AS current_rule,
                   regexp_replace(p.segment_rule, ' \\(rules [^)]*\\)', '') AS proposed_rule,
                   min(p.segment_evidence) AS example_evidence
            FROM {current} AS c
            JOIN {proposed} AS p ON p.person_key = c.person_key
            GROUP BY 1, 2, 4, 5
        )
        ORDER BY current_segment = proposed_segment, people DESC, current_segment, proposed_segment
        """
    ).df()
    return frame[MOVE_COLUMNS]


def diff_markdown(moves: pd.DataFrame, current: RuleSet, proposed: RuleSet, as_of: date) -> str:
    """The Markdown report: totals, then one line per movement with the rule that decided it."""
    total = int(moves["people"].sum()) if len(moves) else 0
    moved = moves[moves["current_segment"] != moves["proposed_segment"]]
    movers = int(moved["people"].sum()) if len(moved) else 0
    lines = [
        f"# Segment rule change at {as_of}",
        "",
        f"Current rules: `{current.source}` (version {current.version}); proposed: `{proposed.source}` "
        f"(version {proposed.version}).",
        "",
        f"{movers:,} of {total:,} people ({(100 * movers / total) if total else 0:.1f}%) would change segment.",
        "",
        "| from | to | people | rule now | rule proposed | example evidence |",
        "|---|---|---:|---|---|---|",
    ]
    for row in moved.to_dict("records"):
        lines.append(
            f"| {row['current_segment']} | {row['proposed_segment']} | {row['people']:,} | {row['current_rule']} | "
            f"{row['proposed_rule']} | {row['example_evidence'] or ''} |"
        )
    if moved.empty:
        lines.append("| - | - | 0 | nobody moves | | |")
    lines += ["", "## Segment sizes", "", "| segment | now | proposed | change |", "|---|---:|---:|---:|"]
    now = moves.groupby("current_segment")["people"].sum()
    then = moves.groupby("proposed_segment")["people"].sum()
    for segment in dict.fromkeys([*current.segments, *proposed.segments]):
        a, b = int(now.get(segment, 0)), int(then.get(segment, 0))
        lines.append(f"| {segment} | {a:,} | {b:,} | {b - a:+,} |")
    return "\n".join(lines) + "\n"


def run_diff(settings: Settings, as_of: date, proposed_path: Path) -> StageResult:
    """Compare the configured rules with ``proposed_path`` at ``as_of``; write the report; change nothing."""
    started = time.perf_counter()
    current_rules = load_rules(settings.lists.segment_rules)
    proposed_rules = load_rules(proposed_path)
    con = db.connect(settings, read_only=True)
    try:
        db.require_tables(con, "cohort", "features")
        model = choose_model(con, as_of, settings.lists.model_name) if db.table_exists(con, "scores") else None
        apply_rules(con, as_of, current_rules, "segments_current", model, settings.lists.tier_cutoffs)
        apply_rules(con, as_of, proposed_rules, "segments_proposed", model, settings.lists.tier_cutoffs)
        moves = segment_moves(con, "segments_current", "segments_proposed")
    finally:
        con.close()
    folder = settings.paths.outputs / "segments"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"rule_diff_{as_of.isoformat()}_{re.sub(r'[^A-Za-z0-9_.-]', '_', proposed_path.stem)}"
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    moves.to_csv(csv_path, index=False)
    md_path.write_text(diff_markdown(moves, current_rules, proposed_rules, as_of), encoding="utf-8")
    moved = moves[moves["current_segment"] != moves["proposed_segment"]]
    summary: dict[str, object] = {
        "people": int(moves["people"].sum()) if len(moves) else 0,
        "would move": int(moved["people"].sum()) if len(moved) else 0,
        "largest moves": {
            f"{r['current_segment']} -> {r['proposed_segment']}": int(r["people"])
            for r in moved.head(5).to_dict("records")
        },
        "report": str(md_path),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return StageResult("segment", as_of, summary=summary, outputs=(md_path, csv_path))
