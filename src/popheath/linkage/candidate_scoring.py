"""Score ASC clients without a token against the spine with Splink, into ``link_asc_candidates``."""

from __future__ import annotations

import dataclasses
import logging

import duckdb

from popheath.config import Settings
from popheath.linkage.levels import (
    CLIENT_LEVEL,
    DISCHARGE,
    DISCHARGE_LEVEL,
    discharge_levels,
    known_client_levels,
    measured_m_levels,
)
from popheath.linkage.link_tables import first_row
from popheath.linkage.probabilistic import LINK_COLUMNS, SplinkFit, fit_and_predict, prior_probability
from popheath.linkage.spec import LinkageSpec

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ProbabilisticRun:
    """The Splink step's inputs and result (fit is None when no ASC event needed it)."""

    records: int
    holdout_records: int
    spine_size: int
    match_rate: float
    prior: float
    no_match_mass: float
    fit: SplinkFit | None


def score_asc_clients(con: duckdb.DuckDBPyConnection, settings: Settings, spec: LinkageSpec) -> ProbabilisticRun:
    """Set the prior, measure the fixed levels, fit the model and insert the scored candidates.

    Reads the inputs ``link_tables.build_asc_inputs`` built; the candidates are then resolved one
    to one by ``assignment.assign_one_to_one`` with the returned ``no_match_mass``.
    """
    records, holdout = first_row(
        con, "SELECT count(*) FILTER (WHERE role = 'link'), count(*) FILTER (WHERE is_holdout) FROM link_asc_input"
    )
    spine_size = int(first_row(con, "SELECT count(*) FROM link_spine_input")[0])
    tokened, tokened_in_spine = first_row(
        con,
        """
        SELECT count(*), count(s.unique_id)
        FROM link_asc_clients AS c
        LEFT JOIN link_spine_input AS s ON s.unique_id = c.token
        WHERE c.token_status = 'token'
        """,
    )
    # Prior share of ASC clients registered in the ICS, from clients whose events carry a token
    # (assumes the token is missing independently of registration); the spec's default when none do.
    match_rate = tokened_in_spine / tokened if tokened else spec.candidates.default_match_rate
    no_match_mass = max(1.0 - match_rate, spec.candidates.no_match_mass_floor)
    prior = prior_probability(match_rate, spine_size) if spine_size else 0.0
    fit: SplinkFit | None = None
    # The holdout only measures the model; without events that need it, Splink is not run.
    if records > 0 and spine_size > 0:
        log.info(
            "linking %s ASC events without a token (+%s holdout) to %s spine people with Splink",
            f"{records:,}",
            f"{holdout:,}",
            f"{spine_size:,}",
        )
        client_levels = known_client_levels(con)
        log.info("known-client evidence: m=%.3f u=%.3f", *client_levels[CLIENT_LEVEL])
        measured_m, labelled = measured_m_levels(con, spec)
        log.info("m probabilities measured on %s tokened clients' true pairs", f"{labelled:,}")
        fixed_levels = {"asc_client": client_levels}
        discharge = discharge_levels(con, spec)
        if discharge is not None:
            fixed_levels[DISCHARGE] = discharge
            log.info("discharge-to-care evidence: m=%.3f u=%.4f", *discharge[DISCHARGE_LEVEL])
        columns = ", ".join(LINK_COLUMNS)
        asc_input = con.sql(f"SELECT {columns} FROM link_asc_input WHERE role <> 'train'").to_arrow_table()
        spine_input = con.sql(f"SELECT {columns} FROM link_spine_input").to_arrow_table()
        pairs, fit = fit_and_predict(
            asc_input,
            spine_input,
            spec,
            probability_two_random_records_match=prior,
            seed=settings.seed,
            memory_limit=settings.duckdb.memory_limit,
            threads=settings.duckdb.threads,
            fixed_levels=fixed_levels,
            fixed_m=measured_m,
        )
        del asc_input, spine_input
        con.register("link_pairs_arrow", pairs)
        con.execute("INSERT INTO link_asc_candidates SELECT * FROM link_pairs_arrow")
        con.unregister("link_pairs_arrow")
    return ProbabilisticRun(int(records), int(holdout), spine_size, match_rate, prior, no_match_mass, fit)
