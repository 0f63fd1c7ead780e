"""Typed, frozen settings read once from ``popheath.toml`` (all keys optional; defaults below).

Precedence: built-in defaults < ``popheath.toml`` < environment variable ``POPHEATH_CONFIG``
naming another file < CLI flags (applied with :func:`with_overrides`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from popheath.errors import ConfigError

CONFIG_ENV = "POPHEATH_CONFIG"
# The repository root: sql/, expectations/ and reference data are read from here (editable install).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = Path("popheath.toml")


@dataclass(frozen=True)
class Paths:
    """Where inputs, the warehouse and outputs live. Relative paths resolve against the config file."""

    raw: Path = Path("data/raw")
    truth: Path = Path("data/truth")
    warehouse: Path = Path("data/warehouse/popheath.duckdb")
    partitions: Path = Path("data/partitions")
    outputs: Path = Path("data/outputs")
    models: Path = Path("models")
    mappings: Path | None = None
    # The ICS's own copies of licensed reference tables that replace shipped ones of the same file name
    # (e.g. ecds_diagnosis_icd10.csv from the ECDS ETOS Diagnosis refset, imd_lsoa.csv); see clinical/codelists.
    # Also the practice-to-PCN file a PDS spine needs (epcn_core_partner_details.csv; linkage/population_reference).
    reference: Path | None = None
    # Where DuckDB spills what does not fit in duckdb.memory_limit (default: <warehouse>.tmp beside
    # the warehouse). Point it at a disk with room: a 1M-person build can spill several GB.
    spill: Path | None = None


@dataclass(frozen=True)
class DuckDBSettings:
    """Resource limits handed to every DuckDB connection."""

    memory_limit: str = "4GB"
    threads: int = 2


@dataclass(frozen=True)
class IngestSettings:
    """How raw deliveries are read and checked."""

    mapping: str | None = None
    # The delivery layout (connector) per source where it differs from `mapping`, e.g.
    # {apc = "hes"}: connectors are mapping files in src/popheath/quality/mappings or paths.mappings.
    # A source that neither names is read with `mapping` when that file covers it (hes covers APC,
    # A&E and OP), else with its national default (quality.mapping.DEFAULT_CONNECTORS: APC and OP as SUS+
    # from NCDR, A&E as ECDS, community care as CSDS v1.6, social care as ASC-CLD, the population as PDS).
    # Unset, every source not in `connectors` is read with its national default.
    connectors: dict[str, str] = field(default_factory=dict)
    sentinel_dates: tuple[str, ...] = ("1800-01-01", "1801-01-01", "1900-01-01", "9999-12-31")
    max_future_days: int = 0
    encoding: str = "utf-8"
    # Rows per source the load keeps for Great Expectations (all rows below this, a seeded sample above);
    # `popheath data-docs` validates them off the critical path. data_docs = false keeps none.
    gx_sample_rows: int = 5_000
    data_docs: bool = True
    # Fail the run (non-zero exit) when any file was rejected; other deliveries still load first.
    fail_on_rejected: bool = True
    # Multi-table deliveries (CSDS, ECDS, SUS+ APC) whose files carry the same headers are assembled
    # together, up to this many megabytes of files at a time: fewer, larger statements. Larger uses
    # more memory while assembling.
    assembly_batch_mb: int = 128


@dataclass(frozen=True)
class LinkSettings:
    """Linkage: Splink threshold, downstream minimum, ICS boundary (see ``src/popheath/linkage/model_spec.json``).

    ``match_threshold`` applies to the record-level probability (the best candidate's share of all
    candidates' evidence), so two equally good candidates never reach it. ``model_spec`` names an
    alternative model specification file (default: the one shipped in ``popheath/linkage``).
    ``ics_la_codes``: local authorities inside the ICS (empty = all); ASC events from others are
    flagged ``out_of_ics_provider``.
    """

    match_threshold: float = 0.875
    min_link_probability: float = 0.875
    include_out_of_area: bool = False
    include_out_of_ics_providers: bool = True
    ics_provider_prefixes: tuple[str, ...] = ()
    ics_la_codes: tuple[str, ...] = ()
    model_spec: Path | None = None


@dataclass(frozen=True)
class CohortSettings:
    """Who is in the modelled and frail cohorts."""

    min_age: int = 65
    frail_hfrs_min: float = 5.0
    frail_include_care_home: bool = True
    frail_include_social_care: bool = True
    # Lookbacks before the as-of date: HFRS 2 years (Gilbert et al. 2018); Charlson, Elixhauser and
    # the long-term condition count (a local choice); palliative-care coding for the end-of-life proxy.
    hfrs_lookback_years: int = 2
    comorbidity_lookback_years: int = 5
    end_of_life_lookback_months: int = 12


@dataclass(frozen=True)
class ModelSettings:
    """Training windows, gate and drift thresholds."""

    train_as_of: date = date(2023, 4, 1)
    test_as_of: date = date(2024, 4, 1)
    seed: int = 20240401
    promotion_margin: float = 0.005
    # Champion choice within one training run (modelling.selection): the simpler logistic regression
    # is deployed unless LightGBM's test AUROC beats it by at least this much, overall and in the frail cohort.
    champion_auroc_margin: float = 0.01
    psi_warn: float = 0.2
    bootstrap_samples: int = 200
    # Outcomes with a model, and those ``popheath score`` scores with their champion.
    outcomes: tuple[str, ...] = ("acsc_admission_12m", "emergency_admission_12m")
    score_models: tuple[str, ...] = ("acsc_admission_12m",)
    # Share of the training date's people held out for early stopping, tuning and recalibration.
    validation_fraction: float = 0.2
    # Subgroup flags (modelling.metrics.FlagRule): judged only with at least this many events;
    # discrimination flagged when AUROC is at least the margin below overall and its CI upper bound
    # is below overall; calibration when observed/expected is outside [1 / (1 + tol), 1 + tol].
    subgroup_min_events: int = 20
    subgroup_oe_tolerance: float = 0.25
    subgroup_auroc_margin: float = 0.03
    # Target range of the calibration slope, overall and in every subgroup; outside it is flagged.
    calibration_slope_range: tuple[float, float] = (0.9, 1.1)
    # None: src/popheath/clinical/feature_dictionary.yaml
    feature_dictionary: Path | None = None


@dataclass(frozen=True)
class ListSettings:
    """Segments, risk tiers, list sizing and release retention (see ``src/popheath/lists``).

    ``model_name``: which model's scores rank the lists ("" = the only model scored at the as-of
    date, or the one whose name contains "acsc"). ``tier_cutoffs``: upper bounds of the very high,
    high and moderate tiers as fractions of the scored population. ``new_hold_days``: the previous
    release is compared (change flags, left the list) only if its as-of date is at most this many
    days earlier; otherwise everyone is flagged new. ``segment_rules``: a rules file replacing the
    shipped ``lists/segments.yaml``. ``row_rules``: a file replacing the shipped
    ``lists/row_rules.yaml`` (in hospital now, already managed, impactability: parameters and sources).
    """

    capacity_per_pcn: int = 100
    keep_releases: int = 5
    new_hold_days: int = 90
    model_name: str = ""
    tier_cutoffs: tuple[float, ...] = (0.005, 0.05, 0.20)
    segment_rules: Path | None = None
    row_rules: Path | None = None
    # Coordinator feedback (``lists/feedback.py``): an action recorded within ``new_hold_days`` before
    # the as-of date holds a person off the "new" flag. Notes are cut to this length, never exported.
    feedback_note_max_chars: int = 500
    # Data coverage (``lists/coverage.py``): a practice whose latest record from a source is older than
    # this many days before the as-of date (or that has none) is flagged on its list.
    coverage_stale_days: int = 120
    # Who can be helped (``evaluation/suitability.py``): optional, off by default; fitted only with at
    # least ``suitability_min_feedback`` judged people (suitable and not suitable) in the PCNs' feedback.
    suitability_model: bool = False
    suitability_min_feedback: int = 60


@dataclass(frozen=True)
class EvaluationSettings:
    """``popheath evaluate-lists``: did the lists help (see ``src/popheath/evaluation``).

    Contacted people are matched to uncontacted people of similar risk within exact strata (age band,
    segment, PCN); ``caliper`` is the largest allowed difference in risk. ``horizons_months``: follow-up
    windows after the list date; ``bootstrap_samples``: resamples of matched pairs for the intervals.
    """

    horizons_months: tuple[int, ...] = (6, 12)
    caliper: float = 0.05
    controls_per_case: int = 1
    bootstrap_samples: int = 500
    seed: int = 20250401
    match_on_practice: bool = False


@dataclass(frozen=True)
class CapitationSettings:
    """Costing year and disclosure control."""

    year_start: date = date(2024, 4, 1)
    price_base_year: str = "2023/24"
    suppress_below: int = 10
    round_to: int = 5
    # (n, k) dominance rule (capitation.disclosure): a cell whose n costliest people hold over k% of its cost is hidden.
    dominance_n: int = 2
    dominance_k: float = 85.0
    bootstrap_samples: int = 500
    outlier_cap_percentile: float = 99.5
    include_out_of_area: bool = False
    include_out_of_ics_providers: bool = True
    bootstrap_seed: int = 20240401
    reference_dir: Path | None = None
    model_rounds: int = 250
    model_max_train_people: int = 400_000


@dataclass(frozen=True)
class StalenessLimits:
    """Days without new activity (population: since its latest delivery month) before a source is stale.

    Monthly flows (SUS+ APC and OP, ECDS, CSDS, the registration spine) arrive a few weeks after the month
    they cover, so 45 days is one month of data plus two weeks for its delivery. ASC-CLD is a quarterly
    return (DHSC, Adult Social Care Client Level Data), so 120 days is a quarter plus four weeks. 0 switches
    the check off for a source the ICS does not receive.
    """

    population: int = 45
    apc: int = 45
    ecds: int = 45
    opa: int = 45
    csds: int = 45
    asc: int = 120


@dataclass(frozen=True)
class FreshnessSettings:
    """The freshness gate (``popheath freshness``): a stale source fails the nightly run before publish.

    ``allow_stale`` publishes anyway (the report shows it in red); set it for one run with
    ``popheath freshness --allow-stale`` or the nightly DAG's ``allow_stale`` param, not here.
    """

    max_days: StalenessLimits = field(default_factory=StalenessLimits)
    allow_stale: bool = False


@dataclass(frozen=True)
class RebuildSettings:
    """Incremental nightly (``popheath.clinical.incremental``): rebuild only what a night's deliveries touched.

    ``full`` rebuilds the clinical tables from all staging rows and relinks even when staging is
    unchanged; set it for one run with ``--full`` on ``popheath features``, ``link`` or ``demo``, or
    the nightly DAG's ``full`` param. ``max_affected_share``: above this share of people touched, a
    full build is cheaper than deleting and inserting theirs, and is used. At 100k people one month
    of deliveries touched 26% of people, and rebuilding them took longer than the full build
    (``make bench``, 2026-12-03: 17 s against 12.6 s), so the default keeps the incremental path for
    smaller nights (a late record, a restated month of one source).
    """

    full: bool = False
    max_affected_share: float = 0.1


@dataclass(frozen=True)
class AlertSettings:
    """Where a failed Airflow task is reported (``popheath.alerts``); nothing is sent when both are empty.

    ``webhook_url`` receives a JSON POST (Teams, Slack or any HTTP endpoint). Email goes through
    ``smtp_host`` from ``email_from`` to ``email_to``; the SMTP password, if the server needs one, is
    read from the environment variable named by ``smtp_password_env``, never from this file.
    """

    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password_env: str = "POPHEATH_SMTP_PASSWORD"
    email_from: str = ""
    email_to: tuple[str, ...] = ()
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ServeSettings:
    """Coordinator web page: address, hashed per-user tokens, audit log and session length.

    ``tokens_file`` (TOML or JSON) maps user -> {pcn, token_sha256}; create entries with
    ``popheath serve --add-token USER --pcn PCN``. ``audit_log`` defaults to
    ``<paths.outputs>/serve/audit.jsonl``.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    tokens_file: Path | None = None
    audit_log: Path | None = None
    session_minutes: int = 480
    timeline_months: int = 24


