"""Audit step of write-audit-publish: read a staged release back from disk and check it with the GX suite.

The suite is data (``expectations/list_release.json``); this module builds the frames it runs on
(adding the computed columns the suite names) and fills in its parameters.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from popheath.config import PROJECT_ROOT
from popheath.errors import StageError
from popheath.lists import files
from popheath.lists.build import Population
from popheath.quality.nhs_number import contains_nhs_number

log = logging.getLogger(__name__)

SUITE_FILE = PROJECT_ROOT / "expectations" / "list_release.json"
# ``rank`` is not here: people in hospital now have none (``call_position`` checks it instead).
LIST_REQUIRED = (
    "person_token",
    "pcn_code",
    "practice_code",
    "in_hospital_now",
    "age_band",
    "sex",
    "segment",
    "tier",
    "risk",
    "percentile",
    "social_care",
    "change",
)
LEFT_REQUIRED = ("person_token", "pcn_code", "reason")
# BASIC keeps a sample of unexpected values for the failure message and skips the costlier extras.
RESULT_FORMAT: Final = "BASIC"


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of the suite: success, one line per failed expectation, and the full result as JSON."""

    success: bool
    evaluated: int
    failures: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


def _nhs_like_per_row(frame: pd.DataFrame) -> list[int]:
    # Every cell of every column: a raw NHS number may hide in any field, not just the token.
    counts = [0] * len(frame)
    for column in frame.columns:
        for index, value in enumerate(frame[column].tolist()):
            if value and contains_nhs_number(value):
                counts[index] += 1
    return counts


def _missing_fields(frame: pd.DataFrame, required: tuple[str, ...]) -> list[str]:
    # One text per row naming its empty required fields ("" when complete), so a failure says which.
    missing = [[] for _ in range(len(frame))]  # type: list[list[str]]
    for column in required:
        values = frame[column].tolist() if column in frame.columns else [None] * len(frame)
        for index, value in enumerate(values):
            if value is None or value == "":
                missing[index].append(column)
    return [",".join(fields) for fields in missing]


def _call_position(frame: pd.DataFrame) -> list[str]:
    # "" when the row is consistent: a call position exactly when the person is not in hospital now.
    problems = []
    for flag, rank in zip(frame["in_hospital_now"].tolist(), frame["rank"].tolist(), strict=True):
        if flag == "Y" and rank:
            problems.append("in hospital now but has a call position")
        elif flag != "Y" and not rank:
            problems.append("no call position")
        else:
            problems.append("")
    return problems


def _read_all(staging: Path, name: str, columns: tuple[files.Column, ...]) -> pd.DataFrame:
    paths = sorted((staging / "pcn").glob(f"*/{name}"))
    frames = [files.read_csv(path) for path in paths]
    if not frames:
        return pd.DataFrame({column.name: pd.Series(dtype=str) for column in columns})
    return pd.concat(frames, ignore_index=True)


