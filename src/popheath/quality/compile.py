"""Compile a source's contract, mapping and GX suite into one set-based DuckDB query.

The query reads the raw rows of a batch of files with one header (a table with every raw column,
any type, plus ``_file`` and ``_row_number``) and returns, per row: ``_file``, ``_row_number``,
the canonical typed columns, ``_flags``, ``_raw_values`` and ``_checks`` (every rule the
row failed, as ``{rule, field, value, severity}``). Rules come from three places:

* the NHS-number scan (``raw_nhs_number``): whole values in the raw columns that
  :func:`nhs_number_columns` found to hold NHS numbers in that file, and numbers embedded in the
  free-text and code columns (:func:`free_text_columns`); the rule is in
  :mod:`popheath.quality.nhs_number`;
* the contract's types (``invalid_date:<col>``, ``invalid_integer:<col>`` ...) and list code
  patterns (``invalid_code:<col>``, a warning);
* the suite's row-level expectations, compiled with GX's semantics (nulls are ignored by value
  rules; regexes search; pairs skip rows with either value missing), named by ``meta.rule``;
* plausible ages (``future_date:birth_year``, ``birth_after_event:<date>``, ``implausible_age``)
  where :mod:`popheath.quality.ages` has rules for the source.

Every value reaches SQL as a named parameter; identifiers are quoted. Compiling the suite to SQL
is what keeps quarantine exact and fast on ten million rows; GX then runs the same suite on a
bounded sample for the Data Docs and a cross-check (see :mod:`popheath.quality.gx_suites`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from popheath.errors import ConfigError
from popheath.quality.ages import age_checks
from popheath.quality.contracts import Column, Contract, Expectation, Suite
from popheath.quality.mapping import Mapping, Resolved, SourceMapping
from popheath.quality.nhs_number import (
    MASK,
    embedded_nhs_number_sql,
    is_nhs_number_column,
    nhs_number_sql,
    ten_digit_sql,
)

log = logging.getLogger(__name__)

# Expectation types compiled to row predicates; table-level ones run in GX only (keys are enforced
# separately as duplicate_row / duplicate_key).
ROW_EXPECTATIONS = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
}
TABLE_EXPECTATIONS = {
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_table_column_count_to_equal",
}
_TYPE_RULE = {
    "DATE": "invalid_date",
    "TIME": "invalid_time",
    "INTEGER": "invalid_integer",
    "BIGINT": "invalid_integer",
    "DOUBLE": "invalid_number",
    "BOOLEAN": "invalid_value",
}


def ident(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Params:
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


@dataclass(frozen=True)
class Compiled:
    """The checking query and its parameters."""

    sql: str
    params: dict[str, Any]
    data_columns: list[str]
    rules: list[str]


def _text(raw: str, raw_type: str, nulls: str | None = None) -> str:
    """A raw column as trimmed text, NULL when blank or a ``nulls`` placeholder; integral floats lose ``.0``.

    NaN, infinities and floats beyond BIGINT keep their own text (``nan``, ``inf``, ``1e+300``),
    which no integer field accepts.
    """
    column = ident(raw)
    if raw_type.upper() in {"FLOAT", "DOUBLE", "REAL"}:
        whole = f"isfinite({column}) AND {column} = trunc({column})"
        integral = f"CASE WHEN {whole} THEN CAST(TRY_CAST({column} AS BIGINT) AS VARCHAR) END"
        column = f"coalesce({integral}, CAST({column} AS VARCHAR))"
    text = f"NULLIF(trim(CAST({column} AS VARCHAR)), '')"
    return f"(CASE WHEN list_contains({nulls}, {text}) THEN NULL ELSE {text} END)" if nulls else text


def _source_text(
    canonical: str, resolved: Resolved, raw_types: dict[str, str], nulls: str | None, params: _Params
) -> str:
    """A scalar column's raw text: its header's (or the extracted part of it), coalesced over its fallbacks."""
    extracts = resolved.extracts.get(canonical, {})
    parts = []
    for raw in resolved.sources(canonical):
        text = _text(raw, raw_types[raw], nulls)
        if raw in extracts:
            text = f"NULLIF(regexp_extract({text}, {params.add(extracts[raw])}, 1), '')"
        parts.append(text)
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


# Raw (Parquet) types already holding a contract type's values: read as they are, with no round trip
# through text and date parsing (most of the cost of checking a typed extract).
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_NATIVE = {
    "DATE": {"DATE"},
    "INTEGER": _INTEGERS,
    "BIGINT": _INTEGERS,
    "DOUBLE": {"FLOAT", "DOUBLE", "REAL"},
}
# Raw types that cannot hold a ten-digit number, so the NHS-number scan skips them.
_NO_DIGITS = {"DATE", "TIME", "TIMESTAMP", "BOOLEAN", "TINYINT", "SMALLINT", "UTINYINT", "USMALLINT"}


def _native(column: Column, raw_type: str, source_mapping: SourceMapping) -> bool:
    """Whether a raw column already has the contract's type and needs no decoding or normalising."""
    return (
        raw_type.upper() in _NATIVE.get(column.type, set())
        and column.normalise is None
        and not source_mapping.values.get(column.name)
    )