@dataclass(frozen=True)
class Settings:
    """All settings for one run. Build with :func:`load`."""

    paths: Paths = field(default_factory=Paths)
    duckdb: DuckDBSettings = field(default_factory=DuckDBSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    cohort: CohortSettings = field(default_factory=CohortSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    lists: ListSettings = field(default_factory=ListSettings)
    capitation: CapitationSettings = field(default_factory=CapitationSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    freshness: FreshnessSettings = field(default_factory=FreshnessSettings)
    rebuild: RebuildSettings = field(default_factory=RebuildSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    as_of: date = date(2025, 4, 1)
    seed: int = 42


T = TypeVar("T")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a TOML value to the dataclass field's declared type."""
    text = str(annotation)
    try:
        if "Path" in text:
            return Path(value)
        if "date" in text and not isinstance(value, date):
            return date.fromisoformat(str(value))
        if text.startswith("tuple"):
            return tuple(value)
        if annotation is float:
            return float(value)
        if annotation is int or annotation is bool:
            if annotation is bool and not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
            return annotation(value)
    except ValueError as error:
        raise ConfigError(f"setting {key}: {error}") from error
    return value


def _build(cls: type[T], table: dict[str, Any], prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    unknown = set(table) - set(hints)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(prefix + u for u in unknown))}")
    values: dict[str, Any] = {}
    for name, value in table.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {prefix}{name}: expected a [{prefix}{name}] table")
            values[name] = _build(annotation, value, f"{prefix}{name}.")  # type: ignore[arg-type]
        else:
            values[name] = _coerce(value, annotation, prefix + name)
    return cls(**values)


def _resolve_paths(paths: Paths, base: Path) -> Paths:
    resolved: dict[str, Any] = {
        f.name: (base / getattr(paths, f.name)) if getattr(paths, f.name) is not None else None
        for f in dataclasses.fields(paths)
    }
    return Paths(**resolved)


def load(path: Path | None = None) -> Settings:
    """Read settings from ``path``, ``$POPHEATH_CONFIG`` or ``./popheath.toml``; defaults if none exists."""
    chosen = path or (Path(os.environ[CONFIG_ENV]) if CONFIG_ENV in os.environ else DEFAULT_CONFIG)
    table: dict[str, Any] = {}
    if chosen.exists():
        try:
            table = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{chosen}: not valid TOML: {error}") from error
    elif path is not None:
        raise ConfigError(f"{chosen}: configuration file not found")
    settings = _build(Settings, table, "")
    base = chosen.resolve().parent if chosen.exists() else Path.cwd()
    return dataclasses.replace(settings, paths=_resolve_paths(settings.paths, base))


def with_overrides(settings: Settings, **overrides: Any) -> Settings:
    """Return settings with dotted-key overrides applied, e.g. ``{"paths.raw": Path("x")}``; None is ignored."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, name = dotted.replace("__", ".").rpartition(".")
        if section:
            inner = dataclasses.replace(getattr(settings, section), **{name: value})
            settings = dataclasses.replace(settings, **{section: inner})
        else:
            settings = dataclasses.replace(settings, **{name: value})
    return settings
