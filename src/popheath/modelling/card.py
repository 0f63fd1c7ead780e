"""``model_card.md``: a TRIPOD-style account of one registered model, written for coordinators and data leads.

Sections follow the TRIPOD statement (Collins et al. 2015, BMJ 350:g7594): intended use, source
of data and population, outcome, predictors, development, performance, fairness, limitations.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from popheath.clinical.feature_dictionary import FeatureDictionary
from popheath.modelling.candidates import MODEL_LABELS, PRIMARY
from popheath.modelling.temporal_validation import AGE_BANDS, POPULATIONS

OUTCOME_TEXT: dict[str, str] = {
    "acsc_admission_12m": (
        "an emergency admission whose primary diagnosis is an ambulatory care sensitive condition "
        "(ACSC: chronic, acute and vaccine-preventable groups, NHS Outcomes Framework 2.3.i / 3a) "
        "within 12 months after the as-of date"
    ),
    "emergency_admission_12m": "any emergency admission (ADMIMETH 21-28, 2A-2D) within 12 months after the as-of date",
}


OUTCOME_HEADLINE: dict[str, str] = {
    "acsc_admission_12m": "an avoidable (ACSC) emergency admission",
    "emergency_admission_12m": "any emergency admission",
}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100 * value:.1f}%"


def _performance_table(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [
        "| model | AUROC (95% CI) | AUPRC | Brier | calibration slope | calibration intercept | O/E "
        "| PPV top 0.5% | PPV top 1% | PPV top 5% | sensitivity top 1% | sensitivity top 5% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, m in models.items():
        lines.append(
            f"| {MODEL_LABELS.get(model, model)} | {_num(m.get('auroc'))} ({_num(m.get('auroc_ci_low'))}-"
            f"{_num(m.get('auroc_ci_high'))}) | {_num(m.get('auprc'))} | {_num(m.get('brier'), 4)} | "
            f"{_num(m.get('calibration_slope'), 2)} | {_num(m.get('calibration_intercept'), 2)} | "
            f"{_num(m.get('oe_ratio'), 2)} | {_pct(m.get('ppv_top_0.5pct'))} | {_pct(m.get('ppv_top_1pct'))} | "
            f"{_pct(m.get('ppv_top_5pct'))} | {_pct(m.get('sensitivity_top_1pct'))} | "
            f"{_pct(m.get('sensitivity_top_5pct'))} |"
        )
    return lines


def render(
    *,
    name: str,
    version: str,
    training: Mapping[str, Any],
    metrics: Mapping[str, Any],
    subgroups: pd.DataFrame,
    importance: Mapping[str, float],
    dictionary: FeatureDictionary,
    feature_names: Sequence[str],
    flag_rule_text: str,
) -> str:
    """The whole card as Markdown."""
    outcome = str(training["outcome"])
    populations = metrics["populations"]
    primary = populations["65plus"].get(PRIMARY, {})
    recalibration = training["recalibration"]
    lines: list[str] = [
        f"# Model card: {name} ({version})",
        "",
        f"Predicts the 12-month risk of **{OUTCOME_HEADLINE.get(outcome, outcome.replace('_', ' '))}** "
        "for registered people aged 65+. "
        f"Test AUROC {_num(primary.get('auroc'))} at {training['test_as_of']}; "
        f"{_pct(primary.get('ppv_top_1pct'))} of the top 1% flagged had the outcome "
        f"(base rate {_pct(primary.get('observed_rate'))}).",
        "",
        "## Intended use",
        "",
        "- **For**: ranking the registered population aged 65+ by their risk of an avoidable emergency admission, "
        "so care coordinators in PCN / neighbourhood teams can choose whom to review or call first "
        "(proactive, anticipatory care). The score supports, and never replaces, clinical judgement.",
        "- **Not for**: diagnosis, decisions about an individual's eligibility for or withdrawal of services, "
        "people under 65, or any population other than the one it was trained on without re-evaluation.",
        "- The list shows each person's top 3 reasons (the features that raised their risk most, by LightGBM's "
        "SHAP contributions); they explain the model, not the cause of the person's ill health.",
        "",
        "## Population and data",
        "",
        f"- Training: everyone registered, alive and aged 65+ (cohort.is_65plus) at **{training['train_as_of']}**; "
        f"{_num(training['train_rows'])} people, {_num(training['train_events'])} with the outcome. "
        f"People with a type 1 objection are excluded upstream.",
        f"- Temporal test: the same population definition at **{training['test_as_of']}**; "
        f"{_num(primary.get('n'))} people, {_num(primary.get('events'))} with the outcome. The test date is "
        f"{training['gap_months']} months after the training date, so the training outcome window "
        f"({training['train_as_of']} to {training['train_outcome_end']}) ends before the test date: "
        "no person-time is shared between training labels and test labels.",
        f"- Frail cohort (cohort.is_frail: HFRS >= 5, care-home resident or social care package): "
        f"{_num(populations['frail'].get(PRIMARY, {}).get('n'))} people at the test date.",
        "",
        "## Outcome",
        "",
        f"`labels.{outcome}`: {OUTCOME_TEXT.get(outcome, outcome.replace('_', ' '))}. "
        "Deaths during the window without the outcome count as no outcome (death is a competing event).",
        "",
        "## Predictors",
        "",
        f"{len(feature_names)} features from table `features`, feature-definition version "
        f"**{training['feature_definition_version']}** (src/popheath/clinical/feature_dictionary.yaml). "
        "Scoring refuses to run if the current feature definitions differ. Ranked by mean |SHAP| on the test date:",
        "",
        "| rank | feature | description | mean abs SHAP (log-odds) |",
        "|---|---|---|---|",
    ]
    for rank, (feature, value) in enumerate(importance.items(), start=1):
        lines.append(f"| {rank} | `{feature}` | {dictionary.definition(feature).description} | {value:.4f} |")
    lightgbm = training["hyper_parameters"]["lightgbm"]
    chosen = lightgbm["chosen"]
    lines += [
        "",
        "![feature importance](importance.png)",
        "",
        "## Development",
        "",
        f"- LightGBM {training['lightgbm_version']} gradient-boosted trees, binary log-loss. The training date's "
        f"people were split (seeded, stratified by outcome) into a fit part ({_num(training['fit_rows'])}) and a "
        f"validation part ({_num(training['validation_rows'])}); the later test date was never used for any choice.",
        f"- Hyper-parameters: grid {lightgbm['grid']} at learning rate {chosen.get('learning_rate')}, early stopping "
        f"after {lightgbm['early_stopping_rounds']} rounds without improvement in validation log loss. Chosen: "
        f"num_leaves={chosen.get('num_leaves')}, min_child_samples={chosen.get('min_child_samples')}, "
        f"{lightgbm['best_iteration']} trees. Seed {chosen.get('seed')}, deterministic mode, "
        f"{chosen.get('num_threads')} threads.",
        f"- Recalibration: **{'applied' if recalibration['applied'] else 'not needed'}** - {recalibration['reason']}."
        + (
            " Reported risks are the recalibrated ones; the table also shows LightGBM before recalibration."
            if recalibration["applied"]
            else ""
        ),
        "- Baselines on the same people: L2-regularised logistic regression on the same features "
        "(non-negative features log1p-transformed, NULL -> training median plus a missing-value indicator, "
        f"standardised; C={training['hyper_parameters']['logistic']['C']} chosen on the validation part); "
        "HFRS alone (one-variable logistic fit); and the rule 'emergency admission in the last 12 months'.",
        "",
        "## Performance (temporal test)",
        "",
        "AUROC: chance that a person who had the outcome was ranked above one who did not (0.5 = coin toss). "
        "Calibration slope 1 and intercept 0 mean predicted risks match observed rates; O/E is observed / expected "
        "events. PPV top 1%: share of the top 1% who had the outcome; sensitivity top 1%: share of all outcomes "
        "found in the top 1%. AUROC 95% CIs are percentile bootstraps "
        f"({training['bootstrap_samples']} resamples of people).",
        "",
    ]
    for population, label in POPULATIONS.items():
        lines += [f"### {label.capitalize()}", ""]
        lines += _performance_table(populations.get(population, {}))
        lines.append("")
    if metrics.get("oracle_coverage") is not None:
        lines += [
            f"Oracle: the synthetic generator's true probabilities, known for {_pct(metrics['oracle_coverage'])} of "
            "test people - the ceiling any model could reach on this data.",
            "",
        ]
    lines += ["![calibration](calibration.png)", "", "### AUROC within age bands", ""]
    lines += ["| population | model | " + " | ".join(AGE_BANDS) + " |", "|---|---|" + "---|" * len(AGE_BANDS)]
    for population, by_model in metrics.get("auroc_by_age_band", {}).items():
        for model, bands in by_model.items():
            values = " | ".join(_num(bands.get(band)) for band in AGE_BANDS)
            lines.append(f"| {population} | {MODEL_LABELS.get(model, model)} | {values} |")
    lines += [
        "",
        "## Fairness (equality duty)",
        "",
        "Every metric is repeated by sex, age band, ethnic group, IMD quintile and place, for everyone 65+ and for "
        f"the frail cohort: `subgroups.csv`. Rule: {flag_rule_text}. With dozens of subgroups a few flags can arise "
        "by chance: a flag is a prompt to look (and to check the subgroup's data quality), not a verdict. "
        "Subgroup AUROC intervals are bootstrapped for LightGBM and the logistic baseline.",
        "",
    ]
    primary_rows = subgroups.loc[subgroups["model"] == PRIMARY] if not subgroups.empty else subgroups
    flagged = (
        primary_rows.loc[primary_rows["flag_worse_discrimination"] | primary_rows["flag_miscalibrated"]]
        if not primary_rows.empty
        else primary_rows
    )
    if flagged.empty:
        lines.append("No subgroup is flagged for the deployed LightGBM model.")
    else:
        lines += [
            "Flagged subgroups for the deployed LightGBM model:",
            "",
            "| population | dimension | group | n | events | AUROC (95% CI) | O/E | flag |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in flagged.itertuples(index=False):
            flags = [
                text
                for text, on in (
                    ("worse discrimination", row.flag_worse_discrimination),
                    ("miscalibrated", row.flag_miscalibrated),
                )
                if on
            ]
            lines.append(
                f"| {row.population} | {row.dimension} | {row.level} | {row.n:,} | {row.events:,} | "
                f"{_num(row.auroc)} ({_num(row.auroc_ci_low)}-{_num(row.auroc_ci_high)}) | "
                f"{_num(row.oe_ratio, 2)} | {', '.join(flags)} |"
            )
    unjudged = int((~primary_rows["judged"]).sum()) if not primary_rows.empty else 0
    if unjudged:
        lines += ["", f"{unjudged} subgroup rows had too few events to judge; see `subgroups.csv`."]
    lines += [
        "",
        "## Limitations",
        "",
        "- Evaluated on one later date from the same ICS (temporal, not external, validation). Performance can fall "
        "when coding, services or the population change: nightly scoring reports drift (PSI) against training.",
        "- The outcome depends on complete hospital data for 12 months after the as-of date, including "
        "out-of-area admissions; missing records make observed rates, and so calibration, look better than reality.",
        "- People who die early in the window have less time to be admitted; risk is not adjusted for this "
        "competing event.",
        "- Social care records without an NHS number are linked probabilistically; unlinked records are missed "
        "in the social care features.",
        "- Reasons are statistical associations in this model, not causes; a low-risk person can still need care.",
        "- Subgroups with few events are reported but not judged; absence of a flag there is not evidence of fairness.",
        "",
        "## Files",
        "",
        "`model.txt` (LightGBM native), `features.json`, `training.json` (windows, hyper-parameters, search), "
        "`metrics.json`, `calibration.csv`, `subgroups.csv`, `calibration.png`, `importance.png`, "
        "`drift_reference.json` (training bins for PSI), `logistic_baseline.json`.",
        "",
    ]
    return "\n".join(lines)


def replace_section(card: Path, key: str, markdown: str) -> None:
    """Put ``markdown`` into the card between ``<!-- key -->`` markers, replacing an earlier version.

    Used for sections measured after registration (performance by data coverage on a later list),
    so a rerun updates the section instead of appending it twice.
    """
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    text = card.read_text(encoding="utf-8")
    block = f"{start}\n{markdown.rstrip()}\n{end}\n"
    if start in text and end in text:
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        text = before + block + after.lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    temporary = card.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, card)