def _decode(expr: str, values: dict[str, str | None] | None, params: _Params) -> str:
    if not values:
        return expr
    known = {raw: value for raw, value in values.items() if value is not None}
    decoded = expr
    if known:
        keys = params.add(list(known))
        targets = params.add(list(known.values()))
        # list_position is 1-based and NULL when absent: a vectorised lookup without a CASE per code.
        decoded = f"coalesce({targets}[list_position({keys}, upper({expr}))], {expr})"
    not_known = [raw for raw, value in values.items() if value is None]
    if not_known:
        decoded = f"(CASE WHEN list_contains({params.add(not_known)}, upper({expr})) THEN NULL ELSE {decoded} END)"
    return decoded


def _normalise(expr: str, how: str | None) -> str:
    if how == "upper":
        return f"upper({expr})"
    if how == "icd10":
        # ICD-10: upper case, no dot or spaces, no trailing filler X or '-' (I10X -> I10, j44.1 -> J441).
        # rtrim with a character set instead of regexes: ICD-10 codes never end in a real X.
        return f"NULLIF(rtrim(upper(replace(replace({expr}, '.', ''), ' ', '')), 'X-'), '')"
    if how == "opcs4":
        return f"NULLIF(upper(regexp_replace({expr}, '[. -]', '', 'g')), '')"
    if how == "slug":
        return f"NULLIF(trim(lower(regexp_replace({expr}, '[^A-Za-z0-9]+', '_', 'g')), '_'), '')"
    if how == "zero_pad_2":
        return f"(CASE WHEN regexp_full_match({expr}, '[0-9]') THEN '0' || {expr} ELSE {expr} END)"
    return expr


def _four_digit_year(date: str) -> str:
    """A parsed date, NULL when its year has fewer than four digits.

    DuckDB's ``%Y`` takes one to four digits, so ``01/02/25`` read with ``%d/%m/%Y`` is 1 February
    0025 (and ``25-03-01`` with ``%Y-%m-%d`` is 0025-03-01). No record of care is dated before
    the year 1000: such a date is a two- or three-digit year, ambiguous (1925 or 2025?), and
    quarantined as ``invalid_date``. Only a mapping whose ``date_formats`` lists a ``%y`` format
    (before any ``%Y`` one of the same layout: the first format that parses wins) reads two-digit
    years, with DuckDB's ``%y`` rule (00-68 -> 20xx, 69-99 -> 19xx); no shipped mapping does.
    """
    return f"(CASE WHEN year({date}) >= 1000 THEN {date} END)"


# A decimal number as written in a data file: digits, an optional fraction and exponent. NaN,
# infinities, hexadecimal and digit separators (``1_000``, which DuckDB's cast accepts) are not.
_DECIMAL = "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def _finite(number: str) -> str:
    """A number, NULL when NaN or infinite (also the overflow of a too-large literal such as ``1e400``)."""
    return f"(CASE WHEN isfinite({number}) THEN {number} END)"


