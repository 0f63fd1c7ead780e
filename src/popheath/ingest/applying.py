"""Phase B: the staging, quarantine and audit tables, and replacing deliveries with their checked rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from popheath.errors import StageError
from popheath.ingest.connectors.satellites import apply_satellites, has_satellites
from popheath.ingest.deliveries import SOURCES, FileLoad
from popheath.quality import contracts
from popheath.quality.compile import ident
from popheath.quality.contracts import Contract
from popheath.quality.nhs_number import mask_sql

# --- tables ----------------------------------------------------------------------------------

METADATA_DDL = (
    "_load_id VARCHAR, _source_file VARCHAR, _row_number BIGINT, _delivery VARCHAR, _flags VARCHAR[], _raw_values JSON"
)
LOAD_AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS load_audit (
    load_id VARCHAR, run_id VARCHAR, source VARCHAR, delivery VARCHAR, file VARCHAR, checksum VARCHAR,
    mapping VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, quarantined_by_reason JSON,
    rows_replaced BIGINT, rows_flagged BIGINT, unmapped_columns VARCHAR[], started_at TIMESTAMP,
    finished_at TIMESTAMP, outcome VARCHAR, error VARCHAR, delivery_fingerprint VARCHAR
)"""
QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    load_id VARCHAR, source VARCHAR, delivery VARCHAR, file VARCHAR, row_number BIGINT, field VARCHAR,
    rule VARCHAR, value VARCHAR, failures JSON, record JSON, quarantined_at TIMESTAMP
)"""


def staging_ddl(contract: Contract) -> str:
    """CREATE TABLE statement for a source's staging table."""
    columns = ", ".join(f"{ident(name)} {contract.type_of(name)}" for name in contract.column_names)
    return f"CREATE TABLE IF NOT EXISTS {contract.table} ({columns}, {METADATA_DDL})"


def ensure_tables(con: duckdb.DuckDBPyConnection, sources: list[str] | tuple[str, ...] = SOURCES) -> None:
    """Create the staging, quarantine and audit tables when missing.

    A staging table built by an earlier version gains the contract's new columns (NULL for the rows
    already loaded), so a warehouse survives an upgrade without a rebuild; rows are inserted by name.
    """
    for source in sources:
        contract = contracts.load_contract(source)
        con.execute(staging_ddl(contract))
        present = {row[0] for row in con.execute(f"DESCRIBE {contract.table}").fetchall()}
        for name in contract.column_names:
            if name not in present:
                con.execute(f"ALTER TABLE {contract.table} ADD COLUMN {ident(name)} {contract.type_of(name)}")
    con.execute(LOAD_AUDIT_DDL)
    con.execute(QUARANTINE_DDL)


# --- applying (phase B: one transaction, set-based over every checked delivery of a source) ---


