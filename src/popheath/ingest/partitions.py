"""The Airflow path: check each delivery into its own DuckDB partition file, then merge the partitions in order."""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from popheath import db
from popheath.config import Settings
from popheath.errors import InputError, PopheathError, StageError
from popheath.ingest.applying import apply_checked, ensure_tables, finish_loads
from popheath.ingest.checking import file_context, plan
from popheath.ingest.connectors.assembly import check_deliveries
from popheath.ingest.deliveries import SOURCES, FileLoad, discover, new_run_id, set_aside_loads, survey
from popheath.ingest.gx_sample import keep_sample, sample_table
from popheath.ingest.load_audit import audit_rows, loaded_fingerprints, write_audit
from popheath.ingest.loading import IngestOutcome, stage_result
from popheath.ingest.reading import sql_text
from popheath.quality import contracts
from popheath.results import StageResult

log = logging.getLogger(__name__)


def list_deliveries(settings: Settings) -> list[str]:
    """Deliveries present under ``paths.raw`` as ``"<source>/<delivery>"``, population first, then by label.

    Logs the survey's warnings; raises when no source folder holds a data file (nothing to load).
    """
    found = survey(settings.paths.raw)
    for warning in found.warnings:
        log.warning("%s", warning)
    nothing = found.nothing_to_load()
    if nothing is not None:
        raise nothing
    return [f"{d.source}/{d.label}" for d in found.deliveries]


def partition_path(settings: Settings, delivery: str) -> Path:
    """Where :func:`ingest_partition` writes ``delivery``: ``<paths.partitions>/ingest/<source>__<delivery>.duckdb``."""
    source, _, label = delivery.partition("/")
    return settings.paths.partitions / "ingest" / f"{source}__{label}.duckdb"


