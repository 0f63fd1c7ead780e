"""The linkage model specification (comparisons, blocking rules, training plan) read from JSON."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popheath.errors import ConfigError, InputError
from popheath.linkage import DEFAULT_SPEC

_REQUIRED_SPLINK_KEYS = ("link_type", "comparisons", "blocking_rules_to_generate_predictions")


@dataclass(frozen=True)
class CandidateRules:
    """How Splink's scored pairs become at most one link per record and one record per person.

    ``assignment_max_rounds`` bounds the one-to-one assignment (08_link_asc_assignment.sql), which
    stops earlier as soon as a round assigns nothing.
    """

    keep_pair_probability_above: float
    death_grace_days: int
    no_match_mass_floor: float
    holdout_max_records: int
    holdout_fraction: float
    default_match_rate: float
    assignment_max_rounds: int = 20


@dataclass(frozen=True)
class TrainingPlan:
    """How the Fellegi-Sunter parameters are estimated: u by random sampling, m by EM per blocking rule."""

    u_max_pairs: float
    em_blocking_rules: tuple[str, ...]
    em_max_pairs: float | None
    m_probability_floor: float
    labelled_max_records: int = 20_000
    labelled_min_records: int = 200


@dataclass(frozen=True)
class LinkageSpec:
    """A parsed ``model_spec.json``: Splink settings plus our training plan and candidate rules."""

    path: Path
    version: str
    splink_settings: dict[str, Any]
    training: TrainingPlan
    candidates: CandidateRules
    raw: dict[str, Any]

    def settings_for_run(
        self,
        probability_two_random_records_match: float,
        fixed_levels: dict[str, dict[str, tuple[float, float]]] | None = None,
        fixed_m: dict[str, dict[str, float]] | None = None,
    ) -> dict[str, Any]:
        """Splink settings with the run's prior and plain-string blocking rules (descriptions are ours).

        ``fixed_levels`` maps comparison -> level label -> (m, u) measured outside Splink; those levels
        are fixed so neither random sampling nor EM overwrites them. ``fixed_m`` maps comparison -> level
        label -> m measured on labelled pairs: only m is fixed (u still comes from random sampling).
        """
        settings = copy.deepcopy(self.splink_settings)
        settings["probability_two_random_records_match"] = probability_two_random_records_match
        for comparison in settings["comparisons"]:
            levels = (fixed_levels or {}).get(comparison.get("output_column_name", ""), {})
            measured = (fixed_m or {}).get(comparison.get("output_column_name", ""), {})
            for level in comparison["comparison_levels"]:
                if level.get("label_for_charts") in measured:
                    level.update(m_probability=measured[level["label_for_charts"]], fix_m_probability=True)
                if level.get("label_for_charts") in levels:
                    m, u = levels[level["label_for_charts"]]
                    level.update(m_probability=m, u_probability=u, fix_m_probability=True, fix_u_probability=True)
        settings["blocking_rules_to_generate_predictions"] = [
            _rule_text(rule) for rule in settings["blocking_rules_to_generate_predictions"]
        ]
        return settings


def _rule_text(rule: Any) -> str:
    if isinstance(rule, str):
        return rule
    if isinstance(rule, dict) and isinstance(rule.get("blocking_rule"), str):
        return str(rule["blocking_rule"])
    raise ConfigError(f"blocking rule {rule!r}: expected a string or an object with 'blocking_rule'")


def load_spec(path: Path | None = None) -> LinkageSpec:
    """Read and check a model specification (default: the one shipped with popheath)."""
    chosen = path or DEFAULT_SPEC
    try:
        raw = json.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{chosen}: linkage model specification not found") from error
    except json.JSONDecodeError as error:
        raise InputError(chosen, None, "valid JSON", row=error.lineno, got=error.msg) from error
    for section in ("splink_settings", "training", "candidates"):
        if not isinstance(raw.get(section), dict):
            raise InputError(chosen, section, "an object")
    splink_settings = raw["splink_settings"]
    for key in _REQUIRED_SPLINK_KEYS:
        if key not in splink_settings:
            raise InputError(chosen, f"splink_settings.{key}", "a value")
    if splink_settings["link_type"] != "link_only":
        raise InputError(chosen, "splink_settings.link_type", "'link_only'", got=str(splink_settings["link_type"]))
    training, candidates = raw["training"], raw["candidates"]
    try:
        plan = TrainingPlan(
            u_max_pairs=float(training["u_max_pairs"]),
            em_blocking_rules=tuple(_rule_text(rule) for rule in training["em_blocking_rules"]),
            em_max_pairs=float(training["em_max_pairs"]) if training.get("em_max_pairs") else None,
            m_probability_floor=float(training.get("m_probability_floor", 0.0)),
            labelled_max_records=int(training.get("labelled_max_records", 20_000)),
            labelled_min_records=int(training.get("labelled_min_records", 200)),
        )
        rules = CandidateRules(
            keep_pair_probability_above=float(candidates["keep_pair_probability_above"]),
            death_grace_days=int(candidates["death_grace_days"]),
            no_match_mass_floor=float(candidates["no_match_mass_floor"]),
            holdout_max_records=int(candidates["holdout_max_records"]),
            holdout_fraction=float(candidates.get("holdout_fraction", 0.1)),
            default_match_rate=float(candidates.get("default_match_rate", 0.9)),
            assignment_max_rounds=int(candidates.get("assignment_max_rounds", 20)),
        )
    except KeyError as error:
        raise InputError(chosen, str(error.args[0]), "a value") from error
    except (TypeError, ValueError) as error:
        raise InputError(chosen, None, "numbers in training and candidates", got=str(error)) from error
    if not plan.em_blocking_rules:
        raise InputError(chosen, "training.em_blocking_rules", "at least one rule")
    if not 0 < rules.no_match_mass_floor < 1:
        raise InputError(chosen, "candidates.no_match_mass_floor", "a number between 0 and 1")
    if rules.assignment_max_rounds < 1:
        raise InputError(chosen, "candidates.assignment_max_rounds", "a whole number of at least 1")
    return LinkageSpec(
        path=chosen,
        version=str(raw.get("version", "")),
        splink_settings=splink_settings,
        training=plan,
        candidates=rules,
        raw=raw,
    )
