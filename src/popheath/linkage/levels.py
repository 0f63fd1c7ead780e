"""Comparison levels measured in the warehouse, not left to EM: known client, discharge to care, m of the rest."""

from __future__ import annotations

import duckdb

from popheath.linkage.link_tables import first_row
from popheath.linkage.probabilistic import LINK_COLUMNS
from popheath.linkage.spec import LinkageSpec

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
    m, u = first_row(
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
    pairs, hits = first_row(
        con,
        """
        SELECT count(*), count(*) FILTER (WHERE list_has_any(service_starts_l, coalesce(after_discharge_days_r, [])))
        FROM link_labelled_pairs WHERE service_starts_l IS NOT NULL
        """,
    )
    u = first_row(
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
    pairs = int(first_row(con, "SELECT count(*) FROM link_labelled_pairs")[0])
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
