"""Link stage: one person key for every activity record (deterministic on the token, Splink for ASC without one).

ASC events without a token are linked in two steps. First through the local authority's client id
(ASC-CLD ``LA_Person_Unique_Identifier``, canonical ``client_id``, unique within ``la_code``): when
other events of the same client carry exactly one distinct token, the event takes it (method
``client_id``, probability 1.0); when they carry different tokens the event is left unlinked with
status ``conflicting_tokens``. Then clients none of whose events carries a token are linked to the
spine with Splink, one record per client (method ``probabilistic``), and the scored candidates are
assigned one to one: a spine person takes at most one client of an LA, confident links first.

Reads the canonical staging tables and hospital discharges (``stg_apc``), writes ``person_link`` and
``person`` (docs/data_model.md) plus the working tables ``link_asc_events``, ``link_asc_clients``,
``link_asc_input``, ``link_spine_input``, ``link_asc_candidates``, ``link_asc_plausible``,
``link_asc_assigned`` (each assignment and its round), ``link_asc_probabilistic`` (every client
record sent to Splink with its best candidate, outcome and probability) and
``link_asc_event_links`` (every ASC event's key, method,
probability and status: the audit trail of each decision). Each run writes its settings, the
trained Splink model and the link-quality report to ``<paths.outputs>/link/<as_of>/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from popheath import db
from popheath.config import Settings
from popheath.errors import ConfigError, InputError
from popheath.linkage import metrics, report
from popheath.linkage.probabilistic import LINK_COLUMNS, SplinkFit, fit_and_predict, prior_probability
from popheath.linkage.spec import LinkageSpec, load_spec
from popheath.results import StageResult

log = logging.getLogger(__name__)

STAGING_TABLES = ("stg_population", "stg_apc", "stg_ecds", "stg_opa", "stg_csds", "stg_asc")
SOURCES = ("apc", "ecds", "opa", "csds", "asc")
TRUTH_FILE = "asc_links.parquet"


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


def _check_settings(settings: Settings) -> None:
    link = settings.link
    if not 0.5 < link.match_threshold <= 1.0:
        raise ConfigError(
            f"setting link.match_threshold: expected a number above 0.5 and at most 1 "
            f"(ties must never link), got {link.match_threshold}"
        )
    if not 0.0 <= link.min_link_probability <= 1.0:
        raise ConfigError(f"setting link.min_link_probability: expected 0 to 1, got {link.min_link_probability}")


LINKAGE_SQL = "10_staging/linkage"


def _sql(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> None:
    db.run_named(con, LINKAGE_SQL, name, params)


def _row(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """The first row of a query (fetching all rows: DuckDB refuses new work while a result is open)."""
    rows = con.execute(sql, params).fetchall()
    return tuple(rows[0]) if rows else ()


CLIENT_LEVEL = "candidate is a known ASC client"
OTHER_LEVEL = "candidate has no tokened ASC events"
DISCHARGE = "discharge_to_care"
DISCHARGE_LEVEL = "service started at a discharge of the candidate"
NO_DISCHARGE_LEVEL = "no service started at a discharge"


def known_client_levels(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[float, float]]:
    """Measure m and u of "the candidate is a known ASC client" rather than leave them to EM.

    Client status depends on age, so EM (which assumes it is independent of birth year within a
    block) and global random sampling both overstate it. Instead:
    m = share of holdout events whose person is a known client from their *other* events;
    u = share of known clients among spine people of the event's birth year and sex, averaged over
    the events to link (the people a true match competes with share those fields).
    """
    m, u = _row(
        con,
        """
        WITH strata AS (
            SELECT birth_year, sex, avg(CASE WHEN asc_client THEN 1.0 ELSE 0.0 END) AS client_share
            FROM link_spine_input GROUP BY ALL
        )
        SELECT
            (SELECT avg(CASE WHEN s.asc_client THEN 1.0 ELSE 0.0 END)
             FROM link_asc_input AS i JOIN link_spine_input AS s ON s.unique_id = i.holdout_person_id
             WHERE i.is_holdout),
            (SELECT avg(coalesce(t.client_share, 0.0))
             FROM link_asc_input AS i LEFT JOIN strata AS t USING (birth_year, sex)
             WHERE i.role = 'link')
        """,
    )
    m = 0.9 if m is None else float(m)
    u = 0.05 if u is None else float(u)
    m, u = (min(max(value, 0.001), 0.999) for value in (m, u))
    return {CLIENT_LEVEL: (m, u), OTHER_LEVEL: (1.0 - m, 1.0 - u)}


def discharge_levels(con: duckdb.DuckDBPyConnection, spec: LinkageSpec) -> dict[str, tuple[float, float]] | None:
    """Measure m and u of "a service started at a discharge of the candidate" rather than leave u to sampling.

    m = share of tokened clients' true pairs (role 'train', with a service event) where a service
    started on the day of or the day after one of the person's discharges, at least
    ``training.m_probability_floor``. u = for each client record to link, the share of spine people of
    its birth year and sex discharged on one of those days (or the day before), averaged: hospital
    discharges depend on age, so random pairs across all ages would understate u and overstate the
    evidence. Summing over the record's days counts a person discharged twice twice, which can only
    raise u. None (left to Splink) without ``training.labelled_min_records`` labelled pairs or
    without records to link that have a service event.
    """
    pairs, hits = _row(
        con,
        """
        SELECT count(*), count(*) FILTER (WHERE list_has_any(service_starts_l, coalesce(after_discharge_days_r, [])))
        FROM link_labelled_pairs WHERE service_starts_l IS NOT NULL
        """,
    )
    u = _row(
        con,
        """
        WITH strata AS (
            SELECT birth_year, sex, count(*) AS people FROM link_spine_input GROUP BY ALL
        ),
        discharged AS (
            SELECT s.birth_year, s.sex, t.day, count(*) AS people
            FROM link_spine_input AS s, unnest(s.after_discharge_days) AS t(day)
            GROUP BY ALL
        ),
        records AS (
            SELECT i.unique_id, i.birth_year, i.sex, sum(coalesce(d.people, 0)) AS discharged
            FROM link_asc_input AS i, unnest(i.service_starts) AS t(day)
            LEFT JOIN discharged AS d ON d.birth_year = i.birth_year AND d.sex = i.sex AND d.day = t.day
            WHERE i.role = 'link'
            GROUP BY ALL
        )
        SELECT avg(least(r.discharged / s.people, 1.0))
        FROM records AS r JOIN strata AS s USING (birth_year, sex)
        """,
    )[0]
    if pairs < spec.training.labelled_min_records or u is None:
        return None
    m = min(max(hits / pairs, spec.training.m_probability_floor), 0.999)
    u = min(max(float(u), 0.001), 0.999)
    return {DISCHARGE_LEVEL: (m, u), NO_DISCHARGE_LEVEL: (1.0 - m, 1.0 - u)}


def measured_m_levels(con: duckdb.DuckDBPyConnection, spec: LinkageSpec) -> tuple[dict[str, dict[str, float]], int]:
    """The m probabilities of every comparison level, counted on tokened clients' true pairs (role 'train').

    A client whose events carry a token is a labelled pair (client record, spine person): the share
    of those pairs falling in each level is its m probability, with no need for EM, which on a few
    hundred untokened clients and seven comparisons can settle on the wrong class. It assumes clients
    lose their token independently of how well their other fields are recorded. Levels get at least
    ``training.m_probability_floor`` (renormalised). With fewer than ``training.labelled_min_records``
    pairs EM estimates m as before. A comparison never recorded on the ASC side (every pair in its null
    level) gets uniform m either way: it cannot affect a score, and EM cannot estimate it.
    """
    columns = [c for c in LINK_COLUMNS if c != "unique_id"]
    select = ", ".join(f'i.{c} AS "{c}_l", s.{c} AS "{c}_r"' for c in columns)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE link_labelled_pairs AS
        SELECT {select}
        FROM link_asc_input AS i JOIN link_spine_input AS s ON s.unique_id = i.holdout_person_id
        WHERE i.role = 'train'
        """
    )
    pairs = int(_row(con, "SELECT count(*) FROM link_labelled_pairs")[0])
    enough = pairs >= spec.training.labelled_min_records
    result: dict[str, dict[str, float]] = {}
    for comparison in spec.splink_settings["comparisons"]:
        name = comparison["output_column_name"]
        if name in ("asc_client", DISCHARGE):  # measured with their u by known_client_levels, discharge_levels
            continue
        levels = comparison["comparison_levels"]
        cases = " ".join(
            f"WHEN {level['sql_condition']} THEN {index}"
            for index, level in enumerate(levels)
            if level["sql_condition"].strip().upper() != "ELSE"
        )
        counts = dict(
            con.execute(
                f"SELECT CASE {cases} ELSE {len(levels) - 1} END AS level, count(*) FROM link_labelled_pairs GROUP BY 1"
            ).fetchall()
        )
        scored = [i for i, level in enumerate(levels) if not level.get("is_null_level")]
        total = sum(counts.get(i, 0) for i in scored)
        if total == 0:
            # Never recorded on the ASC side: every pair falls in the null level, m cannot matter.
            result[name] = {levels[i]["label_for_charts"]: 1.0 / len(scored) for i in scored}
            continue
        if not enough:
            continue
        raised = {i: max(counts.get(i, 0) / total, spec.training.m_probability_floor) for i in scored}
        norm = sum(raised.values())
        result[name] = {levels[i]["label_for_charts"]: value / norm for i, value in raised.items()}
    return result, pairs