def release_frames(
    staging: Path,
    expected_rows: dict[str, int],
    population: Population,
    candidates: int,
    type1_lookup: Callable[[list[str]], set[str]],
    expected_held: dict[str, int] | None = None,
) -> dict[str, pd.DataFrame]:
    """Frames the suite checks, built from the staged files as written (not from memory).

    ``expected_rows`` counts all rows of a PCN's list; ``expected_held`` the rows of people in hospital
    now, held off the call list (no call position, outside the capacity).
    """
    held_expected = expected_held or {}
    listed = _read_all(staging, files.LIST_FILE, files.LIST_COLUMNS)
    left = _read_all(staging, files.LEFT_FILE, files.LEFT_COLUMNS)
    nhs_list, nhs_left = _nhs_like_per_row(listed), _nhs_like_per_row(left)
    type1 = type1_lookup(sorted(set(listed["person_token"]) | set(left["person_token"])))
    listed["missing_fields"] = _missing_fields(listed, LIST_REQUIRED)
    listed["call_position"] = _call_position(listed)
    listed = listed.replace("", None)
    listed["missing_fields"] = listed["missing_fields"].fillna("")
    listed["nhs_like_cells"] = nhs_list
    listed["type1_objection"] = listed["person_token"].isin(type1)
    listed["risk_value"] = pd.to_numeric(listed["risk"], errors="coerce")
    listed["rank_value"] = pd.to_numeric(listed["rank"], errors="coerce")
    left["missing_fields"] = _missing_fields(left, LEFT_REQUIRED)
    left = left.replace("", None)
    left["missing_fields"] = left["missing_fields"].fillna("")
    left["nhs_like_cells"] = nhs_left
    on_list = set(zip(listed["pcn_code"], listed["person_token"], strict=True))
    left["on_same_pcn_list"] = [
        (pcn, token) in on_list for pcn, token in zip(left["pcn_code"], left["person_token"], strict=True)
    ]

    counts = []
    for folder in sorted(path for path in (staging / "pcn").glob("*") if path.is_dir()):
        pcn_list = files.read_csv(folder / files.LIST_FILE)
        ranks = pd.to_numeric(pcn_list["rank"], errors="coerce").dropna()
        held = int((pcn_list["in_hospital_now"] == "Y").sum()) if "in_hospital_now" in pcn_list else 0
        practice_rows = sum(len(files.read_csv(path)) for path in (folder / "practices").glob("*.csv"))
        counts.append(
            {
                "pcn_code": folder.name,
                "rows": len(pcn_list),
                "expected_rows": expected_rows.get(folder.name, 0),
                "held_rows": held,
                "expected_held": held_expected.get(folder.name, 0),
                "call_rows": len(pcn_list) - held,
                "practice_rows": practice_rows,
                "distinct_ranks": int(ranks.nunique()),
                "max_rank": int(ranks.max()) if len(ranks) else 0,
            }
        )
    pcn_counts = pd.DataFrame(
        counts,
        columns=[
            "pcn_code",
            "rows",
            "expected_rows",
            "held_rows",
            "expected_held",
            "call_rows",
            "practice_rows",
            "distinct_ranks",
            "max_rank",
        ],
    )
    excluded = sum(population.excluded.values())
    population_frame = pd.DataFrame(
        [
            {
                "scored": population.scored,
                "eligible": population.eligible,
                "excluded": excluded,
                "accounted": population.eligible + excluded,
                "candidates": candidates,
            }
        ]
    )
    return {"list": listed, "pcn_counts": pcn_counts, "left": left, "population": population_frame}


def load_suite(path: Path = SUITE_FILE) -> dict[str, Any]:
    """The suite file as data."""
    try:
        suite: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise StageError(f"{path}: cannot read the list release suite: {error}") from error
    return suite


def _describe(result: Any) -> str:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")}
    observed = result.result.get("observed_value")
    unexpected = result.result.get("unexpected_count")
    sample = result.result.get("partial_unexpected_list")
    got = f"observed {observed}" if observed is not None else f"{unexpected} unexpected, e.g. {sample}"
    return f"{config.type}({', '.join(f'{k}={v}' for k, v in kwargs.items())}): {got}"


def run_suite(
    frames: dict[str, pd.DataFrame], parameters: dict[str, Any], suite_path: Path = SUITE_FILE
) -> ValidationReport:
    """Validate each frame with its part of the suite in an ephemeral GX context."""
    # GX 1.x: no usage statistics from a nightly batch job.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    suite_data = load_suite(suite_path)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("list_release")
    failures: list[str] = []
    detail: dict[str, Any] = {"suite": str(suite_path.name), "frames": {}}
    evaluated = 0
    for frame_name, part in suite_data["frames"].items():
        if frame_name not in frames:
            raise StageError(f"{suite_path}: suite part {frame_name!r} has no frame to validate")
        suite = gx.ExpectationSuite(name=f"{suite_data['name']}.{frame_name}", expectations=part["expectations"])
        if len(suite.expectations) != len(part["expectations"]):
            raise StageError(f"{suite_path}: part {frame_name!r} has an invalid expectation (see log)")
        asset = source.add_dataframe_asset(frame_name)
        batch = asset.add_batch_definition_whole_dataframe(frame_name).get_batch(
            batch_parameters={"dataframe": frames[frame_name]}
        )
        result = batch.validate(suite, expectation_parameters=parameters, result_format=RESULT_FORMAT)
        evaluated += len(result.results)
        frame_failures = [f"{frame_name}: {_describe(r)}" for r in result.results if not r.success]
        failures.extend(frame_failures)
        detail["frames"][frame_name] = {
            "rows": len(frames[frame_name]),
            "success": bool(result.success),
            "expectations": len(result.results),
            "failures": frame_failures,
        }
    detail["success"] = not failures
    return ValidationReport(success=not failures, evaluated=evaluated, failures=tuple(failures), detail=detail)


def suite_parameters(
    expected_rows: dict[str, int], capacity: int, segments: Iterable[str], pcns: int
) -> dict[str, Any]:
    """The ``$PARAMETER`` values the suite uses."""
    return {
        "expected_rows": sum(expected_rows.values()),
        "expected_pcns": pcns,
        "capacity": capacity,
        "segments": sorted(segments),
    }