def _cast(expr: str, column_type: str, mapping: Mapping, params: _Params) -> str:
    if column_type == "DATE":
        # Formats with %n parse to TIMESTAMP_NS, which ends in 2262: in the same list they would turn
        # 9999-12-31 (a sentinel) into NULL, so they are tried after the others.
        plain = [f for f in mapping.date_formats if "%n" not in f]
        nano = [f for f in mapping.date_formats if "%n" in f]
        parsed = f"CAST(try_strptime({expr}, {params.add(plain)}) AS DATE)"
        if nano:
            parsed = f"coalesce({parsed}, CAST(try_strptime({expr}, {params.add(nano)}) AS DATE))"
        return _four_digit_year(parsed)
    if column_type == "TIME":
        if "%H%M" in mapping.time_formats:
            # HHMM held as a number loses its leading zeros (HES A&E ARRIVALTIME is an integer: 930 is
            # 09:30, 5 is 00:05), and may come float-formatted (930.0).
            expr = (
                f"(CASE WHEN regexp_full_match({expr}, '[0-9]{{1,4}}([.]0+)?') "
                f"THEN lpad(split_part({expr}, '.', 1), 4, '0') ELSE {expr} END)"
            )
        return f"CAST(try_strptime({expr}, {params.add(list(mapping.time_formats))}) AS TIME)"
    if column_type in {"INTEGER", "BIGINT"}:
        # Digits, optionally float-formatted when integral ("3.0", "1.00"). Anything else is not an
        # integer: a real fraction ("2.5", which DuckDB's own cast would round to 3), an exponent,
        # hexadecimal or digit separators. Out of range: NULL, so also invalid.
        whole = f"regexp_extract({expr}, '^([+-]?[0-9]+)([.]0*)?$', 1)"
        return f"TRY_CAST(NULLIF({whole}, '') AS {column_type})"
    if column_type == "DOUBLE":
        return _finite(f"TRY_CAST(CASE WHEN regexp_full_match({expr}, '{_DECIMAL}') THEN {expr} END AS DOUBLE)")
    if column_type == "BOOLEAN":
        return f"TRY_CAST({expr} AS {column_type})"
    return expr


def _typed_native(expr: str, column_type: str) -> str:
    """A column already of the contract's type, with the same limits as text: four-digit years, finite numbers."""
    typed = f"TRY_CAST({expr} AS {column_type})"
    if column_type == "DATE":
        return _four_digit_year(typed)
    if column_type == "DOUBLE":
        return _finite(typed)
    return typed


CHECK_TYPE = "STRUCT(rule VARCHAR, field VARCHAR, value VARCHAR, severity VARCHAR)"


def _check(condition: str, rule: str, field_name: str, value: str, severity: str) -> tuple[str, str]:
    """A rule as (failure condition, the struct describing the failure)."""
    described = (
        f"{{'rule': '{rule}', 'field': '{field_name}', 'value': CAST({value} AS VARCHAR), 'severity': '{severity}'}}"
    )
    return f"coalesce({condition}, false)", described


def _gated(
    items: list[tuple[str, str]], otherwise: str = f"CAST([] AS {CHECK_TYPE}[])", gate: str | None = None
) -> str:
    """The list of the items whose condition holds, built only on rows where one does (else ``otherwise``).

    One cheap OR per row decides (a NULL condition counts as false); building a list of mostly-NULL
    items for every row was most of the cost. Used for failed rules, sentinel flags and raw values.
    """
    if not items:
        return otherwise
    listed = ", ".join(f"CASE WHEN {condition} THEN {item} END" for condition, item in items)
    gate = gate or " OR ".join(condition for condition, _ in items)
    return f"(CASE WHEN {gate} THEN list_filter([{listed}], lambda x: x IS NOT NULL) ELSE {otherwise} END)"


def _literal_safe(text: str) -> str:
    """Rule and field names are embedded as SQL literals: allow only a safe character set."""
    if not all(ch.isalnum() or ch in "_:-. " for ch in text):
        raise ConfigError(f"rule or field name {text!r} may use letters, digits and _ : - . only")
    return text


