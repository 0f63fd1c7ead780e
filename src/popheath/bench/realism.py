"""``make bench``, section "Realism": the synthetic ICS's activity and predictability beside England's.

For each size, generate an ICS (cached under ``benchmarks/cache/realism-<people>/``, not in git), run
ingest, link, the training run and the capitation run in process, then set beside their published
anchors:

- records per person-year in 2023-24 by source and age band (the warehouse's clinical tables over
  the registered population's person-years) against ``synth/published_rates.csv``;
- AUROC for 65+ of the oracle (the generator's true probability), LightGBM, logistic regression,
  HFRS alone and the prior-admission rule, for emergency and ACSC admission in 12 months, from the
  trained models' ``metrics.json``;
- the capitation prospective models' person- and practice-level R-squared, as published by the
  capitation stage (cost of acute, community and social care), and refitted the same way
  (:func:`popheath.capitation.prospective.run_prospective`) on NHS cost alone (acute and community),
  the cost base of the published anchor (PBRA: NHS hospital cost).

``python -m popheath.bench.realism --sizes 100000`` runs this section alone.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
from rich.console import Console

from popheath import config, db, pipeline
from popheath.bench.pipeline_timings import CACHE, RESULTS, _write_config
from popheath.capitation import costing, inputs, model_data
from popheath.capitation.prospective import run_prospective
from popheath.synth import generate, published

log = logging.getLogger(__name__)
console = Console()
SECTION = "# Realism"
YEAR_START, YEAR_END = date(2023, 4, 1), date(2024, 4, 1)  # 2023-24, the year of the published rates
OUTCOMES = {"emergency_admission_12m": "any emergency admission", "acsc_admission_12m": "ACSC admission"}
MODELS = ("oracle", "lightgbm", "logistic", "hfrs_only", "rule_emergency_12m")


@dataclass(frozen=True)
class Anchor:
    """A published figure and the range a realistic world should land in."""

    low: float
    high: float
    source: str


# AUROC for 65+, 12 months. SPARRA v4 (Public Health Scotland 2023): 0.80 all ages, 0.735 in its oldest
# band; systematic reviews of community models for older people: 0.61-0.78; HFRS alone c 0.56-0.68
# (Gilbert et al. 2018, Lancet 391:1775). The rule's range is an assumption (no published figure found).
AUROC_ANCHORS: dict[tuple[str, str], Anchor] = {
    ("emergency_admission_12m", "oracle"): Anchor(0.76, 0.82, "ceiling above SPARRA v4 0.80 / oldest band 0.735"),
    ("acsc_admission_12m", "oracle"): Anchor(0.74, 0.82, "ceiling above published ACSC models"),
    **{
        (o, m): Anchor(0.70, 0.80, "published 0.72-0.76 in older bands")
        for o in OUTCOMES
        for m in ("lightgbm", "logistic")
    },
    **{(o, "hfrs_only"): Anchor(0.56, 0.68, "HFRS alone, Gilbert 2018") for o in OUTCOMES},
    **{(o, "rule_emergency_12m"): Anchor(0.55, 0.68, "NOT VERIFIED: assumed") for o in OUTCOMES},
}
# Person / practice R-squared of prospective cost models: PBRA (Dixon et al. 2011, BMJ 343:d6608):
# person 0.037 age-sex -> 0.127 full; practice 0.344 -> 0.785.
R2_ANCHORS: dict[tuple[str, str], Anchor] = {
    ("risk_adjusted", "person"): Anchor(0.10, 0.25, "PBRA full model 0.127"),
    ("risk_adjusted", "practice"): Anchor(0.60, 0.85, "PBRA full model 0.785"),
    ("age_sex", "person"): Anchor(0.01, 0.08, "PBRA age-sex 0.037"),
    ("age_sex", "practice"): Anchor(0.20, 0.50, "PBRA age-sex 0.344"),
    ("risk_adjusted", "nhs_person"): Anchor(0.10, 0.25, "PBRA full model 0.127 (NHS cost)"),
    ("risk_adjusted", "nhs_practice"): Anchor(0.60, 0.85, "PBRA full model 0.785 (NHS cost)"),
    ("age_sex", "nhs_person"): Anchor(0.01, 0.08, "PBRA age-sex 0.037 (NHS cost)"),
    ("age_sex", "nhs_practice"): Anchor(0.20, 0.50, "PBRA age-sex 0.344 (NHS cost)"),
}

_DENOMINATOR = """
SELECT person_key AS person, age, person_years FROM cap_person_year
WHERE financial_year = $year AND in_population AND person_years > 0
"""
_EVENTS = """
SELECT person_key AS person, 'apc' AS source, 'finished_admission_episodes' AS measure
FROM clin_spells WHERE admission_date >= $start AND admission_date < $end
UNION ALL SELECT person_key, 'apc', 'emergency_admissions'
FROM clin_spells WHERE is_emergency AND admission_date >= $start AND admission_date < $end
UNION ALL SELECT person_key, 'ecds', 'attendances'
FROM clin_ed_attendances WHERE arrival_date >= $start AND arrival_date < $end
UNION ALL SELECT person_key, 'opa', 'appointments'
FROM clin_outpatients WHERE appointment_date >= $start AND appointment_date < $end
UNION ALL SELECT person_key, 'csds', 'care_contacts'
FROM clin_community_contacts WHERE contact_date >= $start AND contact_date < $end
UNION ALL SELECT person_key, 'asc', 'requests_new_clients'
FROM clin_social_care WHERE event_type = 'request' AND event_start >= $start AND event_start < $end
UNION ALL SELECT person_key, 'asc', 'long_term_support_clients'
FROM clin_social_care WHERE is_service AND is_long_term AND event_start < $end
    AND (event_end IS NULL OR event_end >= $start)