def apply_checked(
    con: duckdb.DuckDBPyConnection, contract: Contract, deliveries: list[str], pending: list[str]
) -> dict[str, dict[str, Any]]:
    """Replace ``deliveries`` in the staging table and quarantine with the rows in ``_checked``.

    Runs inside the caller's transaction. Semantics, identical whether the deliveries come in one
    batch or one at a time in delivery order: a delivery's earlier rows and quarantine rows are
    removed; a valid row whose key is held by a later delivery already loaded (and not itself
    about to be replaced, ``pending``) is quarantined as ``superseded_by_newer_delivery``; of the
    valid rows sharing a key, the one from the latest (delivery, file) is kept and replaces the
    others and any older loaded copy (``rows_replaced`` counts them on the replacing file).
    Satellite rows of a multi-table delivery (``_satellite``) are then settled with their core rows.
    Returns per load id: reasons, loaded, flagged and replaced counts.
    """
    table = contract.table
    key = [ident(k) for k in contract.key]
    keys = ", ".join(key)
    match = " AND ".join(f"s.{k} = c.{k}" for k in key)
    gone = list(dict.fromkeys([*deliveries, *pending]))
    con.execute(f"DELETE FROM {table} WHERE list_contains($d, _delivery)", {"d": deliveries})
    con.execute(
        "DELETE FROM quarantine WHERE source = $s AND list_contains($d, delivery)",
        {"s": contract.source, "d": deliveries},
    )
    earliest = min(deliveries)
    newer = con.execute(
        f"SELECT count(*) FROM {table} WHERE _delivery > $d AND NOT list_contains($g, _delivery)",
        {"d": earliest, "g": gone},
    ).fetchone()
    if newer and newer[0]:
        con.execute(
            f"UPDATE _checked c SET _reason = 'superseded_by_newer_delivery' WHERE _reason IS NULL AND EXISTS "
            f"(SELECT 1 FROM {table} s WHERE {match} AND s._delivery > c._delivery "
            "AND NOT list_contains($g, s._delivery))",
            {"g": gone},
        )
    # Keys given by more than one valid row of the batch: the latest wins, each replaces its predecessor.
    multi = con.execute(
        f"SELECT count(*) FROM (SELECT {keys} FROM _checked WHERE _reason IS NULL GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    if multi and multi[0]:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _chain AS
            SELECT _file, _row_number,
                   row_number() OVER (PARTITION BY {keys} ORDER BY _delivery DESC, _ord DESC) > 1 AS _dropped,
                   row_number() OVER (PARTITION BY {keys} ORDER BY _delivery, _ord) > 1 AS _has_predecessor
            FROM _checked WHERE _reason IS NULL AND ({keys}) IN (
                SELECT ({keys}) FROM _checked WHERE _reason IS NULL GROUP BY ALL HAVING count(*) > 1)"""
        )
        con.execute(
            "UPDATE _checked c SET _dropped = h._dropped, _replaces = CAST(h._has_predecessor AS BIGINT) "
            "FROM _chain h WHERE c._file = h._file AND c._row_number = h._row_number"
        )
        con.execute("DROP TABLE _chain")
    # Older loaded copies of the batch's keys: each is replaced by the earliest batch row with its key.
    old = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    replaced_old: dict[str, int] = {}
    if old and old[0]:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _old AS
            SELECT s.rowid AS _rid, arg_min(c._load_id, (c._delivery, c._ord)) AS _load_id
            FROM {table} s JOIN (SELECT {keys}, _load_id, _delivery, _ord FROM _checked WHERE _reason IS NULL) c
                 ON {match} AND s._delivery < c._delivery
            GROUP BY s.rowid"""
        )
        replaced_old = {
            str(k): int(n) for k, n in con.execute("SELECT _load_id, count(*) FROM _old GROUP BY ALL").fetchall()
        }
        if replaced_old:
            con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT _rid FROM _old)")
        con.execute("DROP TABLE _old")
    data = ", ".join(ident(c) for c in contract.column_names)
    con.execute(
        f"""INSERT INTO {table} BY NAME
        SELECT {data}, _load_id, _file AS _source_file, _row_number, _delivery,
               CASE WHEN len(_checks) = 0 THEN _sentinel_flags ELSE _sentinel_flags
                    || list_transform(list_filter(_checks, lambda x: x.severity = 'warn'), lambda x: x.rule) END
                   AS _flags,
               _raw_values
        FROM _checked WHERE _reason IS NULL AND NOT _dropped"""
    )
    first_failure = "list_filter(q._checks, lambda x: x.severity = 'error')[1]"

    canonical = "to_json({" + ", ".join(f"'{c}': q.{ident(c)}" for c in contract.column_names) + "})"
    con.execute(
        f"""INSERT INTO quarantine
        SELECT q._load_id, $source, q._delivery, q._file, q._row_number,
               CASE WHEN q._has_error THEN {first_failure}.field ELSE '{contract.key[0]}' END,
               q._reason,
               CASE WHEN q._has_error THEN {mask_sql(first_failure + ".value")} ELSE CAST(q.{key[0]} AS VARCHAR) END,
               to_json(list_transform(q._checks, lambda x: {{'rule': x.rule, 'field': x.field, 'severity': x.severity,
                   'value': {mask_sql("x.value")}}})),
               coalesce(r._record, {canonical}),
               current_timestamp
        FROM (SELECT * FROM _checked WHERE _reason IS NOT NULL) q
        LEFT JOIN _records r ON r._file = q._file AND r._row_number = q._row_number""",
        {"source": contract.source},
    )
    counts = con.execute(
        "SELECT _load_id, _reason, count(*), count(*) FILTER (WHERE len(_sentinel_flags) > 0 OR "
        "len(list_filter(_checks, lambda x: x.severity = 'warn')) > 0), sum(_replaces) FROM _checked GROUP BY ALL"
    ).fetchall()
    result: dict[str, dict[str, Any]] = {}
    for load_id, reason, n, flagged, replaces in counts:
        entry = result.setdefault(str(load_id), {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})
        if reason is None:
            entry["loaded"] += int(n)
            entry["flagged"] += int(flagged)
            entry["replaced"] += int(replaces or 0)
        else:
            entry["reasons"][str(reason)] = int(n)
    for load_id, n in replaced_old.items():
        result.setdefault(load_id, {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})["replaced"] += n
    if has_satellites(con):  # a multi-table delivery: its satellite files' rows follow their core rows
        result.update(apply_satellites(con, contract.source))
    return result


def finish_loads(loads: list[FileLoad], counts: dict[str, dict[str, Any]]) -> None:
    """Fill in each file's counts and check the accounting invariant."""
    for load in loads:
        entry = counts.get(load.load_id, {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})
        load.rows_loaded = entry["loaded"]
        load.rows_flagged = entry["flagged"]
        load.rows_replaced = entry["replaced"]
        load.quarantined = dict(sorted(entry["reasons"].items(), key=lambda kv: (-kv[1], kv[0])))
        load.outcome = "loaded"
        load.finished_at = datetime.now()
        if load.rows_read != load.rows_loaded + load.rows_quarantined:  # the accounting invariant, never expected
            raise StageError(
                f"{load.file}: rows read {load.rows_read} != loaded {load.rows_loaded} "
                f"+ quarantined {load.rows_quarantined}"
            )