def _bound(value: Any, column_type: str, params: _Params, parameters: dict[str, Any]) -> str:
    if isinstance(value, dict) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise ConfigError(f"suite parameter {name!r} has no value")
        value = parameters[name]
    placeholder = params.add(value.isoformat() if isinstance(value, date) else value)
    return f"CAST({placeholder} AS {column_type})" if column_type in {"DATE", "TIME"} else placeholder


def expectation_predicate(
    expectation: Expectation, contract: Contract, params: _Params, parameters: dict[str, Any]
) -> tuple[str, str, str] | None:
    # A not-null failure reports the raw text (a sentinel or unparseable value explains the NULL).
    """(failure condition, field, reported value) for a row-level expectation; None if not row-level."""
    kwargs = expectation.kwargs
    kind = expectation.type
    if kind in TABLE_EXPECTATIONS or expectation.level == "table":
        return None
    if kind not in ROW_EXPECTATIONS:
        raise ConfigError(
            f"suite {contract.source}: expectation {kind} cannot be compiled to SQL; mark it meta.level: table"
        )
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs["column_A"], kwargs["column_B"]
        operator = ">=" if kwargs.get("or_equal") else ">"
        condition = f"{ident(a)} IS NOT NULL AND {ident(b)} IS NOT NULL AND NOT ({ident(a)} {operator} {ident(b)})"
        value = f"CAST({ident(a)} AS VARCHAR) || ' < ' || CAST({ident(b)} AS VARCHAR)"
        return condition, a, value
    column = kwargs["column"]
    column_type = contract.type_of(column)
    col = ident(column)
    present = f"{col} IS NOT NULL AND "
    if kind == "expect_column_values_to_not_be_null":
        scalar = any(c.name == column and not c.is_list for c in contract.columns)
        return f"{col} IS NULL", column, ident("t_" + column) if scalar else "NULL"
    if kind == "expect_column_values_to_be_in_set":
        return present + f"NOT list_contains({params.add(list(kwargs['value_set']))}, {col})", column, col
    if kind == "expect_column_values_to_not_be_in_set":
        return present + f"list_contains({params.add(list(kwargs['value_set']))}, {col})", column, col
    if kind == "expect_column_values_to_match_regex":
        return present + f"NOT regexp_matches({col}, {params.add(kwargs['regex'])})", column, col
    if kind == "expect_column_values_to_not_match_regex":
        return present + f"regexp_matches({col}, {params.add(kwargs['regex'])})", column, col
    # expect_column_values_to_be_between
    parts = []
    if kwargs.get("min_value") is not None:
        operator = "<=" if kwargs.get("strict_min") else "<"
        parts.append(f"{col} {operator} {_bound(kwargs['min_value'], column_type, params, parameters)}")
    if kwargs.get("max_value") is not None:
        operator = ">=" if kwargs.get("strict_max") else ">"
        parts.append(f"{col} {operator} {_bound(kwargs['max_value'], column_type, params, parameters)}")
    if not parts:
        return None
    return present + "(" + " OR ".join(parts) + ")", column, col


