"""One-to-one assignment of scored candidates: plausible candidates, assignment rounds, probabilistic outcomes."""

from __future__ import annotations

import logging

import duckdb

from popheath.linkage.link_tables import first_row, run_step
from popheath.linkage.spec import LinkageSpec

log = logging.getLogger(__name__)


def assign_one_to_one(
    con: duckdb.DuckDBPyConnection, spec: LinkageSpec, no_match_mass: float, match_threshold: float
) -> int:
    """Resolve scored candidates so each record links at most one person and each person at most one record.

    Rounds of 08_link_asc_assignment.sql until one assigns nothing (at most
    ``candidates.assignment_max_rounds``); then ``link_asc_probabilistic`` records every outcome.
    Returns the number of rounds that assigned records.
    """
    run_step(con, "07_link_asc_plausible.sql", {"death_grace_days": spec.candidates.death_grace_days})
    rounds = 0
    for round_number in range(1, spec.candidates.assignment_max_rounds + 1):
        run_step(
            con,
            "08_link_asc_assignment.sql",
            {"no_match_mass": no_match_mass, "match_threshold": match_threshold, "round": round_number},
        )
        assigned = int(
            first_row(con, "SELECT count(*) FROM link_asc_assigned WHERE assignment_round = $r", {"r": round_number})[0]
        )
        if assigned == 0:
            break
        rounds = round_number
        log.info("assignment round %d: %s records linked", round_number, f"{assigned:,}")
    run_step(con, "09_link_asc_probabilistic.sql", {"no_match_mass": no_match_mass, "match_threshold": match_threshold})
    return rounds
