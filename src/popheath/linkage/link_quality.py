"""Link quality: rates per source, the ASC outcomes, exact ties, accuracy against truth and holdout, the summary."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from popheath.config import Settings
from popheath.errors import InputError
from popheath.linkage import accuracy, link_groups
from popheath.linkage.candidate_scoring import ProbabilisticRun
from popheath.linkage.link_tables import first_row
from popheath.linkage.probabilistic import SplinkFit
from popheath.linkage.quality_report import PROBABILITY_BINS
from popheath.linkage.spec import LinkageSpec

SOURCES = ("apc", "ecds", "opa", "csds", "asc")
TRUTH_FILE = "asc_links.parquet"
# Groups with fewer linkable untraced events than this get no accuracy warning (too noisy to judge).
GROUP_WARNING_MIN_LINKABLE = 50


def _evaluation(
    con: duckdb.DuckDBPyConnection, truth_sql: str, params: dict[str, Any], threshold: float
) -> dict[str, Any] | None:
    rows = con.execute(truth_sql, params).fetchall()
    if not rows:
        return None
    best, probability, truth, in_spine = (list(column) for column in zip(*rows, strict=True))
    curve = accuracy.accuracy_curve(best, probability, truth, in_spine)
    chosen = accuracy.accuracy(best, probability, truth, in_spine, threshold)
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
    for needed in ("la_code", "event_id", "person_id"):
        if needed not in columns:
            raise InputError(truth_path, needed, "a column of that name")
    return _evaluation(
        con,
        """
        WITH truth AS (
            SELECT asc_record_id(la_code, event_id) AS record_id, any_value(CAST(person_id AS VARCHAR)) AS person_id
            FROM read_parquet($p) GROUP BY 1
        )
        SELECT l.best_person_id, l.match_probability, t.person_id, s.unique_id IS NOT NULL
        FROM link_asc_event_links AS l
        JOIN truth AS t ON t.record_id = l.record_id
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
        SELECT a.unique_id, count(e.record_id)
        FROM agreeing AS a JOIN link_asc_events AS e USING (client_key)
        GROUP BY ALL ORDER BY 1
        """,
        {"grace": int(death_grace_days)},
    ).fetchall()
    return [(str(record), int(events)) for record, events in rows]


def asc_block(
    con: duckdb.DuckDBPyConnection, min_link_probability: float, ties: list[tuple[str, int]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Outcomes of ASC events without a token (the report's block) and their match probability distribution.

    ``ties`` are the exact-tie records and their events (:func:`exact_ties`).
    """
    status = dict(
        con.execute("SELECT link_status, count(*) FROM link_asc_event_links WHERE token IS NULL GROUP BY 1").fetchall()
    )
    clients = dict(
        con.execute(
            "SELECT link_status, count(*) FROM link_asc_probabilistic WHERE NOT is_holdout GROUP BY 1"
        ).fetchall()
    )
    conflicting_clients = int(
        first_row(con, "SELECT count(*) FROM link_asc_clients WHERE token_status = 'conflicting_tokens'")[0]
    )
    after_rival = int(
        first_row(
            con,
            "SELECT count(*) FROM link_asc_probabilistic AS p JOIN link_asc_assigned AS a USING (unique_id) "
            "WHERE NOT p.is_holdout AND a.assignment_round > 1",
        )[0]
    )
    mean_linked, below_min = first_row(
        con,
        """
        SELECT avg(match_probability) FILTER (WHERE method = 'probabilistic'),
               count(*) FILTER (WHERE method = 'probabilistic' AND match_probability < $m)
        FROM link_asc_event_links WHERE token IS NULL
        """,
        {"m": min_link_probability},
    )
    edges = PROBABILITY_BINS
    bands = con.execute(
        """
        SELECT b.i, count(l.record_id)
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


@dataclasses.dataclass(frozen=True)
class LinkMeasures:
    """What the finished link tables show, read before the warehouse connection closes."""

    sources: list[dict[str, Any]]
    asc_without_token: dict[str, Any]
    distribution: list[dict[str, Any]]
    truth: dict[str, Any] | None
    holdout: dict[str, Any] | None
    people: int
    out_of_area_people: int
    by_group: list[dict[str, Any]]


def measure(con: duckdb.DuckDBPyConnection, settings: Settings, spec: LinkageSpec) -> LinkMeasures:
    """Rates per source, the ASC block, accuracy against the truth file (when present) and the holdout, people."""
    sources = source_rates(con)
    ties = exact_ties(con, spec.candidates.death_grace_days)
    asc, distribution = asc_block(con, settings.link.min_link_probability, ties)
    truth_path = settings.paths.truth / TRUTH_FILE
    threshold = settings.link.match_threshold
    truth = evaluate_against_truth(con, truth_path, threshold) if truth_path.exists() else None
    groups = link_groups.by_group(con, truth_path if truth is not None else None, threshold, {r for r, _ in ties})
    if truth is not None:
        for step in ("client_id", "probabilistic"):
            truth[f"{step}_step"] = evaluate_against_truth(con, truth_path, threshold, (step,))
    holdout = evaluate_holdout(con, settings.link.match_threshold)
    people, out_of_area_people = first_row(
        con, "SELECT count(*), count(*) FILTER (WHERE NOT in_population) FROM person"
    )
    return LinkMeasures(sources, asc, distribution, truth, holdout, int(people), int(out_of_area_people), groups)


def quality_warnings(fit: SplinkFit | None, measures: LinkMeasures) -> list[str]:
    """Warnings on the linkage model and its accuracy.

    Untrained levels, skipped EM sessions, precision below 0.99 or recall below 0.95 on truth or
    holdout, and per group (overall, each ethnic group and IMD quintile) precision below 0.99 or
    recall below 0.97 of the evidence ceiling.
    """
    warnings: list[str] = []
    if fit and fit.untrained:
        warnings.append("linkage model levels without trained parameters: " + "; ".join(fit.untrained))
    if fit and fit.skipped_sessions:
        warnings.extend(f"EM session skipped: {text}" for text in fit.skipped_sessions)
    for name, block in (("truth", measures.truth), ("holdout", measures.holdout)):
        chosen = block["at_threshold"] if block else None
        if chosen and chosen["precision"] is not None and chosen["precision"] < 0.99:
            warnings.append(
                f"probabilistic link precision on {name} is {chosen['precision']:.3f} (< 0.99; 95% interval "
                f"{chosen['precision_low']:.3f}-{chosen['precision_high']:.3f} on {chosen['linked']:,} links)"
            )
        if chosen and chosen["recall"] is not None and chosen["recall"] < 0.95:
            warnings.append(f"probabilistic link recall on {name} is {chosen['recall']:.3f} (< 0.95)")
    for row in measures.by_group:
        # Small groups are too noisy to warn on; the table still shows them.
        if (row.get("linkable") or 0) < GROUP_WARNING_MIN_LINKABLE:
            continue
        where = "all untraced events" if row["dimension"] == "all" else f"{row['dimension']} {row['group']}"
        if row["precision"] is not None and row["precision"] < 0.99:
            warnings.append(f"link precision for {where} is {row['precision']:.3f} (< 0.99)")
        if row["recall_of_ceiling"] is not None and row["recall_of_ceiling"] < 0.97:
            warnings.append(f"link recall for {where} is {row['recall_of_ceiling']:.3f} of its ceiling (< 0.97)")
    return warnings


def quality_record(
    settings: Settings,
    spec: LinkageSpec,
    as_of: date,
    scored: ProbabilisticRun,
    measures: LinkMeasures,
    keys_changed: int | None,
    warnings: list[str],
    seconds: float,
) -> dict[str, Any]:
    """The link-quality report as a dictionary (written as ``link_quality.json`` and rendered as Markdown)."""
    fit = scored.fit
    return {
        "run": {
            "as_of": as_of.isoformat(),
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "spec_version": spec.version,
            "match_threshold": settings.link.match_threshold,
            "min_link_probability": settings.link.min_link_probability,
            "seconds": round(seconds, 1),
        },
        "sources": measures.sources,
        "asc_without_token": measures.asc_without_token,
        "match_probability_distribution": measures.distribution,
        "model": None
        if fit is None
        else {
            "prior": scored.prior,
            "prior_match_weight": fit.prior_match_weight,
            "match_rate": scored.match_rate,
            "no_match_mass": scored.no_match_mass,
            "spine_size": scored.spine_size,
            "candidate_pairs": fit.candidate_pairs,
            "seconds": {k: round(v, 2) for k, v in fit.seconds.items()},
            "parameters": [dataclasses.asdict(p) for p in fit.parameters],
            "untrained": list(fit.untrained),
            "skipped_em_sessions": list(fit.skipped_sessions),
        },
        "truth": measures.truth,
        "by_group": measures.by_group,
        "holdout": measures.holdout,
        "people": {"total": measures.people, "out_of_area": measures.out_of_area_people},
        "keys_changed_since_last_run": keys_changed,
        "warnings": warnings,
    }


def stage_summary(measures: LinkMeasures, keys_changed: int | None, seconds: float) -> dict[str, Any]:
    """The link stage's console summary: records per source and method, ASC outcomes, people, accuracy."""
    sources, asc = measures.sources, measures.asc_without_token
    summary: dict[str, Any] = {row["source"]: row["records"] for row in sources}
    summary["deterministic"] = sum(row["deterministic"] for row in sources)
    summary["client_id"] = sum(row["client_id"] for row in sources)
    summary["probabilistic"] = sum(row["probabilistic"] for row in sources)
    summary["unlinked"] = sum(row["unlinked"] for row in sources)
    summary["asc_without_token"] = asc["records"]
    summary["asc_ambiguous"] = asc["status"].get("ambiguous", 0)
    summary["asc_conflicting_tokens"] = asc["status"].get("conflicting_tokens", 0)
    summary["out_of_area_records"] = sum(row["out_of_area"] for row in sources)
    summary["out_of_ics_provider_records"] = sum(row["out_of_ics_provider"] for row in sources)
    summary["people"] = measures.people
    summary["out_of_area_people"] = measures.out_of_area_people
    for name, block in (("truth", measures.truth), ("holdout", measures.holdout)):
        if block:
            chosen = block["at_threshold"]
            summary[f"{name}_precision"] = _rounded(chosen["precision"])
            summary[f"{name}_recall"] = _rounded(chosen["recall"])
            summary[f"{name}_f1"] = _rounded(chosen["f1"])
    summary["keys_changed_since_last_run"] = "-" if keys_changed is None else keys_changed
    summary["seconds"] = round(seconds, 1)
    return summary


def _rounded(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
