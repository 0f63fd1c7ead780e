"""Reference implementations of the clinical scores on a frame of (person, code).

These pure functions are what the SQL in ``sql/20_clinical`` is tested against, and what other
implementations (e.g. comorbidipy) are compared with. Every function:

- normalises codes first (:func:`popheath.clinical.normalise.normalise_icd10`; invalid codes are ignored),
- matches a listed code as a prefix of the diagnosis code (``J44`` matches ``J441``),
- counts each code / condition once per person, however often it is recorded,
- returns one row per person present in the input (people with no matching code score 0).

The caller chooses the window (e.g. the HFRS 2-year lookback) by filtering the rows passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import polars as pl

from popheath.clinical.codelists import read_codelist
from popheath.clinical.normalise import _REMOVE_PATTERN, _STRIP_PATTERN, _VALID_PATTERN, normalise_icd10

# Gilbert et al. 2018 (Lancet 391:1775-82): low risk < 5, intermediate 5-15, high > 15.
HFRS_INTERMEDIATE_FROM = 5.0
HFRS_HIGH_ABOVE = 15.0

# Hierarchy rules: when the first (more severe) condition is present the second is not scored.
# Charlson: Quan et al. 2005 (Med Care 43:1130) / Quan et al. 2011 (Am J Epidemiol 173:676).
CHARLSON_HIERARCHY: tuple[tuple[str, str], ...] = (
    ("moderate_severe_liver_disease", "mild_liver_disease"),
    ("diabetes_with_complications", "diabetes_without_complications"),
    ("metastatic_solid_tumour", "any_malignancy"),
)
# Elixhauser et al. 1998 (Med Care 36:8) as used by van Walraven et al. 2009 (Med Care 47:626).
ELIXHAUSER_HIERARCHY: tuple[tuple[str, str], ...] = (
    ("hypertension_complicated", "hypertension_uncomplicated"),
    ("diabetes_complicated", "diabetes_uncomplicated"),
    ("metastatic_cancer", "solid_tumour_without_metastasis"),
)

CharlsonWeights = Literal["charlson", "quan"]


def _as_polars(frame: Any, person: str, code: str) -> pl.DataFrame:
    """Accept a polars or pandas frame; keep the person and code columns, codes as text."""
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame)
    missing = [column for column in (person, code) if column not in frame.columns]
    if missing:
        raise KeyError(f"frame has no column(s) {', '.join(missing)}; it has {', '.join(frame.columns)}")
    return frame.select(pl.col(person), pl.col(code).cast(pl.Utf8))


def normalise_codes(column: pl.Expr) -> pl.Expr:
    """Polars expression with the same rules as :func:`normalise_icd10` (invalid -> null)."""
    cleaned = column.str.replace_all(_REMOVE_PATTERN, "").str.to_uppercase().str.replace(_STRIP_PATTERN, "${1}")
    return pl.when(cleaned.str.contains(f"^{_VALID_PATTERN}$")).then(cleaned).otherwise(None)


def _people(frame: pl.DataFrame, person: str) -> pl.DataFrame:
    return frame.select(person).unique()


def _matches(frame: pl.DataFrame, person: str, code: str, codelist: pl.DataFrame) -> pl.DataFrame:
    """Distinct (person, listed code) pairs where the listed code is a prefix of a person's code."""
    codes = frame.select(pl.col(person), normalise_codes(pl.col(code)).alias("_code")).drop_nulls("_code").unique()
    parts = []
    for length in sorted(codelist["code"].str.len_chars().unique().to_list()):
        listed = codelist.filter(pl.col("code").str.len_chars() == length)
        parts.append(
            codes.with_columns(pl.col("_code").str.slice(0, length).alias("code"))
            .join(listed, on="code", how="inner")
            .select(pl.col(person), *[pl.col(c) for c in listed.columns])
        )
    return pl.concat(parts).unique() if parts else codelist.head(0)


def hfrs(frame: Any, person: str = "person", code: str = "code") -> pl.DataFrame:
    """Hospital Frailty Risk Score per person: columns person, ``hfrs``, ``hfrs_band`` (low/intermediate/high).

    Gilbert et al. 2018: sum of the weights of the 109 three-character ICD-10 codes present, each once.
    Summed in tenths (integers) so scores at exactly 5 and 15 fall in the right band.
    """
    data = _as_polars(frame, person, code)
    weights = read_codelist("ref_hfrs").select("code", (pl.col("weight") * 10).round().cast(pl.Int64).alias("tenths"))
    scored = _matches(data, person, code, weights).group_by(person).agg(pl.col("tenths").sum().alias("tenths"))
    result = (
        _people(data, person)
        .join(scored, on=person, how="left")
        .with_columns((pl.col("tenths").fill_null(0) / 10).round(1).alias("hfrs"))
    )
    return result.select(person, "hfrs", hfrs_band(pl.col("hfrs")).alias("hfrs_band")).sort(person)


