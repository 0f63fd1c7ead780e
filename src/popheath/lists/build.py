"""Build one release's lists in DuckDB (temp tables) from scores, segments, cohort, person and clinical activity.

Set-based throughout: only the listed rows (PCNs x capacity, plus the people in hospital now held
off the call list) and the left-the-list rows come back to Python, never the scored population.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from popheath import db
from popheath.errors import StageError
from popheath.lists import code_descriptions
from popheath.lists.row_rules import RowRules, load_row_rules

log = logging.getLogger(__name__)

LIST_SQL = "40_marts/lists"
# Columns of the previous release carried into this one (from its list.parquet).
PREVIOUS_COLUMNS = (
    "CAST(pcn_code AS VARCHAR) AS pcn_code, CAST(person_token AS VARCHAR) AS person_token, "
    "CAST(practice_code AS VARCHAR) AS practice_code, CAST(list_rank AS BIGINT) AS list_rank, "
    "CAST(tier AS VARCHAR) AS tier, CAST(on_list_since AS DATE) AS on_list_since"
)
EMPTY_PREVIOUS = """
CREATE OR REPLACE TEMP TABLE list_previous (
    pcn_code VARCHAR, person_token VARCHAR, practice_code VARCHAR,
    list_rank BIGINT, tier VARCHAR, on_list_since DATE
)"""


@dataclass(frozen=True)
class Population:
    """Row accounting: every scored person is either eligible for a list or excluded for a reason."""

    scored: int
    eligible: int
    excluded: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ListBuild:
    """One release's content: lists, left-the-list rows, expected rows per PCN and the accounting.

    ``expected_rows`` counts every listed row of a PCN; ``expected_held`` those held off the call list
    (in hospital now), so the call list of a PCN is the difference and never exceeds the capacity.
    """

    lists: pd.DataFrame
    left: pd.DataFrame
    expected_rows: dict[str, int]
    candidates: int
    population: Population
    expected_held: dict[str, int] = field(default_factory=dict)


def load_previous(con: duckdb.DuckDBPyConnection, previous_list: Path | None) -> None:
    """Create temp table ``list_previous`` from the previous release's ``list.parquet`` (empty if none)."""
    if previous_list is None:
        con.execute(EMPTY_PREVIOUS)
        return
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE list_previous AS SELECT {PREVIOUS_COLUMNS} FROM read_parquet($path)",
            {"path": str(previous_list)},
        )
    except duckdb.Error as error:
        raise StageError(f"{previous_list}: cannot read the previous release: {error}".splitlines()[0]) from error


def population_accounting(con: duckdb.DuckDBPyConnection, as_of: date, model: tuple[str, str]) -> Population:
    """Classify every scored person once (eligible or an exclusion reason), independently of the list SQL.

    The audit step checks that ``eligible`` here equals the rows of ``list_candidates``: a join that
    duplicated or dropped people would break the equality.
    """
    rows = con.execute(
        """
        SELECT
            CASE
                WHEN coalesce(lower(CAST(p.type1_opt_out AS VARCHAR)) IN ('true', 't', 'y', 'yes', '1'), false)
                    THEN 'type1_objection'
                WHEN p.date_of_death IS NOT NULL AND p.date_of_death <= $as_of THEN 'died'
                WHEN NOT EXISTS (
                    SELECT 1 FROM cohort AS c WHERE c.as_of = s.as_of AND c.person_key = s.person_key
                ) THEN 'not_in_cohort'
                WHEN NOT EXISTS (
                    SELECT 1 FROM cohort AS c
                    WHERE c.as_of = s.as_of AND c.person_key = s.person_key AND c.pcn_code IS NOT NULL
                ) THEN 'no_pcn'
                ELSE 'eligible'
            END AS status,
            count(*) AS people
        FROM scores AS s
        LEFT JOIN (SELECT DISTINCT ON (person_key) * FROM person) AS p ON p.person_key = s.person_key
        WHERE s.as_of = $as_of AND s.model_name = $model_name AND s.model_version = $model_version
        GROUP BY status
        """,
        {"as_of": as_of, "model_name": model[0], "model_version": model[1]},
    ).fetchall()
    counts = {str(status): int(people) for status, people in rows}
    excluded = {reason: counts.get(reason, 0) for reason in ("type1_objection", "died", "not_in_cohort", "no_pcn")}
    return Population(scored=sum(counts.values()), eligible=counts.get("eligible", 0), excluded=excluded)


def expected_rows(con: duckdb.DuckDBPyConnection, capacity: int) -> tuple[dict[str, int], dict[str, int]]:
    """Rows (all, held) each PCN's list should have, counted from the candidates, not from the list SQL.

    A person in hospital now is held on the list when fewer than ``capacity`` people to call rank
    above them; people to call are the first ``capacity`` not in hospital. Said differently from
    ``03_list_ranked.sql`` on purpose: the audit checks the two agree.
    """
    rows = con.execute(
        """
        WITH c AS (
            SELECT
                c.pcn_code,
                h.person_key IS NOT NULL AS in_hospital,
                coalesce(sum(CASE WHEN h.person_key IS NULL THEN 1 ELSE 0 END) OVER (
                    PARTITION BY c.pcn_code ORDER BY c.risk DESC, c.person_key ASC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                ), 0) AS to_call_above
            FROM list_candidates AS c
            LEFT JOIN list_in_hospital AS h ON h.person_key = c.person_key
        )
        SELECT
            pcn_code,
            least(count(*) FILTER (WHERE NOT in_hospital), $capacity) AS to_call,
            count(*) FILTER (WHERE in_hospital AND to_call_above < $capacity) AS held
        FROM c
        GROUP BY pcn_code
        """,
        {"capacity": capacity},
    ).fetchall()
    return {str(p): int(call + held) for p, call, held in rows}, {str(p): int(held) for p, _c, held in rows}


def build_lists(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    model: tuple[str, str],
    capacity: int,
    previous_list: Path | None,
    row_rules: RowRules | None = None,
) -> ListBuild:
    """Run the list SQL and return the rows to publish plus what the audit step should expect.

    ``row_rules``: the in-hospital, already-managed and impactability parameters (default: the
    shipped ``lists/row_rules.yaml``).
    """
    row_rules = row_rules or load_row_rules()
    if capacity < 1:
        raise StageError(f"setting lists.capacity_per_pcn: expected a positive number, got {capacity}")
    load_previous(con, previous_list)
    code_descriptions.register(con)
    params = {
        "as_of": as_of,
        "model_name": model[0],
        "model_version": model[1],
        "capacity": capacity,
        **row_rules.sql_params(),
    }
    db.run_layer(con, LIST_SQL, params)
    expected, held = expected_rows(con, capacity)
    # People in hospital now first (by risk), then the call list in call order.
    lists = con.execute("SELECT * FROM list_current ORDER BY pcn_code, list_rank NULLS FIRST, risk_rank").df()
    left = con.execute("SELECT * FROM list_left ORDER BY pcn_code, reason, previous_rank").df()
    candidates_row = con.execute("SELECT count(*) FROM list_candidates").fetchone()
    candidates = int(candidates_row[0]) if candidates_row else 0
    population = population_accounting(con, as_of, model)
    log.info(
        "lists: %d listed (%d in hospital now, held off the call list) in %d PCNs, %d left, %d of %d scored eligible",
        len(lists),
        sum(held.values()),
        len(expected),
        len(left),
        population.eligible,
        population.scored,
    )
    return ListBuild(
        lists=lists,
        left=left,
        expected_rows=expected,
        candidates=candidates,
        population=population,
        expected_held=held,
    )