def compile_checks(
    contract: Contract,
    suite: Suite,
    mapping: Mapping,
    source_mapping: SourceMapping,
    resolved: Resolved,
    raw_types: dict[str, str],
    raw_table: str,
    sentinel_dates: tuple[date, ...],
    parameters: dict[str, Any],
    *,
    nhs_columns: dict[str, list[str]],
) -> Compiled:
    """Build the checking query over ``raw_table``.

    ``raw_table`` holds the raw columns of one or more files with the same header (``raw_types``)
    plus ``_file`` (the file's path) and ``_row_number`` (1-based data row within its file), so one
    query checks a whole delivery, or every new delivery of a source, at once. ``nhs_columns``
    (from :func:`nhs_number_columns`) names, per raw column, the files in which it holds NHS numbers.
    """
    params = _Params()
    # Layer 1: raw text per mapped column, and the NHS-number scan (whole values in the columns found
    # to hold NHS numbers, per file; embedded numbers in free-text and code columns).
    layer1 = ["_file", "_row_number"]
    masked = f"'{MASK}'"
    nhs_checks = [
        _check(
            f"list_contains({params.add(files)}, _file) AND {nhs_number_sql(ident(raw))}",
            "raw_nhs_number",
            _literal_safe_field(raw),
            masked,
            "error",
        )
        for raw, files in nhs_columns.items()
        if files
    ]
    text_columns = free_text_columns(contract, resolved, raw_types)
    nhs_checks += [
        _check(embedded_nhs_number_sql(ident(raw)), "raw_nhs_number", _literal_safe_field(raw), masked, "error")
        for raw in text_columns
    ]
    # One regex over the scanned columns of a row finds rows with any ten-digit run; only those get the
    # per-column checks (10x cheaper than checking every column of every row).
    scanned = list(dict.fromkeys([*(raw for raw, files in nhs_columns.items() if files), *text_columns]))
    joined = ", ".join(f"CAST({ident(raw)} AS VARCHAR)" for raw in scanned)
    prefilter = f"regexp_matches(concat_ws(chr(31), {joined}), '[0-9]{{3}}[ -]?[0-9]{{3}}[ -]?[0-9]{{4}}')"
    layer1.append(f"{_gated(nhs_checks, gate=prefilter if scanned else 'false')} AS _nhs")
    nulls = params.add(list(mapping.null_values)) if mapping.null_values else None
    scalars: list[Column] = [c for c in contract.columns if not c.is_list]
    lists: list[Column] = [c for c in contract.columns if c.is_list]
    native = {
        c.name
        for c in scalars
        if c.name in resolved.columns
        and resolved.is_plain(c.name)
        and _native(c, raw_types[resolved.columns[c.name]], source_mapping)
    }
    for column in scalars:
        raw = resolved.columns.get(column.name)
        if raw is None:
            text = "CAST(NULL AS VARCHAR)"
        elif column.name in native:
            text = ident(raw)  # typed as it is; cast to text only where a failure is described
        else:
            text = _source_text(column.name, resolved, raw_types, nulls, params)
        layer1.append(f"{text} AS {ident('t_' + column.name)}")
    # List columns (diagnoses, procedures) stay one scalar column per position until layer 3, so
    # normalising and pattern checks are plain vectorised functions rather than lambdas per row.
    positions = {c.name: len(resolved.lists.get(c.name, [])) for c in lists}
    for column in lists:
        for i, raw in enumerate(resolved.lists.get(column.name, [])):
            layer1.append(f"{_text(raw, raw_types[raw], nulls)} AS {ident(f't_{column.name}_{i}')}")

    # Layer 2: decoded and normalised text (n_), then typed values (p_).
    layer2 = ["_file", "_row_number", "_nhs"]
    for column in scalars:
        t = ident("t_" + column.name)
        normalised = (
            t
            if column.name in native
            else _normalise(_decode(t, source_mapping.values.get(column.name), params), column.normalise)
        )
        layer2.append(f"{t}")
        layer2.append(f"{normalised} AS {ident('n_' + column.name)}")
    for column in lists:
        for i in range(positions[column.name]):
            t = ident(f"t_{column.name}_{i}")
            layer2 += [t, f"{_normalise(t, column.normalise)} AS {ident(f'n_{column.name}_{i}')}"]

    layer3 = ["_file", "_row_number", "_nhs"]
    type_checks: list[tuple[str, str]] = []
    flag_items: list[tuple[str, str]] = []  # (condition, flag)
    raw_value_items: list[tuple[str, str]] = []  # (condition, {k, v} entry)
    sentinel_param = params.add([d.isoformat() for d in sentinel_dates])
    for column in scalars:
        name = column.name
        t, n = ident("t_" + name), ident("n_" + name)
        typed = _typed_native(n, column.type) if column.name in native else _cast(n, column.type, mapping, params)
        layer3 += [t, n, f"{typed} AS {ident('p_' + name)}"]
        if column.type in _TYPE_RULE:
            type_checks.append(
                _check(
                    f"{n} IS NOT NULL AND {ident('p_' + name)} IS NULL",
                    f"{_TYPE_RULE[column.type]}:{name}",
                    name,
                    t,
                    "error",
                )
            )
        if column.type == "DATE":
            sentinel = f"list_contains(CAST({sentinel_param} AS DATE[]), {ident('p_' + name)})"
            flag_items.append((sentinel, f"'sentinel_date:{name}'"))
            raw_value_items.append((sentinel, f"{{'k': '{name}', 'v': to_json({t})}}"))
        elif column.normalise is not None and column.normalise != "slug" and column.type == "VARCHAR":
            raw_value_items.append((f"{t} IS DISTINCT FROM {n}", f"{{'k': '{name}', 'v': to_json({t})}}"))
    for column in lists:
        name = column.name
        ts = [ident(f"t_{name}_{i}") for i in range(positions[name])]
        ns = [ident(f"n_{name}_{i}") for i in range(positions[name])]
        t, n = ident("t_" + name), ident("n_" + name)
        layer3 += [
            f"CAST([{', '.join(ts)}] AS VARCHAR[]) AS {t}",
            f"CAST([{', '.join(ns)}] AS VARCHAR[]) AS {n}",
            f"({' OR '.join(f'{a} IS DISTINCT FROM {b}' for a, b in zip(ts, ns, strict=True)) or 'false'}) "
            f"AS {ident('changed_' + name)}",
        ]
        raw_value_items.append((ident("changed_" + name), f"{{'k': '{name}', 'v': to_json({t})}}"))
        if column.code_pattern:
            pattern = params.add(column.code_pattern)
            misfits = " OR ".join(f"coalesce(NOT regexp_full_match({x}, {pattern}), false)" for x in ns)
            layer3.append(f"({misfits or 'false'}) AS {ident('misfit_' + name)}")
            bad = f"list_filter({n}, lambda x: x IS NOT NULL AND NOT regexp_full_match(x, {pattern}))"
            type_checks.append(
                _check(ident("misfit_" + name), f"invalid_code:{name}", name, f"array_to_string({bad}, ' ')", "warn")
            )

    # Layer 4: final values (sentinel dates -> NULL; lists keep the primary at [1] and drop empty tails).
    layer4 = ["_file", "_row_number"] + [ident("t_" + c.name) for c in scalars]
    for column in scalars:
        p = ident("p_" + column.name)
        if column.type == "DATE":
            layer4.append(
                f"CASE WHEN list_contains(CAST({sentinel_param} AS DATE[]), {p}) THEN NULL ELSE {p} END "
                f"AS {ident(column.name)}"
            )
        else:
            layer4.append(f"{p} AS {ident(column.name)}")
    for column in lists:
        p = ident("n_" + column.name)
        tail = f"list_filter({p}[2:], lambda x: x IS NOT NULL)"
        layer4.append(
            f"CASE WHEN {p}[1] IS NULL AND len({tail}) = 0 THEN CAST([] AS VARCHAR[]) ELSE [{p}[1]] || {tail} END "
            f"AS {ident(column.name)}"
        )
    # Both lists are built only on the rare rows where some item applies (one OR per row decides).
    layer4.append(f"{_gated(flag_items, 'CAST([] AS VARCHAR[])')} AS _sentinel_flags")
    layer4.append(f"CAST(to_json(map_from_entries({_gated(raw_value_items, 'NULL')})) AS VARCHAR) AS _raw_values")
    layer4.append(f"_nhs || {_gated(type_checks)} AS _pre_checks")

    # Layer 5: derived columns and suite expectations over the final canonical values.
    derived = [f"({d.sql}) AS {ident(d.name)}" for d in contract.derived]
    suite_checks: list[tuple[str, str]] = []
    rules: list[str] = ["raw_nhs_number"]
    for expectation in suite.expectations:
        compiled = expectation_predicate(expectation, contract, params, parameters)
        if compiled is None:
            continue
        condition, field_name, value = compiled
        rule = _literal_safe(expectation.rule)
        suite_checks.append(_check(condition, rule, _literal_safe(field_name), value, expectation.severity))
        rules.append(rule)
    # Plausible ages (quality/plausible_ages.yaml), after the suite so a range failure is reported first.
    load_date = {"$PARAMETER": "max_date"}  # today + ingest.max_future_days
    for age in age_checks(
        contract.source, contract.column_names, lambda: _bound(load_date, "DATE", params, parameters)
    ):
        suite_checks.append(_check(age.condition, _literal_safe(age.rule), age.field, age.value, age.severity))
        rules.append(age.rule)
    data_columns = contract.column_names
    checks = f"_pre_checks || {_gated(suite_checks)}"
    sql = (
        f"SELECT _file, _row_number, {', '.join(ident(c) for c in data_columns)}, _sentinel_flags, _raw_values, "
        f"{checks} AS _checks FROM (SELECT *, {', '.join(derived) or '1 AS _none'} FROM ("
        f"SELECT {', '.join(layer4)} FROM (SELECT {', '.join(layer3)} FROM (SELECT {', '.join(layer2)} FROM ("
        f"SELECT {', '.join(layer1)} FROM {raw_table})))))"
    )
    return Compiled(sql=sql, params=params.values, data_columns=data_columns, rules=rules)