def hfrs_band(score: pl.Expr) -> pl.Expr:
    """HFRS risk band: ``low`` < 5, ``intermediate`` 5-15 inclusive, ``high`` > 15 (Gilbert et al. 2018)."""
    return (
        pl.when(score > HFRS_HIGH_ABOVE)
        .then(pl.lit("high"))
        .when(score >= HFRS_INTERMEDIATE_FROM)
        .then(pl.lit("intermediate"))
        .otherwise(pl.lit("low"))
    )


def _flags(data: pl.DataFrame, person: str, code: str, table: str) -> tuple[pl.DataFrame, list[str]]:
    """One boolean column per condition of a comorbidity list (True when any code of it is present)."""
    codelist = read_codelist(table)
    conditions = list(dict.fromkeys(codelist["condition"].to_list()))
    present = _matches(data, person, code, codelist).select(person, "condition").unique()
    wide = _people(data, person)
    if present.height:
        pivoted = present.with_columns(pl.lit(True).alias("_present")).pivot(
            on="condition", index=person, values="_present"
        )
        wide = wide.join(pivoted, on=person, how="left")
    absent = [pl.lit(False).alias(condition) for condition in conditions if condition not in wide.columns]
    return wide.with_columns(absent).with_columns(pl.col(conditions).fill_null(False)), conditions


def _weighted(flags: pl.DataFrame, weights: dict[str, int], hierarchy: Sequence[tuple[str, str]]) -> pl.Expr:
    """Sum of weights of present conditions, a less severe condition dropped when its severe form is present."""
    terms = []
    for condition, weight in weights.items():
        counted = pl.col(condition)
        for severe, mild in hierarchy:
            if condition == mild:
                counted = counted & ~pl.col(severe)
        terms.append(counted.cast(pl.Int64) * weight)
    return pl.sum_horizontal(terms)


def charlson(
    frame: Any, weights: CharlsonWeights = "charlson", person: str = "person", code: str = "code"
) -> pl.DataFrame:
    """Charlson comorbidity score per person (Quan 2005 ICD-10 coding) with one flag per condition.

    ``weights="charlson"``: Charlson et al. 1987; ``weights="quan"``: Quan et al. 2011 updated weights.
    Flags show every condition coded; the score applies the hierarchy rules (``CHARLSON_HIERARCHY``).
    """
    column = {"charlson": "charlson_weight", "quan": "quan_2011_weight"}.get(weights)
    if column is None:
        raise ValueError(f"weights must be 'charlson' or 'quan', got {weights!r}")
    data = _as_polars(frame, person, code)
    flags, conditions = _flags(data, person, code, "ref_charlson")
    table = read_codelist("ref_charlson_weights")
    weight_of = dict(zip(table["condition"].to_list(), table[column].to_list(), strict=True))
    scored = flags.with_columns(_weighted(flags, weight_of, CHARLSON_HIERARCHY).alias("score"))
    return scored.select(person, "score", *conditions).sort(person)


def elixhauser(frame: Any, person: str = "person", code: str = "code") -> pl.DataFrame:
    """Elixhauser comorbidities (Quan 2005 ICD-10 coding) and the van Walraven 2009 score per person.

    A code may flag several conditions (Quan 2005, e.g. I11.0: heart failure and complicated
    hypertension). Flags show every condition coded; the score applies ``ELIXHAUSER_HIERARCHY``.
    """
    data = _as_polars(frame, person, code)
    flags, conditions = _flags(data, person, code, "ref_elixhauser")
    table = read_codelist("ref_elixhauser_weights")
    weight_of = dict(zip(table["condition"].to_list(), table["van_walraven_weight"].to_list(), strict=True))
    scored = flags.with_columns(_weighted(flags, weight_of, ELIXHAUSER_HIERARCHY).alias("score"))
    return scored.select(person, "score", *conditions).sort(person)


def long_term_conditions(frame: Any, person: str = "person", code: str = "code") -> pl.DataFrame:
    """Number of distinct long-term conditions per person (``ref_long_term_conditions``)."""
    data = _as_polars(frame, person, code)
    counted = (
        _matches(data, person, code, read_codelist("ref_long_term_conditions"))
        .group_by(person)
        .agg(pl.col("condition").n_unique().alias("long_term_conditions"))
    )
    return (
        _people(data, person)
        .join(counted, on=person, how="left")
        .with_columns(pl.col("long_term_conditions").fill_null(0).cast(pl.Int64))
        .sort(person)
    )