"""


def run_size(people: int, seed: int) -> dict[str, object]:
    """Generate (or reuse) one ICS, run the pipeline through training and capitation, measure it."""
    root = CACHE / f"realism-{people}"
    root.mkdir(parents=True, exist_ok=True)
    settings = config.load(_write_config(root, people))
    marker = root / "raw" / ".complete"
    if not marker.exists():
        generate.write(people, seed, root)
        marker.touch()
    as_of = settings.as_of
    steps = [pipeline.Step(stage, as_of) for stage in ("ingest", "link")]
    steps += pipeline.training_steps(settings, as_of) + pipeline.capitation_steps(settings, as_of)
    # Training and capitation both build features at the same dates: once is enough (the second run
    # rewrites identical rows), as in the demo.
    unique = {(step.label, step.as_of): step for step in reversed(steps)}
    steps = [step for step in steps if unique[(step.label, step.as_of)] is step]
    pipeline.run_steps(
        settings, steps, on_done=lambda step, _, seconds: console.print(f"  {step.label} {seconds:.0f}s")
    )
    return measure(settings)


def measure(settings: config.Settings) -> dict[str, object]:
    """Volumes, AUROCs and R-squared of a warehouse the pipeline has built (see module docstring)."""
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    try:
        denominator = pl.from_pandas(con.execute(_DENOMINATOR, {"year": YEAR_START.year}).df())
        events = pl.from_pandas(con.execute(_EVENTS, {"start": YEAR_START, "end": YEAR_END}).df())
    finally:
        con.close()
    volumes = published.compare(denominator, events)
    auroc = {outcome: _auroc(settings.paths.models / outcome) for outcome in OUTCOMES}
    metrics = pd.read_parquet(
        settings.paths.outputs / "capitation" / str(YEAR_END.year) / "prospective_model_metrics.parquet"
    )
    r2 = {
        f"{row.model}_{level}": float(getattr(row, f"{level}_r2"))
        for row in metrics.itertuples()
        for level in ("person", "practice")
    }
    r2.update(nhs_cost_r2(settings))
    return {"volumes": volumes.to_dicts(), "auroc": auroc, "r2": r2, "at": f"{datetime.now():%Y-%m-%d %H:%M}"}


def nhs_cost_r2(settings: config.Settings) -> dict[str, float]:
    """Person and practice R-squared of the capitation stage's models refitted on NHS cost (acute + community)."""
    year = costing.FinancialYear(YEAR_END.year)
    cap = settings.capitation
    con = db.connect(settings)
    try:
        snapshots, _ = inputs.snapshot_dates(con, year)
        population = costing.planning_population(con, settings, year, snapshots["segments"], snapshots["cohort"])
        data = model_data.prospective_data(con, settings, year, population)
    finally:
        con.close()
    if data is None:
        return {}
    for frame in (data.train, data.test):
        frame["cost_total"] = frame["cost_acute"] + frame["cost_community"]
    result = run_prospective(
        data.train, data.test, data.columns, settings.model.seed, cap.model_rounds, cap.model_max_train_people
    )
    return {
        f"{row.model}_nhs_{level}": float(getattr(row, f"{level}_r2"))
        for row in result.metrics.itertuples()
        for level in ("person", "practice")
    }