def link_asc_probabilistically(
    con: duckdb.DuckDBPyConnection, settings: Settings, spec: LinkageSpec
) -> ProbabilisticRun:
    """Build the Splink inputs, fit the model, score and resolve candidates into ``link_asc_probabilistic``."""
    _sql(con, "01_link_macros.sql")
    _sql(con, "02_link_asc_events.sql")
    _sql(con, "03_link_asc_clients.sql")
    _sql(
        con,
        "04_link_asc_input.sql",
        {
            "holdout_max_records": spec.candidates.holdout_max_records,
            "holdout_fraction": spec.candidates.holdout_fraction,
            "training_max_records": spec.training.labelled_max_records,
        },
    )
    _sql(con, "05_link_spine_input.sql")
    _sql(con, "06_link_asc_candidates.sql")
    records, holdout = _row(
        con, "SELECT count(*) FILTER (WHERE role = 'link'), count(*) FILTER (WHERE is_holdout) FROM link_asc_input"
    )
    spine_size = int(_row(con, "SELECT count(*) FROM link_spine_input")[0])
    tokened, tokened_in_spine = _row(
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
    assign_one_to_one(con, spec, no_match_mass, settings.link.match_threshold)
    _sql(con, "10_link_asc_event_links.sql")
    return ProbabilisticRun(int(records), int(holdout), spine_size, match_rate, prior, no_match_mass, fit)


def assign_one_to_one(
    con: duckdb.DuckDBPyConnection, spec: LinkageSpec, no_match_mass: float, match_threshold: float
) -> int:
    """Resolve scored candidates so each record links at most one person and each person at most one record.

    Rounds of 08_link_asc_assignment.sql until one assigns nothing (at most
    ``candidates.assignment_max_rounds``); then ``link_asc_probabilistic`` records every outcome.
    Returns the number of rounds that assigned records.
    """
    _sql(con, "07_link_asc_plausible.sql", {"death_grace_days": spec.candidates.death_grace_days})
    rounds = 0
    for round_number in range(1, spec.candidates.assignment_max_rounds + 1):
        _sql(
            con,
            "08_link_asc_assignment.sql",
            {"no_match_mass": no_match_mass, "match_threshold": match_threshold, "round": round_number},
        )
        assigned = int(
            _row(con, "SELECT count(*) FROM link_asc_assigned WHERE assignment_round = $r", {"r": round_number})[0]
        )
        if assigned == 0:
            break
        rounds = round_number
        log.info("assignment round %d: %s records linked", round_number, f"{assigned:,}")
    _sql(con, "09_link_asc_probabilistic.sql", {"no_match_mass": no_match_mass, "match_threshold": match_threshold})
    return rounds


def _evaluation(
    con: duckdb.DuckDBPyConnection, truth_sql: str, params: dict[str, Any], threshold: float
) -> dict[str, Any] | None:
    rows = con.execute(truth_sql, params).fetchall()
    if not rows:
        return None
    best, probability, truth, in_spine = (list(column) for column in zip(*rows, strict=True))
    curve = metrics.accuracy_curve(best, probability, truth, in_spine)
    chosen = metrics.accuracy(best, probability, truth, in_spine, threshold)
    return {"at_threshold": chosen.as_dict(), "curve": [a.as_dict() for a in curve]}


def evaluate_against_truth(
    con: duckdb.DuckDBPyConnection, truth_path: Path, threshold: float, methods: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """Precision/recall/F1 of links for ASC events without a token against ``asc_links.parquet``.

    Every event without a token counts (client-id and probabilistic links alike); ``methods`` narrows
    it to events whose outcome came from those steps: ('client_id',) for events of clients with a
    token elsewhere (including conflicting ones), ('probabilistic',) for clients with none.
    """
    try:
        columns = {
            row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(truth_path)}).fetchall()
        }
    except duckdb.Error as error:
        raise InputError(truth_path, None, "a readable Parquet file", got=str(error).splitlines()[0]) from error
    for needed in ("event_id", "person_id"):
        if needed not in columns:
            raise InputError(truth_path, needed, "a column of that name")
    return _evaluation(
        con,
        """
        WITH truth AS (
            SELECT CAST(event_id AS VARCHAR) AS event_id, any_value(CAST(person_id AS VARCHAR)) AS person_id
            FROM read_parquet($p) GROUP BY 1
        )
        SELECT l.best_person_id, l.match_probability, t.person_id, s.unique_id IS NOT NULL
        FROM link_asc_event_links AS l
        JOIN truth AS t ON t.event_id = l.event_id
        LEFT JOIN link_spine_input AS s ON s.unique_id = t.person_id
        WHERE l.token IS NULL
            AND (CAST($step AS VARCHAR) IS NULL
                 OR (CAST($step AS VARCHAR) = 'client_id' AND l.token_status <> 'no_token')
                 OR (CAST($step AS VARCHAR) = 'probabilistic' AND l.token_status = 'no_token'))
        """,
        {"p": str(truth_path), "step": methods[0] if methods else None},
        threshold,
    )


