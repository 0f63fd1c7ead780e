"""Fit the Splink model (u by random sampling, m by expectation-maximisation) and score candidate pairs.

Splink runs on its own in-memory DuckDB connection so its many intermediate tables never touch
the warehouse; only the two small input tables go in and the kept candidate pairs come out.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from popheath.errors import StageError
from popheath.linkage.spec import LinkageSpec

log = logging.getLogger(__name__)

ASC_DATASET = "asc"
SPINE_DATASET = "spine"
LINK_COLUMNS = (
    "unique_id",
    "birth_year",
    "birth_month",
    "sex",
    "lsoa_code",
    "previous_lsoa_codes",
    "practice_code",
    "ethnic_category",
    "death_asc",
    "death_spine",
    "asc_client",
    "first_event",
    "last_event",
    "service_starts",
    "after_discharge_days",
    "registered_from",
    "registered_to",
)


@dataclass(frozen=True)
class LevelParameter:
    """One comparison level of the trained model (for the match-weights chart and the report)."""

    comparison: str
    level: str
    comparison_vector_value: int
    is_null_level: bool
    m_probability: float | None
    u_probability: float | None
    match_weight: float | None


@dataclass(frozen=True)
class SplinkFit:
    """What training and prediction produced, for the run folder and the quality report."""

    model: dict[str, Any]
    parameters: tuple[LevelParameter, ...]
    match_weights_html: str
    prior_match_weight: float
    candidate_pairs: int
    seconds: dict[str, float] = field(default_factory=dict)
    untrained: tuple[str, ...] = ()
    skipped_sessions: tuple[str, ...] = ()


def prior_probability(match_rate: float, spine_size: int) -> float:
    """Probability that a random (ASC event, spine person) pair is a match: match rate over spine size."""
    if spine_size <= 0:
        raise StageError("stg_population is empty: nothing to link social care records to")
    return min(max(match_rate, 1e-6), 1.0) / spine_size


def floor_m_probabilities(model: dict[str, Any], floor: float) -> dict[str, Any]:
    """Raise every trained m probability to at least ``floor`` and renormalise within each comparison.

    EM gives m = 0 to a level no training match fell into, which makes that disagreement an
    absolute veto (weight minus infinity). A small floor keeps strong but finite evidence.
    """
    model = copy.deepcopy(model)
    for comparison in model.get("comparisons", []):
        levels = [
            level
            for level in comparison.get("comparison_levels", [])
            if not level.get("is_null_level") and level.get("m_probability") is not None
        ]
        if not levels:
            continue
        raised = [max(float(level["m_probability"]), floor) for level in levels]
        total = sum(raised)
        for level, value in zip(levels, raised, strict=True):
            level["m_probability"] = value / total
    return model


def _parameters(linker: Any) -> tuple[LevelParameter, ...]:
    records = linker._settings_obj._parameters_as_detailed_records
    result = []
    for record in records:
        if record.comparison_vector_value == -1 or record.comparison_name == "probability_two_random_records_match":
            continue
        weight = record.log2_bayes_factor
        result.append(
            LevelParameter(
                comparison=str(record.comparison_name),
                level=str(record.label_for_charts),
                comparison_vector_value=int(record.comparison_vector_value),
                is_null_level=bool(record.is_null_level),
                m_probability=record.m_probability,
                u_probability=record.u_probability,
                match_weight=None if weight is None or math.isinf(weight) else float(weight),
            )
        )
    return tuple(result)


def fit_and_predict(
    asc_input: pa.Table,
    spine_input: pa.Table,
    spec: LinkageSpec,
    probability_two_random_records_match: float,
    seed: int,
    memory_limit: str,
    threads: int,
    fixed_levels: dict[str, dict[str, tuple[float, float]]] | None = None,
    fixed_m: dict[str, dict[str, float]] | None = None,
) -> tuple[pa.Table, SplinkFit]:
    """Train the model on ASC events x spine and return kept candidate pairs (unique_id, person_id, weights).

    Parameters
    ----------
    asc_input, spine_input
        Tables with the columns in ``LINK_COLUMNS`` (``unique_id`` = event or person token).
    spec
        The model specification (comparisons, blocking rules, training plan).
    probability_two_random_records_match
        The prior, see :func:`prior_probability`.
    seed
        Seed for u sampling, so reruns give the same model and the same links.
    memory_limit, threads
        DuckDB limits for Splink's own in-memory connection.
    fixed_levels
        Comparison levels whose m and u are measured outside Splink (see ``LinkageSpec.settings_for_run``).
    fixed_m
        m probabilities measured on labelled pairs; when they cover every comparison EM is skipped.

    """
    from splink import DuckDBAPI, Linker
    from splink.internals.exceptions import SplinkException

    work = duckdb.connect(":memory:")
    work.execute(f"SET memory_limit = '{memory_limit}'")
    work.execute(f"SET threads = {int(threads)}")
    # Splink samples u pairs with DuckDB's random(); a fixed seed keeps reruns identical.
    work.execute("SELECT setseed(?)", [(seed % 1000) / 1000.0]).fetchall()
    columns = ", ".join(LINK_COLUMNS)
    work.register("asc_arrow", asc_input)
    work.register("spine_arrow", spine_input)
    work.execute(f"CREATE TABLE asc_input AS SELECT {columns} FROM asc_arrow")
    work.execute(f"CREATE TABLE spine_input AS SELECT {columns} FROM spine_arrow")
    work.unregister("asc_arrow")
    work.unregister("spine_arrow")

    seconds: dict[str, float] = {}
    skipped: list[str] = []
    started = time.perf_counter()
    splink_logger = logging.getLogger("splink")
    splink_level = splink_logger.level
    # Splink narrates every EM iteration at INFO; keep its warnings, leave progress to our log.
    splink_logger.setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    try:
        db_api = DuckDBAPI(work)
        asc_frame = db_api.register("asc_input", dataset_display_name=ASC_DATASET)
        spine_frame = db_api.register("spine_input", dataset_display_name=SPINE_DATASET)
        linker = Linker(
            [asc_frame, spine_frame],
            spec.settings_for_run(probability_two_random_records_match, fixed_levels, fixed_m),
            log_level=None,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=spec.training.u_max_pairs, seed=seed)
        seconds["estimate_u"] = time.perf_counter() - started
        names = {c["output_column_name"] for c in spec.splink_settings["comparisons"]}
        em_rules = (
            () if fixed_m and names <= set(fixed_m) | set(fixed_levels or {}) else spec.training.em_blocking_rules
        )
        for rule in em_rules:
            step = time.perf_counter()
            log.info("EM on pairs blocked by %s", rule)
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule,
                    max_pairs=spec.training.em_max_pairs,
                )
            except (SplinkException, ValueError) as error:
                # Too little data for this session (e.g. no pairs share the blocking fields): the
                # comparisons it would estimate keep other sessions' or starting values, reported as untrained.
                skipped.append(f"{rule}: {str(error).splitlines()[0]}")
                log.warning("EM session skipped: %s", skipped[-1])
            seconds[f"em: {rule}"] = time.perf_counter() - step
        trained = floor_m_probabilities(linker.misc.save_model_to_json(), spec.training.m_probability_floor)
        linker = Linker([asc_frame, spine_frame], trained, log_level=None)
        step = time.perf_counter()
        predictions = linker.inference.predict(
            threshold_match_probability=spec.candidates.keep_pair_probability_above,
            warning_mode="never",
        )
        pairs = work.sql(
            f"""
            SELECT
                CASE WHEN source_dataset_l = '{ASC_DATASET}' THEN unique_id_l ELSE unique_id_r END AS unique_id,
                CASE WHEN source_dataset_l = '{ASC_DATASET}' THEN unique_id_r ELSE unique_id_l END AS person_id,
                CAST(match_weight AS DOUBLE) AS match_weight,
                CAST(match_probability AS DOUBLE) AS pair_probability
            FROM {predictions.physical_name}
            """
        ).to_arrow_table()
        seconds["predict"] = time.perf_counter() - step
        chart = linker.visualisations.match_weights_chart()
        # inline=True bundles Splink's packaged vega scripts: the HTML opens offline, no CDN fetch.
        chart_html = chart.to_html(inline=True)
        model = linker.misc.save_model_to_json()
        parameters = _parameters(linker)
        untrained = tuple(
            f"{p.comparison}: {p.level}"
            for p in parameters
            if not p.is_null_level and (p.m_probability is None or p.u_probability is None)
        )
    except (SplinkException, duckdb.Error, ValueError) as error:
        raise StageError(f"Splink linkage failed: {error}".splitlines()[0]) from error
    finally:
        splink_logger.setLevel(splink_level)
        work.close()
    prior_weight = math.log2(probability_two_random_records_match / (1 - probability_two_random_records_match))
    fit = SplinkFit(
        model=model,
        parameters=parameters,
        match_weights_html=chart_html,
        prior_match_weight=prior_weight,
        candidate_pairs=pairs.num_rows,
        seconds=seconds,
        untrained=untrained,
        skipped_sessions=tuple(skipped),
    )
    return pairs, fit