def _auroc(outcome_folder: Path) -> dict[str, float]:
    """AUROC for 65+ of each model in the newest trained version of one outcome."""
    versions = sorted(p for p in outcome_folder.iterdir() if (p / "metrics.json").exists())
    populations = json.loads((versions[-1] / "metrics.json").read_text(encoding="utf-8"))["populations"]
    return {model: float(values["auroc"]) for model, values in populations["65plus"].items() if model in MODELS}


def _mark(value: float, anchor: Anchor) -> str:
    return "in range" if anchor.low <= value <= anchor.high else "**out of range**"


def render(results: dict[int, dict[str, object]]) -> str:
    """The realism section as Markdown, one subsection per size."""
    lines = [
        SECTION,
        "",
        "Records per person-year of the registered population in 2023-24 (age at 1 April 2023) beside the "
        "published national rates of `src/popheath/synth/published_rates.csv` (England, ONS mid-year population "
        f"as denominator; in range = within a factor {published.TOLERANCE} either way; NOT VERIFIED rows are "
        "assumptions, see the file), AUROC for 65+ and capitation R-squared beside their published anchors. "
        "Produced by `make bench` (`python -m popheath.bench.realism --sizes N`).",
        "",
    ]
    for people, result in sorted(results.items()):
        lines += [
            f"## Realism at {people:,} people ({result['at']})",
            "",
            "| source | measure | age | simulated | published | year | status | |",
            "|---|---|---|---:|---:|---|---|---|",
        ]
        for row in result["volumes"]:  # type: ignore[attr-defined]
            mark = "in range" if row["in_range"] else "**out of range**"
            lines.append(
                f"| {row['source']} | {row['measure']} | {row['age_band']} | {row['simulated']:.3f} | "
                f"{row['published']:.3f} | {row['published_year']} | {row['status']} | {mark} |"
            )
        lines += ["", "| outcome (65+) | model | AUROC | anchor range | anchor | |", "|---|---|---:|---|---|---|"]
        for outcome, values in result["auroc"].items():  # type: ignore[attr-defined]
            for model in MODELS:
                if model in values:
                    anchor = AUROC_ANCHORS[(outcome, model)]
                    lines.append(
                        f"| {OUTCOMES[outcome]} | {model} | {values[model]:.3f} | {anchor.low:.2f}-{anchor.high:.2f} | "
                        f"{anchor.source} | {_mark(values[model], anchor)} |"
                    )
        lines += [
            "",
            "| capitation model | cost | level | R-squared | anchor range | anchor | |",
            "|---|---|---|---:|---|---|---|",
        ]
        for (model, level), anchor in R2_ANCHORS.items():
            value = result["r2"].get(f"{model}_{level}")  # type: ignore[attr-defined]
            if value is not None:
                cost = "NHS: acute + community" if level.startswith("nhs_") else "acute + community + social care"
                span = f"{anchor.low:.2f}-{anchor.high:.2f}"
                lines.append(
                    f"| {model} | {cost} | {level.removeprefix('nhs_')} | {value:.3f} | {span} | {anchor.source} "
                    f"| {_mark(value, anchor)} |"
                )
        lines.append("")
    return "\n".join(lines)


def _load_all() -> dict[int, dict[str, object]]:
    found = {}
    for path in sorted(CACHE.glob("realism-*/realism.json")):
        found[int(path.parent.name.split("-")[1])] = json.loads(path.read_text(encoding="utf-8"))
    return found


def write_section(path: Path = RESULTS) -> str:
    """Replace the realism section of the results file (everything from its heading on) with the latest figures."""
    results = _load_all()
    if not results:
        return ""
    markdown = render(results)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = text.split(f"\n{SECTION}\n")[0].rstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((kept + "\n\n" if kept else "") + markdown, encoding="utf-8")
    return markdown


def main(argv: list[str] | None = None) -> int:
    """Realism section entry point."""
    parser = argparse.ArgumentParser(prog="python -m popheath.bench.realism", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for people in args.sizes:
        console.rule(f"realism, {people:,} people")
        result = run_size(people, args.seed)
        (CACHE / f"realism-{people}" / "realism.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    console.print(write_section())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