def _literal_safe_field(raw_header: str) -> str:
    """Raw headers go into a SQL literal as the field name: keep only safe characters."""
    return "".join(ch if ch.isalnum() or ch in "_- " else "_" for ch in raw_header)


# Raw types whose values are numbers: a number embedded in text cannot occur in them.
_NUMERIC = _INTEGERS | {"HUGEINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL"}


def _scanned(raw_types: dict[str, str]) -> list[str]:
    return [raw for raw, kind in raw_types.items() if kind.upper() not in _NO_DIGITS]


def free_text_columns(contract: Contract, resolved: Resolved, raw_types: dict[str, str]) -> list[str]:
    """Raw text columns searched value by value for an embedded NHS number.

    Decided from the contract: a raw column mapped to one of the contract's identifiers (its key,
    ``person_id`` and the other ``*_id`` columns, :attr:`Contract.identifiers`) or to a typed column
    (dates, times, numbers, booleans) is not free text; columns mapped to code columns (VARCHAR,
    lists included) and raw columns the contract does not map (comments, local fields) are. Raw
    columns of a numeric or date type hold no text.
    """
    typed = {c.name for c in contract.columns if c.type not in {"VARCHAR", "VARCHAR[]"}}
    exempt = {raw for c in (*contract.identifiers, *typed) for raw in resolved.sources(c)}
    return [raw for raw in _scanned(raw_types) if raw not in exempt and raw_types[raw].upper() not in _NUMERIC]


