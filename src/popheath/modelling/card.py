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
from popheath.modelling.candidates import LIGHTGBM, LOGISTIC, MODEL_LABELS
from popheath.modelling.deployed import deployed_kind
from popheath.modelling.temporal_validation import AGE_BANDS, FLAGS, POPULATIONS, flagged_rows

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


def _ci(interval: Sequence[Any], digits: int = 3) -> str:
    low, high = interval
    return f"{_num(low, digits)} to {_num(high, digits)}"


def _label(model: str, winner: str) -> str:
    return MODEL_LABELS.get(model, model) + (" (deployed)" if model == winner else "")


def _performance_table(models: Mapping[str, Mapping[str, Any]], winner: str) -> list[str]:
    lines = [
        "| model | AUROC (95% CI) | AUPRC | Brier | calibration slope | calibration intercept | O/E "
        "| PPV top 0.5% | PPV top 1% | PPV top 5% | sensitivity top 1% | sensitivity top 5% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, m in models.items():
        lines.append(
            f"| {_label(model, winner)} | {_num(m.get('auroc'))} ({_num(m.get('auroc_ci_low'))}-"
            f"{_num(m.get('auroc_ci_high'))}) | {_num(m.get('auprc'))} | {_num(m.get('brier'), 4)} | "
            f"{_num(m.get('calibration_slope'), 2)} | {_num(m.get('calibration_intercept'), 2)} | "
            f"{_num(m.get('oe_ratio'), 2)} | {_pct(m.get('ppv_top_0.5pct'))} | {_pct(m.get('ppv_top_1pct'))} | "
            f"{_pct(m.get('ppv_top_5pct'))} | {_pct(m.get('sensitivity_top_1pct'))} | "
            f"{_pct(m.get('sensitivity_top_5pct'))} |"
        )
    return lines


def _recalibration_line(label: str, recalibration: Mapping[str, Any]) -> str:
    verdict = "applied" if recalibration["applied"] else "not needed"
    return f"- Recalibration of {label}: **{verdict}** - {recalibration['reason']}."


def champion_section(choice: Mapping[str, Any]) -> list[str]:
    """Which candidate ships and why: the rule, both models' AUROC with intervals, the paired difference."""
    lines = [
        "## Champion choice",
        "",
        f"Rule: {choice['rule']}. Both models are scored on the same temporal test set; AUROC 95% CIs are "
        f"percentile bootstraps ({choice['bootstrap_samples']} resamples of people, seed {choice['seed']}), and the "
        "difference's interval is paired (both models on the same resamples). The interval is reported; the rule "
        "uses the point estimates.",
        "",
        f"| population | people | events | {MODEL_LABELS[LIGHTGBM]} AUROC (95% CI) | {MODEL_LABELS[LOGISTIC]} AUROC "
        f"(95% CI) | difference (95% CI) | LightGBM better by at least {choice['margin']:g} |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in choice["comparisons"]:
        lines.append(
            f"| {POPULATIONS.get(c['population'], c['population'])} | {_num(c['n'])} | {_num(c['events'])} | "
            f"{_num(c['lightgbm_auroc'])} ({_ci(c['lightgbm_ci'])}) | {_num(c['logistic_auroc'])} "
            f"({_ci(c['logistic_ci'])}) | {_num(c['difference'], 4)} ({_ci(c['difference_ci'], 4)}) | "
            f"{'yes' if c['passed'] else 'no'} |"
        )
    lines += ["", f"**{MODEL_LABELS[choice['winner']]} is deployed.** {choice['reason']}.", ""]
    return lines


def calibration_section(
    populations: Mapping[str, Any], subgroups: pd.DataFrame, winner: str, slope_range: Sequence[float]
) -> list[str]:
    """Calibration slope and intercept of the deployed model overall and in every reported subgroup."""
    low, high = slope_range
    lines = [
        "### Calibration by subgroup (deployed model)",
        "",
        "Logistic recalibration of the outcome on logit(predicted risk), `logit P(y=1) = intercept + slope x "
        f"logit(p)`, in each group: target slope {low:g}-{high:g}. Slope below 1: predicted risks too extreme "
        "(the highest too high, the lowest too low); above 1: too modest. Calibration-in-the-large is the intercept "
        "with the slope fixed at 1 (ideal 0). Groups with too few events are not judged.",
        "",
        "| population | group | people | events | slope | intercept | in the large | O/E | slope in target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = subgroups.loc[subgroups["model"] == winner] if not subgroups.empty else subgroups
    for population in POPULATIONS:
        m = populations.get(population, {}).get(winner)
        if m is None:
            continue
        verdict = "yes" if m.get("calibration_slope_in_target") else "**no**"
        lines.append(
            f"| {population} | all | {_num(m.get('n'))} | {_num(m.get('events'))} | "
            f"{_num(m.get('calibration_slope'), 2)} | {_num(m.get('calibration_intercept'), 2)} | "
            f"{_num(m.get('calibration_in_the_large'), 2)} | {_num(m.get('oe_ratio'), 2)} | {verdict} |"
        )
        part = rows.loc[rows["population"] == population] if not rows.empty else rows
        for row in part.itertuples(index=False):
            verdict = "not judged" if not row.judged else ("**no**" if row.flag_slope_outside_target else "yes")
            lines.append(
                f"| {population} | {row.dimension} = {row.level} | {row.n:,} | {row.events:,} | "
                f"{_num(row.calibration_slope, 2)} | {_num(row.calibration_intercept, 2)} | "
                f"{_num(row.calibration_in_the_large, 2)} | {_num(row.oe_ratio, 2)} | {verdict} |"
            )
    lines.append("")
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
    winner = deployed_kind(metrics)
    primary = populations["65plus"].get(winner, {})
    recalibrations: Mapping[str, Mapping[str, Any]] = training["recalibration"]
    lines: list[str] = [
        f"# Model card: {name} ({version})",
        "",
        f"Predicts the 12-month risk of **{OUTCOME_HEADLINE.get(outcome, outcome.replace('_', ' '))}** "
        f"for registered people aged 65+ with **{MODEL_LABELS.get(winner, winner)}** (see Champion choice). "
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
        "- The list shows each person's top 3 reasons (the features that raised their risk most, by the deployed "
        "model's SHAP contributions); they explain the model, not the cause of the person's ill health.",
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
        f"{_num(populations['frail'].get(winner, {}).get('n'))} people at the test date.",
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
        "- Logistic regression, the simpler candidate: L2-regularised on the same features "
        "(non-negative features log1p-transformed, NULL -> training median plus a missing-value indicator, "
        "standardised, and each feature also multiplied by standardised age so its weight can change with age), "
        f"on every training person; C={training['hyper_parameters']['logistic']['C']:g} chosen by "
        f"{training['hyper_parameters']['logistic'].get('cv_folds', 5)}-fold stratified cross-validated log loss. Its "
        "reasons are its exact SHAP values (coefficient x standardised value).",
    ]
    lines += [
        _recalibration_line(MODEL_LABELS.get(model, model), recalibration)
        for model, recalibration in recalibrations.items()
    ]
    if any(recalibration["applied"] for recalibration in recalibrations.values()):
        lines.append(
            "- Reported risks are the recalibrated ones; the tables also show each model before recalibration."
        )
    lines += [
        "- Baselines on the same people: HFRS alone (one-variable logistic fit) and the rule 'emergency admission "
        "in the last 12 months'.",
        "",
    ]
    lines += champion_section(metrics["champion_choice"])
    lines += [
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
        lines += _performance_table(populations.get(population, {}), winner)
        lines.append("")
    if metrics.get("oracle_coverage") is not None:
        lines += [
            f"Oracle: the synthetic generator's true probabilities, known for {_pct(metrics['oracle_coverage'])} of "
            "test people - the ceiling any model could reach on this data.",
            "",
        ]
    lines += ["![calibration](calibration.png)", ""]
    lines += calibration_section(populations, subgroups, winner, training["calibration_slope_range"])
    lines += ["### AUROC within age bands", ""]
    lines += ["| population | model | " + " | ".join(AGE_BANDS) + " |", "|---|---|" + "---|" * len(AGE_BANDS)]
    for population, by_model in metrics.get("auroc_by_age_band", {}).items():
        for model, bands in by_model.items():
            values = " | ".join(_num(bands.get(band)) for band in AGE_BANDS)
            lines.append(f"| {population} | {_label(model, winner)} | {values} |")
    lines += [
        "",
        "## Fairness (equality duty)",
        "",
        "Every metric is repeated by sex, age band, ethnic group, IMD quintile and place, for everyone 65+ and for "
        f"the frail cohort: `subgroups.csv`. Rule: {flag_rule_text}. With dozens of subgroups a few flags can arise "
        "by chance: a flag is a prompt to look (and to check the subgroup's data quality), not a verdict. "
        "Subgroup AUROC intervals are bootstrapped for LightGBM and the logistic regression.",
        "",
    ]
    primary_rows = subgroups.loc[subgroups["model"] == winner] if not subgroups.empty else subgroups
    flagged = flagged_rows(primary_rows)
    deployed_label = MODEL_LABELS.get(winner, winner)
    if flagged.empty:
        lines.append(f"No subgroup is flagged for the deployed model ({deployed_label}).")
    else:
        lines += [
            f"Flagged subgroups for the deployed model ({deployed_label}):",
            "",
            "| population | dimension | group | n | events | AUROC (95% CI) | O/E | calibration slope | flag |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in flagged.to_dict(orient="records"):
            flags = [text for column, text in FLAGS.items() if row.get(column)]
            lines.append(
                f"| {row['population']} | {row['dimension']} | {row['level']} | {row['n']:,} | {row['events']:,} | "
                f"{_num(row['auroc'])} ({_num(row['auroc_ci_low'])}-{_num(row['auroc_ci_high'])}) | "
                f"{_num(row['oe_ratio'], 2)} | {_num(row['calibration_slope'], 2)} | {', '.join(flags)} |"
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
        "`model.txt` (the LightGBM candidate, native format), `logistic_baseline.json` (the logistic candidate: "
        "pre-processing and coefficients), `features.json`, `training.json` (windows, hyper-parameters, search, "
        "each candidate's recalibration), `metrics.json` (with the champion choice), `calibration.csv`, "
        "`subgroups.csv`, `calibration.png`, `importance.png`, `drift_reference.json` (the deployed model's "
        "training bins for PSI).",
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