def ingest_partition(settings: Settings, delivery: str) -> Path:
    """Check one delivery (``"apc/2024-07"``) into its own DuckDB file; never writes the warehouse.

    The partition holds the checked rows (``checked``), the raw records of failing rows
    (``records``), the satellite rows of a multi-table delivery (``satellite``), the GX sample,
    one audit row per file (``files``, files set aside included) and ``meta`` (status
    ``checked``, ``unchanged``, ``skipped`` (only files set aside) or ``rejected``, also for a refused
    file). The warehouse is opened read-only, only to tell an
    unchanged delivery (same fingerprint as its last load) from a new or restated one. The file is
    written under a temporary name and renamed, so a killed task never leaves a partition that
    looks complete. A rejected delivery still writes its partition (so the merge audits it) and
    then raises the file-level error, failing the task with that one line.
    """
    source, _, label = delivery.partition("/")
    if source not in SOURCES or not label:
        raise InputError(delivery, "delivery", "<source>/<delivery>, as listed by list_deliveries")
    found = [d for d in discover(settings.paths.raw, [source]) if d.label == label]
    if not found:
        raise InputError(settings.paths.raw / source / label, None, "a delivery folder with .csv or .parquet files")
    context = file_context(settings, source)
    aside, refused = set_aside_loads(found[0], context.mapping.name)
    found = [d for d in found if d.files and not d.refused]
    loaded: dict[str, str] = {}
    if settings.paths.warehouse.exists():
        reader = db.connect(settings, read_only=True)
        try:
            if db.table_exists(reader, "load_audit"):
                loaded = loaded_fingerprints(reader, source)
        finally:
            reader.close()
    _, batch = plan(None, found, context, force=True)
    fingerprint = batch.fingerprints.get(label, "")
    run_id = new_run_id()
    path = partition_path(settings, delivery)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    con = db.connect(settings, partial)
    status, error = "checked", None
    try:
        if refused:
            status, error = "rejected", str(refused[0])
        elif not found:
            status = "skipped"  # nothing but files set aside: their audit rows only
        elif loaded.get(label) == fingerprint:
            status = "unchanged"
            for load in batch.loads:
                load.outcome, load.finished_at = "unchanged", datetime.now()
        elif check_deliveries(con, found, context, batch):
            con.execute("CREATE TABLE checked AS SELECT * FROM _checked")
            con.execute("CREATE TABLE records AS SELECT * FROM _records")
            if db.table_exists(con, "_satellite"):
                con.execute("CREATE TABLE satellite AS SELECT * FROM _satellite")
            if db.table_exists(con, f"_gx_{source}"):
                con.execute(f"CREATE TABLE gx_sample AS SELECT * FROM _gx_{source}")
        else:
            status, error = "rejected", str(batch.failures[0])
        rows = audit_rows(aside + batch.loads, run_id, batch.fingerprints)
        con.execute("CREATE TABLE files AS SELECT unnest($rows, recursive := true)", {"rows": rows})
        con.execute(
            "CREATE TABLE meta AS SELECT $source AS source, $delivery AS delivery, $fp AS fingerprint, "
            "$status AS status, $error AS error, $run_id AS run_id",
            {
                "source": source,
                "delivery": label,
                "fp": fingerprint,
                "status": status,
                "error": error,
                "run_id": run_id,
            },
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    path.unlink(missing_ok=True)
    partial.rename(path)
    log.info("%s: partition %s (%s)", delivery, path, status)
    if status == "rejected" and settings.ingest.fail_on_rejected:
        raise (refused or batch.failures)[0]
    return path


def _loads_from_rows(rows: list[tuple[Any, ...]], columns: list[str]) -> list[FileLoad]:
    loads = []
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        load = FileLoad(
            str(row["load_id"]),
            str(row["source"]),
            str(row["delivery"]),
            Path(str(row["file"])),
            str(row["checksum"]),
            str(row["mapping"]),
            row["started_at"],
            rows_read=int(row["rows_read"]),
            unmapped=list(row["unmapped_columns"] or []),
            finished_at=row["finished_at"],
            outcome=str(row["outcome"]),
            error=row["error"],
        )
        loads.append(load)
    return loads


def merge_partitions(settings: Settings, partitions: list[Path], as_of: date) -> StageResult:
    """Merge partitions from :func:`ingest_partition` into the warehouse; the same result as the stage's ``run``.

    Partitions are merged in source and delivery order, one transaction each: that delivery's rows
    are replaced in the staging table and quarantine (with the cross-delivery rules of
    :func:`apply_checked`; deliveries still to be merged in this call count as about to be replaced)
    and its audit rows appended. A partition whose run id is already in ``load_audit`` was merged
    before and is skipped, so merging twice changes nothing. Each source's GX sample is kept once at
    the end (:mod:`popheath.ingest.gx_sample`); merged partition files are then deleted.
    """
    started = time.perf_counter()
    loads: list[FileLoad] = []
    failures: list[PopheathError] = []
    merged: list[Path] = []
    con = db.connect(settings)
    try:
        ensure_tables(con)
        metas: list[tuple[Path, tuple[Any, ...]]] = []
        for path in partitions:
            path = Path(path)
            if not path.exists():
                log.warning("%s: no such partition (already merged?), skipped", path)
                continue
            _attach(con, path)
            try:
                meta = con.execute(
                    "SELECT source, delivery, fingerprint, status, error, run_id FROM part.meta"
                ).fetchone()
            finally:
                con.execute("DETACH part")
            if meta is None:
                raise StageError(f"{path}: partition has no meta row")
            metas.append((path, meta))
        metas.sort(key=lambda m: (SOURCES.index(str(m[1][0])), str(m[1][1])))
        run_ids: list[str] = []
        for index, (path, (source, label, fingerprint, status, error, run_id)) in enumerate(metas):
            pending = [str(m[1][1]) for m in metas[index + 1 :] if m[1][0] == source and m[1][3] == "checked"]
            done = con.execute(
                "SELECT count(*) FROM load_audit WHERE run_id = $r AND source = $s AND delivery = $d",
                {"r": run_id, "s": source, "d": label},
            ).fetchone()
            if done and done[0]:
                log.info("%s %s: partition already merged, skipped", source, label)
                merged.append(path)
                continue
            _attach(con, path)
            try:
                cursor = con.execute("SELECT * FROM part.files")
                columns = [d[0] for d in cursor.description or []]
                mine = _loads_from_rows(cursor.fetchall(), columns)
                fingerprints = {str(label): str(fingerprint)}
                if status == "checked":
                    con.execute("CREATE OR REPLACE TEMP TABLE _checked AS SELECT * FROM part.checked")
                    con.execute("CREATE OR REPLACE TEMP TABLE _records AS SELECT * FROM part.records")
                    con.execute("DROP TABLE IF EXISTS _satellite")
                    if _part_has(con, "satellite"):
                        con.execute("CREATE TEMP TABLE _satellite AS SELECT * FROM part.satellite")
                    with db.transaction(con):
                        counts = apply_checked(con, contracts.load_contract(str(source)), [str(label)], pending)
                        finish_loads([x for x in mine if x.outcome != "skipped"], counts)
                        write_audit(con, mine, str(run_id), fingerprints)
                    if settings.ingest.data_docs and _part_has(con, "gx_sample"):
                        target = sample_table(str(source))
                        if db.table_exists(con, target):
                            con.execute(f"INSERT INTO {target} SELECT * FROM part.gx_sample")
                        else:
                            con.execute(f"CREATE TEMP TABLE {target} AS SELECT * FROM part.gx_sample")
                else:
                    write_audit(con, mine, str(run_id), fingerprints)
                    if status == "rejected":
                        failures.append(StageError(str(error)))
                        log.error("%s", error)
            finally:
                con.execute("DETACH part")
            loads.extend(mine)
            run_ids.append(str(run_id))
            merged.append(path)
        for source in SOURCES:
            keep_sample(con, settings, source, run_ids[0] if run_ids else "merge")
    finally:
        con.close()
    for path in merged:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    return stage_result(settings, as_of, IngestOutcome(loads, failures), started)


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"ATTACH {sql_text(str(path))} AS part (READ_ONLY)")


def _part_has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'part' AND table_name = $n", {"n": name}
    ).fetchone()
    return bool(found and found[0])
