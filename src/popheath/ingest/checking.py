"""Phase A: check the changed deliveries of one source in one read and one query, without writing the warehouse."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from popheath import db
from popheath.config import Settings
from popheath.errors import ConfigError, InputError, StageError
from popheath.ingest.deliveries import Delivery, FileLoad, new_loads
from popheath.ingest.load_audit import loaded_fingerprints
from popheath.ingest.reading import drop_raw, file_schema, locate_read_failures, read_files, sql_text
from popheath.quality import contracts
from popheath.quality.compile import compile_checks, ident, nhs_number_columns
from popheath.quality.contracts import Contract
from popheath.quality.mapping import Mapping, connector_for, expected_headers, resolve
from popheath.quality.nhs_number import mask_sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileContext:
    """Everything a batch check needs besides the connection."""

    contract: Contract
    mapping: Mapping
    sentinel_dates: tuple[date, ...]
    parameters: dict[str, Any]
    encoding: str
    gx_sample_rows: int
    seed: int
    assembly_batch_bytes: int
    data_docs: bool = True


def file_context(settings: Settings, source: str) -> FileContext:
    """The checking context of ``source`` from the settings: contract, mapping, sentinel dates, limits."""
    unknown = sorted(set(settings.ingest.connectors) - set(contracts.SOURCES))
    if unknown:
        raise ConfigError(
            f"setting ingest.connectors: unknown source(s) {', '.join(unknown)};"
            f" expected {', '.join(contracts.SOURCES)}"
        )
    mapping = connector_for(settings.ingest, source, settings.paths.mappings)
    max_date = date.today() + timedelta(days=settings.ingest.max_future_days)
    return FileContext(
        contracts.load_contract(source),
        mapping,
        tuple(date.fromisoformat(d) for d in settings.ingest.sentinel_dates),
        {"max_date": max_date.isoformat()},
        settings.ingest.encoding,
        settings.ingest.gx_sample_rows,
        settings.seed,
        settings.ingest.assembly_batch_mb * 2**20,
        settings.ingest.data_docs,
    )


def require_columns(path: Path, context: FileContext, headers: list[str]) -> tuple[Any, list[str]]:
    """Resolve a file's headers with its connector; a missing required column is one error naming it."""
    source_mapping = context.mapping.for_source(context.contract.source)
    resolved = resolve(source_mapping, headers)
    for column in context.contract.columns:
        if not column.required:
            continue
        present = column.name in resolved.columns if not column.is_list else column.name in resolved.lists
        if not present:
            accepted = expected_headers(source_mapping, column.name)
            close = difflib.get_close_matches(accepted.split(" or ")[0], resolved.unmapped, n=1, cutoff=0.6)
            got = f"no such column (did you mean {close[0]!r}?)" if close else "no such column"
            raise InputError(path, column.name, f"column {accepted} (mapping {context.mapping.name})", got=got)
    return resolved, resolved.unmapped


def _register_files(con: duckdb.DuckDBPyConnection, loads: list[FileLoad]) -> None:
    """Temp table ``_files``: each file's load id, delivery and order (delivery, then file name)."""
    ordered = sorted(loads, key=lambda x: (x.delivery, x.file.name))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _files AS SELECT unnest($f) AS _file, unnest($d) AS _delivery, "
        "unnest($l) AS _load_id, CAST(unnest($o) AS INTEGER) AS _ord",
        {
            "f": [str(x.file) for x in ordered],
            "d": [x.delivery for x in ordered],
            "l": [x.load_id for x in ordered],
            "o": list(range(len(ordered))),
        },
    )