@dataclass(frozen=True)
class AcscMatch:
    """One ACSC group and condition of an admission's primary diagnosis."""

    code: str
    acsc_group: str
    condition: str
    rule: str = ""


def _prefixes(code: str) -> list[str]:
    return [code[:length] for length in range(len(code), 2, -1)]


@cache
def _acsc_lookup() -> dict[str, tuple[AcscMatch, ...]]:
    """Listed code -> its ACSC rows (a code can be in several groups, e.g. B18.1 chronic and vaccine-preventable)."""
    table = read_codelist("ref_acsc")
    lookup: dict[str, list[AcscMatch]] = {}
    for row in table.iter_rows(named=True):
        lookup.setdefault(row["code"], []).append(
            AcscMatch(row["code"], row["acsc_group"], row["condition"], row["rule"])
        )
    return {code: tuple(matches) for code, matches in lookup.items()}


def acsc_groups(primary_code: str | None) -> tuple[str, ...]:
    """ACSC groups (chronic / acute / vaccine_preventable, sorted) of a primary diagnosis by prefix match alone.

    Ignores the extra rules (procedure exclusions, diagnosis conditions); use :func:`acsc_admission`
    for the full definition.
    """
    return tuple(sorted({match.acsc_group for match in _primary_matches(primary_code)}))


def _primary_matches(primary_code: str | None) -> list[AcscMatch]:
    """The listed rows the code matches, in every group (no code is a prefix of another within a group)."""
    code = normalise_icd10(primary_code)
    if code is None:
        return []
    lookup = _acsc_lookup()
    return [match for prefix in _prefixes(code) for match in lookup.get(prefix, ())]


def _has_prefix(codes: Iterable[str], prefixes: Iterable[str]) -> bool:
    wanted = tuple(prefixes)
    return any(code.startswith(wanted) for code in codes)


def acsc_admission(
    primary_code: str | None, secondary_codes: Iterable[str | None] = (), procedure_codes: Iterable[str | None] = ()
) -> tuple[AcscMatch, ...]:
    """The ACSC groups of an emergency admission, applying the rules of ``ref_acsc_rules`` (see sources.yaml).

    One match per group that passes its rule, sorted by group; empty when none does. ``procedure_codes``
    are OPCS-4 codes, the first being the primary procedure (dots ignored). Each rule is read in the
    scope it states (primary / any procedure, any / secondary diagnosis). The NHS OF 2.3.i episode
    filters (ADMISORC, CLASSPAT, EPISTAT) concern the episode, not the codes, and are applied in
    ``sql/20_clinical/04_clin_spells.sql`` only.
    """
    primary = normalise_icd10(primary_code)
    secondary = [code for code in (normalise_icd10(value) for value in secondary_codes) if code]
    procedures = [value.replace(".", "").strip().upper() for value in procedure_codes if value and value.strip()]
    searched = {
        "primary_procedure": procedures[:1],
        "any_procedure": procedures,
        "secondary_diagnosis": secondary,
        "any_diagnosis": [primary, *secondary] if primary else secondary,
    }
    rules = read_codelist("ref_acsc_rules")
    passed = []
    for match in _primary_matches(primary_code):
        if match.rule:
            own = rules.filter((pl.col("condition") == match.condition) & (pl.col("rule") == match.rule))
            hit = any(
                _has_prefix(searched[applies_to], prefixes)
                for applies_to, prefixes in own.group_by("applies_to").agg("code_prefix").iter_rows()
            )
            if hit != (match.rule == "requires_diagnosis"):
                continue
        passed.append(match)
    return tuple(sorted(passed, key=lambda match: match.acsc_group))


def fall_admission(primary_code: str | None, other_codes: Iterable[str | None] = ()) -> bool:
    """Fall-related admission (OHID Fingertips 22401): primary injury S00-T98 and a W00-W19 cause elsewhere."""
    primary = normalise_icd10(primary_code)
    if primary is None:
        return False
    falls = read_codelist("ref_falls")
    injury = falls.filter(pl.col("category") == "injury")["code"].to_list()
    causes = falls.filter(pl.col("category") == "fall_external_cause")["code"].to_list()
    others = [code for code in (normalise_icd10(value) for value in other_codes) if code]
    return _has_prefix([primary], injury) and _has_prefix(others, causes)