def nhs_number_columns(
    con: duckdb.DuckDBPyConnection,
    raw_table: str,
    raw_types: dict[str, str],
    contract: Contract,
    resolved: Resolved,
) -> dict[str, list[str]]:
    """Per raw column, the files of ``raw_table`` in which it holds raw NHS numbers.

    One aggregate pass counts, per file and column, the values that are ten digits and those that
    pass the modulus-11 check; :func:`~popheath.quality.nhs_number.is_nhs_number_column` decides,
    with the contract's record key given the benefit of the doubt on little evidence. Per file, so
    a delivery checked alone (Airflow partitions) is judged as in a batch of several.
    """
    columns = _scanned(raw_types)
    if not columns:
        return {}
    keys = {resolved.columns[k] for k in contract.key if k in resolved.columns}
    counts = ", ".join(
        f"count(*) FILTER (WHERE {ten_digit_sql(ident(raw))}), count(*) FILTER (WHERE {nhs_number_sql(ident(raw))})"
        for raw in columns
    )
    found: dict[str, list[str]] = {raw: [] for raw in columns}
    for row in con.execute(f"SELECT _file, {counts} FROM {raw_table} GROUP BY _file").fetchall():
        for i, raw in enumerate(columns):
            if is_nhs_number_column(int(row[1 + 2 * i]), int(row[2 + 2 * i]), record_key=raw in keys):
                found[raw].append(str(row[0]))
    return {raw: files for raw, files in found.items() if files}