def check_batch(
    con: duckdb.DuckDBPyConnection,
    loads: list[FileLoad],
    context: FileContext,
    raw_types: dict[str, str],
    resolved: Any,
    first: bool,
) -> None:
    """Type, normalise and check the rows of ``_raw`` (files of ``loads``, one header) in one query.

    Appends to temp tables ``_checked`` (every row, ``_reason`` set where a file-local rule failed:
    the first error rule, ``duplicate_row`` or ``duplicate_key`` within its file, or
    ``superseded_by_later_submission`` when the connector declares ``latest_by``) and ``_records``
    (the raw record of each failing row, NHS numbers masked, for the quarantine).
    """
    contract = context.contract
    compiled = compile_checks(
        contract,
        contracts.load_suite(contract.source),
        context.mapping,
        context.mapping.for_source(contract.source),
        resolved,
        raw_types,
        "_raw",
        context.sentinel_dates,
        context.parameters,
        nhs_columns=nhs_number_columns(con, "_raw", raw_types, contract, resolved),
    )
    key = [ident(k) for k in contract.key]
    select = f"""
        SELECT f._delivery, f._load_id, f._ord, x.*,
            CASE WHEN _has_error THEN list_filter(_checks, lambda c: c.severity = 'error')[1].rule END AS _reason,
            false AS _dropped, CAST(0 AS BIGINT) AS _replaces
        FROM (
            SELECT *, len(list_filter(_checks, lambda c: c.severity = 'error')) > 0 AS _has_error
            FROM ({compiled.sql})
        ) x JOIN _files f USING (_file)"""
    if first:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {select}", compiled.params)
    else:
        con.execute(f"INSERT INTO _checked BY NAME {select}", compiled.params)
    ids = {"ids": [x.load_id for x in loads]}
    keys = ", ".join(key)
    on = " AND ".join(f"c.{k} = r.{k}" for k in ["_file", *key])
    # Duplicates within a file: one cheap pass finds the (file, key) groups with more than one
    # valid row; only those rows get the window that tells identical rows from conflicting ones.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _repeated AS SELECT _file, {keys} FROM _checked "
        "WHERE NOT _has_error AND list_contains($ids, _load_id) GROUP BY ALL HAVING count(*) > 1",
        ids,
    )
    repeated = con.execute("SELECT count(*) FROM _repeated").fetchone()
    if repeated and repeated[0]:
        partition = ", ".join(["_file", *key])
        latest = _latest_by(context)
        if latest:
            # Resubmissions: the latest version of a record is kept, every earlier one is superseded.
            order = ", ".join(f"{ident(c)} DESC NULLS LAST" for c in latest)
            reason = (
                f"CASE WHEN row_number() OVER (PARTITION BY {partition} ORDER BY {order}, _row_number DESC) > 1 "
                "THEN 'superseded_by_later_submission' END"
            )
        else:
            spread = f"min(_row_hash) OVER (PARTITION BY {partition}) <> max(_row_hash) OVER (PARTITION BY {partition})"
            reason = f"""CASE WHEN row_number() OVER (PARTITION BY {partition}, _row_hash ORDER BY _row_number) > 1
                          THEN 'duplicate_row'
                     WHEN {spread} THEN 'duplicate_key'
                END"""
        carried = "".join(f", c.{ident(c)}" for c in latest if c not in contract.key)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _dups AS
            SELECT _file, _row_number, {reason} AS _reason
            FROM (SELECT c._file, c._row_number, {", ".join("c." + k for k in key)}{carried},
                         hash({", ".join("c." + ident(c) for c in compiled.data_columns)}) AS _row_hash
                  FROM _checked c SEMI JOIN _repeated r ON {on}
                  WHERE NOT c._has_error AND list_contains($ids, c._load_id))""",
            ids,
        )
        con.execute(
            "UPDATE _checked c SET _reason = d._reason FROM _dups d "
            "WHERE d._reason IS NOT NULL AND c._file = d._file AND c._row_number = d._row_number"
        )
        con.execute("DROP TABLE _dups")
    con.execute("DROP TABLE _repeated")
    # The raw record of a failing row, with every raw NHS number masked, whatever its column:
    # whole values that pass the check, and numbers embedded in longer text.
    masked = ", ".join(f"{sql_text(c)}, {mask_sql('r.' + ident(c))}" for c in raw_types)
    # Only files with a failing row are read again (a filter on the file name skips the others).
    failing = [
        str(row[0])
        for row in con.execute(
            "SELECT DISTINCT _file FROM _checked WHERE _reason IS NOT NULL AND list_contains($ids, _load_id)", ids
        ).fetchall()
    ]
    records = (
        f"SELECT r._file, r._row_number, json_object({masked}) AS _record FROM _raw r "
        "SEMI JOIN (SELECT _file, _row_number FROM _checked WHERE _reason IS NOT NULL) q "
        "ON q._file = r._file AND q._row_number = r._row_number "
        f"WHERE {'r._file IN (' + ', '.join(sql_text(f) for f in failing) + ')' if failing else 'false'}"
    )
    if first:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _records AS {records}")
    else:
        con.execute(f"INSERT INTO _records {records}")
    if context.data_docs and context.gx_sample_rows > 0:
        _sample_for_gx(con, contract, compiled.data_columns, context, [x.load_id for x in loads])


def _latest_by(context: FileContext) -> tuple[str, ...]:
    """The contract columns that order resubmissions of one record in this connector (none: duplicates are errors)."""
    latest = context.mapping.for_source(context.contract.source).latest_by
    unknown = [c for c in latest if c not in context.contract.column_names]
    if unknown:
        raise ConfigError(
            f"{context.mapping.path}: {context.contract.source}.latest_by names {unknown[0]!r}, "
            f"not a column of the {context.contract.source} contract"
        )
    return latest


def _sample_for_gx(
    con: duckdb.DuckDBPyConnection, contract: Contract, columns: list[str], context: FileContext, load_ids: list[str]
) -> None:
    target = f"_gx_{contract.source}"
    # The sample is drawn on row ids of this batch only (a subquery, so the filter comes first),
    # and only the sampled rows are then read in full.
    select = (
        f"SELECT {', '.join(ident(c) for c in columns)}, list_transform(_checks, lambda x: x.rule) AS _rules "
        "FROM _checked WHERE rowid IN (SELECT rowid FROM (SELECT rowid FROM _checked WHERE list_contains($ids, "
        f"_load_id)) USING SAMPLE reservoir({int(context.gx_sample_rows)} ROWS) REPEATABLE ({int(context.seed)}))"
    )
    if db.table_exists(con, target):
        con.execute(f"INSERT INTO {target} {select}", {"ids": load_ids})
    else:
        con.execute(f"CREATE TEMP TABLE {target} AS {select}", {"ids": load_ids})


def _reject(loads: list[FileLoad], bad: FileLoad, error: InputError) -> None:
    """The delivery of ``bad`` is not loaded: ``bad`` is rejected, its other files are not loaded."""
    for load in loads:
        if load.delivery != bad.delivery:
            continue
        load.rows_read = load.rows_loaded = load.rows_replaced = load.rows_flagged = 0
        load.quarantined = {}
        load.finished_at = datetime.now()
        if load is bad:
            load.outcome, load.error = "rejected", str(error)
        elif load.outcome != "rejected":
            load.outcome, load.error = "not_loaded", f"delivery rolled back: {error}"


@dataclass
class Batch:
    """The changed deliveries of one source, checked together (phase A)."""

    source: str
    loads: list[FileLoad]
    fingerprints: dict[str, str]
    failures: list[InputError] = field(default_factory=list)

    def reject(self, bad: FileLoad, error: InputError) -> None:
        """Reject ``bad`` (its delivery is not loaded) and keep the error for the run's report."""
        _reject(self.loads, bad, error)
        self.failures.append(error)

    def accepted(self) -> list[FileLoad]:
        """Files of deliveries with no rejected file."""
        bad = {x.delivery for x in self.loads if x.outcome in {"rejected", "not_loaded"}}
        return [x for x in self.loads if x.delivery not in bad]


