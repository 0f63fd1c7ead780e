"""Write the link run's folder: the link-quality report (JSON, Markdown with PNG charts), settings, Splink model.

The report is JSON for machines, Markdown with PNG charts for people.

Splink's own match-weights chart is saved beside it as self-contained HTML (scripts inlined, opens
offline). The PNG version is drawn with matplotlib from the same trained parameters so the
Markdown report shows the chart without a browser or JavaScript.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from popheath.config import Settings  # noqa: E402
from popheath.linkage.candidate_scoring import ProbabilisticRun  # noqa: E402
from popheath.linkage.probabilistic import LevelParameter  # noqa: E402
from popheath.linkage.spec import LinkageSpec  # noqa: E402

log = logging.getLogger(__name__)

PROBABILITY_BINS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0000001)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _interval(chosen: dict[str, Any]) -> str:
    """The precision's 95% interval in words, or nothing when no link was made."""
    if chosen.get("precision_low") is None:
        return ""
    return f" (95% interval {_fmt(chosen['precision_low'])}-{_fmt(chosen['precision_high'])})"


def match_weights_png(parameters: Sequence[LevelParameter], prior_weight: float, path: Path) -> Path:
    """Horizontal bar chart of partial match weights (log2 Bayes factors) per comparison level."""
    rows = [p for p in parameters if not p.is_null_level]
    labels = ["prior (probability two random records match)"] + [f"{p.comparison}: {p.level}" for p in rows]
    weights = [prior_weight] + [p.match_weight if p.match_weight is not None else 0.0 for p in rows]
    colours = ["#7f7f7f"] + ["#2b8cbe" if w >= 0 else "#d7301f" for w in weights[1:]]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    ax.barh(range(len(labels)), weights, color=colours)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_title("Match weights of the trained linkage model")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def probability_histogram_png(counts: Sequence[int], path: Path) -> Path:
    """Bar chart of record-level match probabilities of ASC events without a token (best candidate)."""
    labels = [
        f"{lo:.2f}-{min(hi, 1.0):.2f}" for lo, hi in zip(PROBABILITY_BINS[:-1], PROBABILITY_BINS[1:], strict=True)
    ]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(range(len(counts)), counts, color="#2b8cbe")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("ASC events")
    ax.set_xlabel("record-level match probability of the best candidate")
    ax.set_title("Match probability distribution")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def precision_recall_png(curves: dict[str, list[dict[str, Any]]], threshold: float, path: Path) -> Path:
    """Precision and recall against the threshold, one line pair per evaluation (truth, holdout)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, curve in curves.items():
        xs = [row["threshold"] for row in curve]
        ax.plot(xs, [row["precision"] for row in curve], marker="o", label=f"precision ({name})")
        ax.plot(xs, [row["recall"] for row in curve], marker="s", linestyle="--", label=f"recall ({name})")
    ax.axvline(threshold, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("match threshold (record-level probability)")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Precision/recall trade-off of probabilistic links")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _accuracy_table(curve: list[dict[str, Any]], threshold: float) -> list[str]:
    lines = [
        "| threshold | linked | true links | linkable | precision | recall | F1 |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in curve:
        mark = " (chosen)" if abs(row["threshold"] - threshold) < 1e-9 else ""
        lines.append(
            f"| {row['threshold']}{mark} | {_fmt(row['linked'])} | {_fmt(row['true_positives'])} | "
            f"{_fmt(row['linkable'])} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} |"
        )
    return lines


def _group_table(rows: list[dict[str, Any]]) -> list[str]:
    """Untraced social care events by ethnic group and IMD quintile (linkage errors fall unevenly)."""
    if not rows:
        return []
    scored = "precision" in rows[0]
    lines = [
        "",
        "## Untraced social care events by ethnic group and IMD quintile",
        "",
        "Linkage errors fall unevenly across groups, so link rates and accuracy are shown per group: the true "
        "person's group where the truth file names them, else the record's own (its recorded ethnic category, "
        "the IMD of its recorded LSOA). The ceiling is the recall left after exact ties."
        if scored
        else "Linkage errors fall unevenly across groups, so link rates are shown per group of the record "
        "(its recorded ethnic category, the IMD of its recorded LSOA; quintile 1 = most deprived).",
        "",
    ]
    if scored:
        lines += [
            "| group | events | linked % | linkable | precision | recall | ceiling | recall / ceiling |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
    else:
        lines += ["| group | events | linked % |", "|---|---:|---:|"]
    for row in rows:
        label = row["group"] if row["dimension"] != "imd_quintile" else f"IMD quintile {row['group']}"
        cells = [label, _fmt(row["events"]), _fmt(row["linked_percent"], 2)]
        if scored:
            cells += [
                _fmt(row["linkable"]),
                _fmt(row["precision"]),
                _fmt(row["recall"]),
                _fmt(row["ceiling"]),
                _fmt(row["recall_of_ceiling"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """Render the report dictionary as Markdown (charts referenced as files beside it)."""
    run = report["run"]
    lines = [
        f"# Link-quality report, as of {run['as_of']}",
        "",
        f"Generated {run['generated_at']}; model specification version {run['spec_version']}; "
        f"match threshold {run['match_threshold']}; downstream minimum link probability "
        f"{run['min_link_probability']}.",
        "",
        "## Link rates per source",
        "",
        "| source | records | deterministic | client id | probabilistic | unlinked | linked % | out of area "
        "| out-of-ICS provider |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["sources"]:
        lines.append(
            f"| {row['source']} | {_fmt(row['records'])} | {_fmt(row['deterministic'])} | "
            f"{_fmt(row.get('client_id', 0))} | {_fmt(row['probabilistic'])} | {_fmt(row['unlinked'])} | "
            f"{row['linked_percent']:.2f} | "
            f"{_fmt(row['out_of_area'])} | {_fmt(row['out_of_ics_provider'])} |"
        )
    asc = report["asc_without_token"]
    lines += [
        "",
        "## Social care events without a token",
        "",
        f"{_fmt(asc['records'])} events had no NHS-number token. Their outcomes, first through the local "
        "authority's client id, then (clients with no token on any event) by probabilistic linkage of the "
        "client:",
        "",
        "| outcome | events | meaning |",
        "|---|---:|---|",
        f"| client token | {_fmt(asc['status'].get('client_token', 0))} | other events of the same LA client "
        "carry one token: linked to it (method client_id) |",
        f"| conflicting tokens | {_fmt(asc['status'].get('conflicting_tokens', 0))} | the client's events carry "
        f"different tokens ({_fmt(asc.get('conflicting_token_clients', 0))} clients): left unlinked for review |",
        f"| linked | {_fmt(asc['status'].get('linked', 0))} | best candidate's record-level probability >= threshold "
        f"(for {_fmt(asc.get('clients_linked_after_rival_assigned', 0))} clients, once a rival candidate was "
        "assigned to another client of the LA) |",
        f"| ambiguous | {_fmt(asc['status'].get('ambiguous', 0))} | best candidate alone would pass, but other "
        "spine people match about as well: left unlinked |",
        f"| below threshold | {_fmt(asc['status'].get('below_threshold', 0))} | best candidate too weak |",
        f"| no candidate | {_fmt(asc['status'].get('no_candidate', 0))} | nobody in the spine shares the blocking "
        "fields |",
        "",
        f"Exact ties: {_fmt(asc.get('exact_ties', {}).get('clients', 0))} untraced client records "
        f"({_fmt(asc.get('exact_ties', {}).get('events', 0))} events) match two or more residents on every "
        "identifier they hold (birth year and month, sex, LSOA, and practice and ethnic category where "
        "recorded). Those residents differ only in other evidence (a service starting at one's hospital "
        "discharge, GP registration, another client of the LA taking one of them), so these events bound "
        "what the identifiers alone can link.",
        "",
        f"Mean probability of the links made (expected precision if the model is calibrated): "
        f"{_fmt(asc.get('mean_linked_probability'))}. Links below the downstream minimum "
        f"({run['min_link_probability']}): {_fmt(asc.get('linked_below_min_link_probability'))}.",
        "",
        "![match probability distribution](match_probability.png)",
        "",
        "| probability band | events |",
        "|---|---:|",
    ]
    for band in report["match_probability_distribution"]:
        lines.append(f"| {band['band']} | {_fmt(band['events'])} |")
    model = report.get("model")
    if model:
        lines += [
            "",
            "## Model",
            "",
            f"Prior probability that a random (event, person) pair matches: {model['prior']:.3g} "
            f"(share of tokened ASC events whose token is in the spine, {model['match_rate']:.3f}, over "
            f"{_fmt(model['spine_size'])} spine people). Candidate pairs scored and kept: "
            f"{_fmt(model['candidate_pairs'])}.",
            "",
            "Splink's interactive chart: [match_weights.html](match_weights.html) (opens offline). Static version:",
            "",
            "![match weights](match_weights.png)",
            "",
            "| comparison | level | m | u | match weight |",
            "|---|---|---:|---:|---:|",
        ]
        for p in model["parameters"]:
            if p["is_null_level"]:
                continue
            lines.append(
                f"| {p['comparison']} | {p['level']} | {_fmt(p['m_probability'])} | "
                f"{_fmt(p['u_probability'], 6)} | {_fmt(p['match_weight'], 2)} |"
            )
        if model.get("untrained"):
            lines += ["", "Levels without trained parameters: " + "; ".join(model["untrained"])]
    for key, title, note in (
        (
            "truth",
            "Accuracy against the synthetic truth",
            "Events without a token (client-id and probabilistic links together), scored against "
            "`truth/asc_links.parquet`.",
        ),
        (
            "holdout",
            "Accuracy on the holdout (tokened clients with every token hidden)",
            "An estimate of the probabilistic step for real data, where no truth exists. It assumes clients "
            "lose their token independently of how well their other fields are recorded.",
        ),
    ):
        block = report.get(key)
        if not block:
            continue
        chosen = block["at_threshold"]
        lines += [
            "",
            f"## {title}",
            "",
            note,
            "",
            f"At the chosen threshold {run['match_threshold']}: precision {_fmt(chosen['precision'])}"
            f"{_interval(chosen)}, recall {_fmt(chosen['recall'])}, F1 {_fmt(chosen['f1'])} "
            f"({_fmt(chosen['true_positives'])} true links of {_fmt(chosen['linked'])} made; "
            f"{_fmt(chosen['linkable'])} linkable).",
            "",
            *_accuracy_table(block["curve"], run["match_threshold"]),
        ]
        for step, label in (("client_id_step", "through the client id"), ("probabilistic_step", "by Splink")):
            part = block.get(step)
            if part:
                at = part["at_threshold"]
                lines += [
                    "",
                    f"Events linked {label}: precision {_fmt(at['precision'])}, recall {_fmt(at['recall'])} "
                    f"({_fmt(at['true_positives'])} true of {_fmt(at['linked'])} linked; "
                    f"{_fmt(at['linkable'])} linkable of {_fmt(at['records'])}).",
                ]
    if report.get("truth") or report.get("holdout"):
        lines += ["", "![precision and recall by threshold](precision_recall.png)"]
    lines += _group_table(report.get("by_group") or [])
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    lines += ["", "Settings used: `settings.json`; trained model: `splink_model.json`.", ""]
    return "\n".join(lines)


def write(report: dict[str, Any], parameters: Sequence[LevelParameter], folder: Path) -> list[Path]:
    """Write link_quality.json, link_quality.md and its PNG charts into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        probability_histogram_png(
            [b["events"] for b in report["match_probability_distribution"]], folder / "match_probability.png"
        )
    ]
    if parameters:
        written.append(
            match_weights_png(parameters, report["model"]["prior_match_weight"], folder / "match_weights.png")
        )
    curves = {key: report[key]["curve"] for key in ("truth", "holdout") if report.get(key)}
    if curves:
        written.append(precision_recall_png(curves, report["run"]["match_threshold"], folder / "precision_recall.png"))
    json_path = folder / "link_quality.json"
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    md_path = folder / "link_quality.md"
    md_path.write_text(markdown(report), encoding="utf-8")
    return [md_path, json_path, *written]


def settings_record(settings: Settings, spec: LinkageSpec, as_of: date, prob: ProbabilisticRun) -> dict[str, Any]:
    """What the run used: link settings, seed, the model specification and the prior (``settings.json``)."""
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


def write_run_folder(
    folder: Path,
    report: dict[str, Any],
    settings: Settings,
    spec: LinkageSpec,
    as_of: date,
    prob: ProbabilisticRun,
) -> list[Path]:
    """Write the report, ``settings.json`` and (when Splink ran) ``splink_model.json`` and ``match_weights.html``."""
    fit = prob.fit
    folder.mkdir(parents=True, exist_ok=True)
    outputs = write(report, fit.parameters if fit else (), folder)
    settings_path = folder / "settings.json"
    settings_path.write_text(json.dumps(settings_record(settings, spec, as_of, prob), indent=2), encoding="utf-8")
    outputs.append(settings_path)
    if fit is not None:
        model_path = folder / "splink_model.json"
        model_path.write_text(json.dumps(fit.model, indent=2, default=str), encoding="utf-8")
        chart_path = folder / "match_weights.html"
        chart_path.write_text(fit.match_weights_html, encoding="utf-8")
        outputs += [model_path, chart_path]
    return outputs