def evaluate_holdout(con: duckdb.DuckDBPyConnection, threshold: float) -> dict[str, Any] | None:
    """Precision/recall/F1 on tokened ASC clients linked as if none of their events had a token."""
    return _evaluation(
        con,
        """
        SELECT best_person_id, match_probability, holdout_person_id, TRUE
        FROM link_asc_probabilistic WHERE is_holdout
        """,
        {},
        threshold,
    )


def source_rates(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Records, methods, linked share and boundary flags per source from ``person_link``."""
    rows = con.execute(
        """
        SELECT
            source,
            count(*) AS records,
            count(*) FILTER (WHERE method = 'deterministic') AS deterministic,
            count(*) FILTER (WHERE method = 'client_id') AS client_id,
            count(*) FILTER (WHERE method = 'probabilistic') AS probabilistic,
            count(*) FILTER (WHERE method = 'unlinked') AS unlinked,
            count(*) FILTER (WHERE out_of_area) AS out_of_area,
            count(*) FILTER (WHERE out_of_ics_provider) AS out_of_ics_provider
        FROM person_link GROUP BY source
        """
    ).fetchall()
    found = {row[0]: row for row in rows}
    result = []
    for source in SOURCES:
        _, records, det, client, prob, unlinked, ooa, ooics = found.get(source, (source, 0, 0, 0, 0, 0, 0, 0))
        result.append(
            {
                "source": source,
                "records": records,
                "deterministic": det,
                "client_id": client,
                "probabilistic": prob,
                "unlinked": unlinked,
                "linked_percent": 100.0 * (det + client + prob) / records if records else 0.0,
                "out_of_area": ooa,
                "out_of_ics_provider": ooics,
            }
        )
    return result


def exact_ties(con: duckdb.DuckDBPyConnection, death_grace_days: int) -> list[tuple[str, int]]:
    """Untraced client records that two or more residents match on every identifier the record holds.

    Birth year and month, sex and LSOA must be recorded and equal; practice and ethnic category
    must be equal where the record holds them; a resident who died more than ``death_grace_days``
    before the client's latest event is no match (as in the plausibility filter). No comparison of
    these identifiers can tell such residents apart: only other evidence (a service starting at a
    discharge, GP registration, one-to-one assignment) can, so the share of untraced events in these
    records bounds what the quasi-identifiers alone can link. Returns (record, events) pairs.
    """
    rows = con.execute(
        """
        WITH agreeing AS (
            SELECT i.unique_id, i.client_key
            FROM link_asc_input AS i
            JOIN link_spine_input AS s
                ON s.birth_year = i.birth_year AND s.birth_month = i.birth_month
                AND s.sex = i.sex AND s.lsoa_code = i.lsoa_code
            WHERE i.role = 'link'
                AND (i.practice_code IS NULL OR s.practice_code = i.practice_code)
                AND (i.ethnic_category IS NULL OR s.ethnic_category = i.ethnic_category)
                AND (s.date_of_death IS NULL OR s.date_of_death >= i.event_start - CAST($grace AS INTEGER))
            GROUP BY ALL
            HAVING count(*) >= 2
        )
        SELECT a.unique_id, count(e.event_id)
        FROM agreeing AS a JOIN link_asc_events AS e USING (client_key)
        GROUP BY ALL ORDER BY 1
        """,
        {"grace": int(death_grace_days)},
    ).fetchall()
    return [(str(record), int(events)) for record, events in rows]


def _asc_block(
    con: duckdb.DuckDBPyConnection, min_link_probability: float, death_grace_days: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    status = dict(
        con.execute("SELECT link_status, count(*) FROM link_asc_event_links WHERE token IS NULL GROUP BY 1").fetchall()
    )
    clients = dict(
        con.execute(
            "SELECT link_status, count(*) FROM link_asc_probabilistic WHERE NOT is_holdout GROUP BY 1"
        ).fetchall()
    )
    conflicting_clients = int(
        _row(con, "SELECT count(*) FROM link_asc_clients WHERE token_status = 'conflicting_tokens'")[0]
    )
    after_rival = int(
        _row(
            con,
            "SELECT count(*) FROM link_asc_probabilistic AS p JOIN link_asc_assigned AS a USING (unique_id) "
            "WHERE NOT p.is_holdout AND a.assignment_round > 1",
        )[0]
    )
    mean_linked, below_min = _row(
        con,
        """
        SELECT avg(match_probability) FILTER (WHERE method = 'probabilistic'),
               count(*) FILTER (WHERE method = 'probabilistic' AND match_probability < $m)
        FROM link_asc_event_links WHERE token IS NULL
        """,
        {"m": min_link_probability},
    )
    ties = exact_ties(con, death_grace_days)
    edges = report.PROBABILITY_BINS
    bands = con.execute(
        """
        SELECT b.i, count(l.event_id)
        FROM range($n) AS b(i)
        LEFT JOIN link_asc_event_links AS l
            ON l.token IS NULL AND l.token_status = 'no_token'
            AND l.match_probability >= $edges[b.i + 1] AND l.match_probability < $edges[b.i + 2]
        GROUP BY b.i ORDER BY b.i
        """,
        {"n": len(edges) - 1, "edges": list(edges)},
    ).fetchall()
    distribution = [
        {"band": f"{edges[i]:.2f}-{min(edges[i + 1], 1.0):.2f}", "events": int(count)} for i, count in bands
    ]
    block = {
        "records": int(sum(status.values())),
        "status": {k: int(v) for k, v in status.items()},
        "probabilistic_clients": {k: int(v) for k, v in clients.items()},
        "conflicting_token_clients": conflicting_clients,
        "clients_linked_after_rival_assigned": after_rival,
        "exact_ties": {"clients": len(ties), "events": sum(events for _, events in ties)},
        "mean_linked_probability": mean_linked,
        "linked_below_min_link_probability": int(below_min),
    }
    return block, distribution


def _settings_record(settings: Settings, spec: LinkageSpec, as_of: date, prob: ProbabilisticRun) -> dict[str, Any]:
    link = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(settings.link).items()}
    return {
        "as_of": as_of.isoformat(),
        "link": link,
        "seed": settings.seed,
        "model_spec_path": str(spec.path),
        "model_spec": spec.raw,
        "prior": {
            "match_rate": prob.match_rate,
            "probability_two_random_records_match": prob.prior,
            "no_match_mass": prob.no_match_mass,
            "spine_size": prob.spine_size,
        },
    }


def run(settings: Settings, as_of: date) -> StageResult:
    """Link every activity source to one person key and write the link-quality report for ``as_of``."""
    started = time.perf_counter()
    _check_settings(settings)
    spec = load_spec(settings.link.model_spec)
    folder = settings.paths.outputs / "link" / as_of.isoformat()
    con = db.connect(settings)
    try:
        db.require_tables(con, *STAGING_TABLES)
        prob = link_asc_probabilistically(con, settings, spec)
        log.info("writing person_link and person")
        had_links = db.table_exists(con, "person_link")
        if had_links:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE link_previous AS SELECT source, record_id, person_key FROM person_link"
            )
        with db.transaction(con):
            _sql(
                con,
                "11_person_link.sql",
                {
                    "ics_provider_prefixes": list(settings.link.ics_provider_prefixes),
                    "ics_la_codes": list(settings.link.ics_la_codes),
                },
            )
            _sql(con, "12_person.sql")
        # Stability: records present in both runs whose person key changed (NULL <-> key counts too).
        keys_changed = (
            int(
                _row(
                    con,
                    "SELECT count(*) FROM person_link AS n JOIN link_previous AS p USING (source, record_id) "
                    "WHERE n.person_key IS DISTINCT FROM p.person_key",
                )[0]
            )
            if had_links
            else None
        )
        sources = source_rates(con)
        asc_block, distribution = _asc_block(con, settings.link.min_link_probability, spec.candidates.death_grace_days)
        truth_path = settings.paths.truth / TRUTH_FILE
        threshold = settings.link.match_threshold
        truth = evaluate_against_truth(con, truth_path, threshold) if truth_path.exists() else None
        if truth is not None:
            for step in ("client_id", "probabilistic"):
                truth[f"{step}_step"] = evaluate_against_truth(con, truth_path, threshold, (step,))
        holdout = evaluate_holdout(con, settings.link.match_threshold)
        people, out_of_area_people = _row(con, "SELECT count(*), count(*) FILTER (WHERE NOT in_population) FROM person")
    finally:
        con.close()

    warnings: list[str] = []
    fit = prob.fit
    if fit and fit.untrained:
        warnings.append("linkage model levels without trained parameters: " + "; ".join(fit.untrained))
    if fit and fit.skipped_sessions:
        warnings.extend(f"EM session skipped: {text}" for text in fit.skipped_sessions)
    for name, block in (("truth", truth), ("holdout", holdout)):
        chosen = block["at_threshold"] if block else None
        if chosen and chosen["precision"] is not None and chosen["precision"] < 0.99:
            warnings.append(f"probabilistic link precision on {name} is {chosen['precision']:.3f} (< 0.99)")
        if chosen and chosen["recall"] is not None and chosen["recall"] < 0.95:
            warnings.append(f"probabilistic link recall on {name} is {chosen['recall']:.3f} (< 0.95)")
    unlinked = sum(row["unlinked"] for row in sources)
    seconds = time.perf_counter() - started
    quality = {
        "run": {
            "as_of": as_of.isoformat(),
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "spec_version": spec.version,
            "match_threshold": settings.link.match_threshold,
            "min_link_probability": settings.link.min_link_probability,
            "seconds": round(seconds, 1),
        },
        "sources": sources,
        "asc_without_token": asc_block,
        "match_probability_distribution": distribution,
        "model": None
        if fit is None
        else {
            "prior": prob.prior,
            "prior_match_weight": fit.prior_match_weight,
            "match_rate": prob.match_rate,
            "no_match_mass": prob.no_match_mass,
            "spine_size": prob.spine_size,
            "candidate_pairs": fit.candidate_pairs,
            "seconds": {k: round(v, 2) for k, v in fit.seconds.items()},
            "parameters": [dataclasses.asdict(p) for p in fit.parameters],
            "untrained": list(fit.untrained),
            "skipped_em_sessions": list(fit.skipped_sessions),
        },
        "truth": truth,
        "holdout": holdout,
        "people": {"total": int(people), "out_of_area": int(out_of_area_people)},
        "keys_changed_since_last_run": keys_changed,
        "warnings": warnings,
    }
    folder.mkdir(parents=True, exist_ok=True)
    outputs = report.write(quality, fit.parameters if fit else (), folder)
    settings_path = folder / "settings.json"
    settings_path.write_text(json.dumps(_settings_record(settings, spec, as_of, prob), indent=2), encoding="utf-8")
    outputs.append(settings_path)
    if fit is not None:
        model_path = folder / "splink_model.json"
        model_path.write_text(json.dumps(fit.model, indent=2, default=str), encoding="utf-8")
        chart_path = folder / "match_weights.html"
        chart_path.write_text(fit.match_weights_html, encoding="utf-8")
        outputs += [model_path, chart_path]

    summary: dict[str, Any] = {row["source"]: row["records"] for row in sources}
    summary["deterministic"] = sum(row["deterministic"] for row in sources)
    summary["client_id"] = sum(row["client_id"] for row in sources)
    summary["probabilistic"] = sum(row["probabilistic"] for row in sources)
    summary["unlinked"] = unlinked
    summary["asc_without_token"] = asc_block["records"]
    summary["asc_ambiguous"] = asc_block["status"].get("ambiguous", 0)
    summary["asc_conflicting_tokens"] = asc_block["status"].get("conflicting_tokens", 0)
    summary["out_of_area_records"] = sum(row["out_of_area"] for row in sources)
    summary["out_of_ics_provider_records"] = sum(row["out_of_ics_provider"] for row in sources)
    summary["people"] = int(people)
    summary["out_of_area_people"] = int(out_of_area_people)
    for name, block in (("truth", truth), ("holdout", holdout)):
        if block:
            chosen = block["at_threshold"]
            summary[f"{name}_precision"] = _rounded(chosen["precision"])
            summary[f"{name}_recall"] = _rounded(chosen["recall"])
            summary[f"{name}_f1"] = _rounded(chosen["f1"])
    summary["keys_changed_since_last_run"] = "-" if keys_changed is None else keys_changed
    summary["seconds"] = round(seconds, 1)
    log.info("link done in %.1fs: %s unlinked records", seconds, f"{unlinked:,}")
    return StageResult("link", as_of, summary, tuple(outputs), tuple(warnings))


def _rounded(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