def check_group(
    con: duckdb.DuckDBPyConnection,
    group: list[FileLoad],
    context: FileContext,
    raw_types: dict[str, str],
    resolved: Any,
    first: bool,
) -> None:
    """Count and check the rows of ``_raw`` (the files of ``group``)."""
    _register_files(con, group)
    read = dict(con.execute("SELECT _file, count(*) FROM _raw GROUP BY ALL").fetchall())
    for load in group:
        load.rows_read = int(read.get(str(load.file), 0))
    check_batch(con, group, context, raw_types, resolved, first)


def check_deliveries(
    con: duckdb.DuckDBPyConnection, deliveries: list[Delivery], context: FileContext, batch: Batch
) -> bool:
    """Phase A for the changed deliveries of one source.

    File-level checks per file (header or footer only), then one read and one checking query per
    group of files sharing a header. Fills ``_checked``/``_records``; False when nothing is left to load.
    """
    schemas: dict[tuple[tuple[str, str], ...], list[FileLoad]] = {}
    for load in batch.loads:
        if load.delivery in {x.delivery for x in batch.loads if x.outcome == "rejected"}:
            continue
        try:
            raw_types = file_schema(con, load.file, context.encoding)
            resolved, load.unmapped = require_columns(load.file, context, list(raw_types))
        except InputError as error:
            batch.reject(load, error)
            continue
        schemas.setdefault(tuple(raw_types.items()), []).append(load)
    first = True
    for signature, group in schemas.items():
        group = [x for x in group if x in batch.accepted()]
        if not group:
            continue
        raw_types = dict(signature)
        resolved, _ = require_columns(group[0].file, context, list(raw_types))
        try:
            read_files(con, [x.file for x in group], raw_types, context.encoding, lazy=True)
            check_group(con, group, context, raw_types, resolved, first)
        except (InputError, duckdb.Error) as error:
            failed = locate_read_failures(con, [x.file for x in group], raw_types, context.encoding)
            if not failed:
                if isinstance(error, InputError):
                    raise StageError(f"{group[0].file}: reading {len(group)} files failed: {error}") from error
                raise  # every file reads: the failure is not the input's
            for load in group:
                if load.file in failed:
                    batch.reject(load, failed[load.file])
            group = [x for x in group if x in batch.accepted()]
            if not group:
                continue
            read_files(con, [x.file for x in group], raw_types, context.encoding)
            check_group(con, group, context, raw_types, resolved, first)
        first = False
    drop_raw(con)
    if not first:
        # Rows of deliveries rejected after their group was checked are not loaded.
        keep = [x.load_id for x in batch.accepted()]
        con.execute("DELETE FROM _checked WHERE NOT list_contains($k, _load_id)", {"k": keep})
    return not first and bool(batch.accepted())


def plan(
    con: duckdb.DuckDBPyConnection | None, deliveries: list[Delivery], context: FileContext, force: bool
) -> tuple[list[FileLoad], Batch]:
    """Split one source's deliveries into unchanged ones (audit rows only) and a batch to check."""
    source = context.contract.source
    loaded = {} if con is None or force else loaded_fingerprints(con, source)
    unchanged: list[FileLoad] = []
    batch = Batch(source, [], {})
    for delivery in deliveries:
        loads, fingerprint = new_loads(delivery, context.mapping.name)
        batch.fingerprints[delivery.label] = fingerprint
        if loaded.get(delivery.label) == fingerprint:
            for load in loads:
                load.outcome, load.finished_at = "unchanged", datetime.now()
            unchanged.extend(loads)
            log.info("%s %s: unchanged since its last load, skipped", source, delivery.label)
        else:
            batch.loads.extend(loads)
    return unchanged, batch
