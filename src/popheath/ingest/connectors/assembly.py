"""Phase A for multi-table deliveries: read each raw table, attach satellite rows to core rows, check as the core's.

Per delivery, every file is recognised as one table of the layout (or rejected); then per chunk of
deliveries (one, or several when the layout SQL joins within ``_delivery``), the core files are
read into ``_connector_core`` and each satellite's (key, contributed columns) are classified by
``satellite_rows.sql`` (attached, orphan, duplicate) into the accounting table ``_satellite``, the
attached ones read by the layout SQL through the view ``_connector_<role>``; the layout's joining
SQL builds ``_raw`` (one row per core row, ``_file``/``_row_number`` of the core file); then the
ordinary checking query runs over it, so the core files are checked, typed and quarantined exactly
as a flat file is. Phase B
(:mod:`~popheath.ingest.connectors.satellites`) settles the satellite rows with their core rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb

from popheath import db
from popheath.errors import InputError
from popheath.ingest import checking
from popheath.ingest.checking import Batch, FileContext
from popheath.ingest.connectors.layouts import Layout, Table, load_layout
from popheath.ingest.deliveries import Delivery, FileLoad
from popheath.ingest.reading import drop_raw, file_schema, locate_read_failures, read_files, sql_text
from popheath.quality.compile import ident
from popheath.quality.mapping import Resolved, header_key
from popheath.quality.nhs_number import MASK, nhs_number_sql

SQL_LAYER = "10_staging/connectors"
SATELLITE_DDL = """
CREATE OR REPLACE TEMP TABLE _satellite (
    _load_id VARCHAR, _delivery VARCHAR, _file VARCHAR, _row_number BIGINT, _reason VARCHAR, _field VARCHAR,
    _value VARCHAR, _detail VARCHAR, _core_table VARCHAR, _core_rows STRUCT(l UBIGINT, r BIGINT)[], _record JSON
)"""
_WORK_TABLES = (
    "_connector_part",
    "_connector_satellite",
    "_connector_classified",
    "_connector_refs",
    "_connector_sentinels",
)


def core_row_id(load_id: str) -> int:
    """A file's load id (16 hexadecimal digits) as the number satellite rows name their core rows' file by.

    Eight bytes instead of the file's path in every reference; ``_checked`` holds the load id, so
    phase B converts it back with ``CAST('0x' || _load_id AS UBIGINT)``.
    """
    return int(load_id, 16)


class _ChunkUnreadable(Exception):
    """A file of a chunk of deliveries read together failed: the chunk is assembled again one delivery at a time."""


# The files of one delivery by table role, each with its schema (header -> type).
Recognised = dict[str, list[tuple[FileLoad, dict[str, str]]]]


def check_deliveries(
    con: duckdb.DuckDBPyConnection, deliveries: list[Delivery], context: FileContext, batch: Batch
) -> bool:
    """Phase A for one source: through its connector's multi-table layout when it declares one, else as flat files.

    Fills ``_checked``/``_records`` (and ``_satellite`` for a layout); False when nothing is left to load.
    """
    con.execute("DROP TABLE IF EXISTS _satellite")
    layout = load_layout(context.mapping, context.contract.source)
    if layout is None:
        return checking.check_deliveries(con, deliveries, context, batch)
    con.execute(SATELLITE_DDL)
    # Deliveries whose files carry the same headers are assembled together, up to
    # ingest.assembly_batch_mb of files at a time, when the layout SQL joins within a delivery
    # (several_deliveries); satellites attach within their delivery either way. The assembled rows
    # are gathered per column signature, then checked in one query per signature: the fixed cost of
    # each statement is paid once per chunk or source, not once per delivery.
    groups: dict[tuple[tuple[str, str], ...], tuple[str, list[FileLoad], Resolved]] = {}
    recognised = {}
    for label in sorted({x.delivery for x in batch.loads}):
        found = _recognise(con, layout, context, batch, [x for x in batch.loads if x.delivery == label])
        if found is not None:
            recognised[label] = found
    for chunk in _chunks(layout, recognised, context.assembly_batch_bytes):
        for core_loads, raw_types, resolved in _assembled(con, layout, context, batch, chunk):
            _gather(con, groups, core_loads, raw_types, resolved)
    first = True
    for signature, (table, gathered, resolved) in groups.items():
        checked = [x for x in gathered if x in batch.accepted()]
        if checked:
            drop_raw(con)
            con.execute(f"ALTER TABLE {table} RENAME TO _raw")
            # The checking module's own step (register files, count rows read, check) over the assembled rows.
            checking.check_group(con, checked, context, dict(signature), resolved, first)
            first = False
        drop_raw(con)
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for table in (*_WORK_TABLES, *(f"_connector_{t.role}" for t in layout.tables)):
        drop_raw(con, table)
    for satellite in layout.satellites:
        con.execute(f"DROP TABLE IF EXISTS _connector_classified_{satellite.role}")
    drop_raw(con)
    keep = {"k": [x.load_id for x in batch.accepted()]}
    con.execute("DELETE FROM _satellite WHERE NOT list_contains($k, _load_id)", keep)
    if not first:
        con.execute("DELETE FROM _checked WHERE NOT list_contains($k, _load_id)", keep)
    return not first and bool(batch.accepted())


def _assembled(
    con: duckdb.DuckDBPyConnection, layout: Layout, context: FileContext, batch: Batch, chunk: list[Recognised]
) -> Iterator[tuple[list[FileLoad], dict[str, str], Resolved]]:
    """Assemble a chunk of deliveries into ``_raw``: at once, or one by one when a file of it fails to read.

    Yields each assembly while ``_raw`` holds it; a delivery with a rejected file yields nothing.
    """
    try:
        result = _assemble(con, layout, context, batch, chunk, together=len(chunk) > 1)
    except _ChunkUnreadable:
        discard = {"k": [load.load_id for files in chunk for loads in files.values() for load, _ in loads]}
        con.execute("DELETE FROM _satellite WHERE list_contains($k, _load_id)", discard)
        for files in chunk:
            one = _assemble(con, layout, context, batch, [files], together=False)
            if one is not None:
                yield one
        return
    if result is not None:
        yield result


def _gather(
    con: duckdb.DuckDBPyConnection,
    groups: dict[tuple[tuple[str, str], ...], tuple[str, list[FileLoad], Resolved]],
    core_loads: list[FileLoad],
    raw_types: dict[str, str],
    resolved: Resolved,
) -> None:
    """Append the assembled ``_raw`` to the rows gathered for its column signature."""
    signature = tuple(raw_types.items())
    if signature in groups:
        table, gathered, _ = groups[signature]
        con.execute(f"INSERT INTO {table} SELECT * FROM _raw")
        gathered.extend(core_loads)
    else:
        table = f"_connector_assembled_{len(groups)}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _raw")
        groups[signature] = (table, list(core_loads), resolved)


def _chunks(layout: Layout, recognised: dict[str, Recognised], limit: int) -> list[list[Recognised]]:
    """Deliveries to assemble together: consecutive ones whose files carry the same headers, up to ``limit`` bytes.

    One delivery per chunk when the layout SQL does not join within a delivery (``several_deliveries``).
    """
    chunks: list[list[Recognised]] = []
    shape: object = None
    size = 0
    for files in recognised.values():
        this = tuple((role, tuple(tuple(schema.items()) for _, schema in files[role])) for role in sorted(files))
        bytes_ = sum(load.file.stat().st_size for loads in files.values() for load, _ in loads)
        if chunks and layout.several_deliveries and this == shape and size + bytes_ <= limit:
            chunks[-1].append(files)
            size += bytes_
        else:
            chunks.append([files])
            shape, size = this, bytes_
    return chunks


def _recognise(
    con: duckdb.DuckDBPyConnection, layout: Layout, context: FileContext, batch: Batch, loads: list[FileLoad]
) -> Recognised | None:
    """The files of one delivery by table role; None when one of them was rejected (the delivery is not loaded).

    Every file must be one of the layout's tables and carry its key, the core must be there, and a
    satellite extending the core's own row must not repeat a core column.
    """
    files: Recognised = {t.role: [] for t in layout.tables}
    for load in loads:
        try:
            schema = file_schema(con, load.file, context.encoding)
            table = layout.table_of(load.file, list(schema))
            if table is None:
                raise InputError(load.file, None, layout.describe(), got="headers of none of them")
        except InputError as unreadable:
            batch.reject(load, unreadable)
            return None
        files[table.role].append((load, schema))
    core_files = files[layout.core.role]
    if not core_files:
        missing = InputError(
            loads[0].file, None, f"a delivery with a {layout.core.name} file", got="none in its folder"
        )
        batch.reject(loads[0], missing)
        return None
    core_headers = {header_key(h) for _, schema in core_files for h in schema}
    # A satellite extending the core's own row must not repeat a core column (the assembled row would
    # carry it twice); a reference table (on) is joined by the layout SQL, which names its columns.
    for satellite in (s for s in layout.satellites if s.on is None):
        for load, schema in files[satellite.role]:
            inline = [h for h in satellite.contributed(list(schema)) if header_key(h) in core_headers]
            if inline:
                twice = InputError(
                    load.file, inline[0], f"{satellite.name} columns not also in {layout.core.name}", got="in both"
                )
                batch.reject(load, twice)
                return None
    for table in layout.tables:
        for load, schema in files[table.role]:
            if header_key(table.key) not in {header_key(h) for h in schema}:
                no_key = InputError(load.file, table.key, f"column {table.key} ({table.name})", got="no such column")
                batch.reject(load, no_key)
                return None
    return files


def _assemble(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    context: FileContext,
    batch: Batch,
    chunk: list[Recognised],
    together: bool,
) -> tuple[list[FileLoad], dict[str, str], Resolved] | None:
    """Build ``_raw`` for the deliveries of ``chunk``; None when a file was rejected (its delivery is not loaded).

    ``together``: several deliveries are read at once, and a file that fails to read raises
    :class:`_ChunkUnreadable` instead of being rejected (the caller assembles them one by one to name it).
    """
    roles = {t.role: [pair for files in chunk for pair in files[t.role]] for t in layout.tables}
    core_files = roles[layout.core.role]
    core = [load for load, _ in core_files]
    core_headers = {header_key(h) for _, schema in core_files for h in schema}
    if not _read_table(con, layout.core, core_files, "_connector_core", context, batch, together, keep_all=True):
        return None
    for satellite in layout.satellites:
        if not _read_table(con, satellite, roles[satellite.role], "_connector_satellite", context, batch, together):
            return None
        _classify(con, satellite, core)
        _account_satellite(con, satellite, layout.core, roles[satellite.role])
        # The layout SQL reads the attached rows through a view (no copy of them).
        classified = f"_connector_classified_{satellite.role}"
        drop_raw(con, f"_connector_{satellite.role}")
        con.execute(f"DROP TABLE IF EXISTS {classified}")
        con.execute(f"ALTER TABLE _connector_classified RENAME TO {classified}")
        con.execute(
            f"CREATE TEMP VIEW _connector_{satellite.role} AS SELECT COLUMNS(lambda c: c NOT IN "
            "('_reason', '_core_rows', '_rank') AND NOT starts_with(c, '_order_')) "
            f"FROM {classified} WHERE _reason IS NULL"
        )
    # The layout SQL gets the checking parameters, and the sentinel dates as table _connector_sentinels
    # (DuckDB takes parameters only in a file's last statement; an effective-to date among them is no
    # end date: PDS).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _connector_sentinels AS SELECT unnest(CAST($d AS DATE[])) AS sentinel_date",
        {"d": [d.isoformat() for d in context.sentinel_dates]},
    )
    db.run_named(con, SQL_LAYER, layout.sql, context.parameters)
    described = {str(name): str(kind) for name, kind, *_ in con.execute("DESCRIBE _raw").fetchall()}
    if "_delivery" in described:
        con.execute("ALTER TABLE _raw DROP COLUMN _delivery")
    raw_types = {name: kind for name, kind in described.items() if name not in {"_file", "_row_number", "_delivery"}}
    # Each core file must carry the required columns itself (or get them from a satellite): one file
    # without the person id is rejected even when another file of the delivery has it.
    joined = [str(name) for name in raw_types if header_key(str(name)) not in core_headers]
    for load, schema in core_files:
        try:
            checking.require_columns(load.file, context, [*schema, *joined])
        except InputError as error:
            batch.reject(load, error)
    accepted = [load for load in core if load in batch.accepted()]
    if not accepted:
        return None
    resolved, unmapped = checking.require_columns(accepted[0].file, context, list(raw_types))
    for load, schema in core_files:
        own = {header_key(h): h for h in schema}
        load.unmapped = [own[header_key(h)] for h in unmapped if header_key(h) in own]
    return accepted, raw_types, resolved


def _read_table(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    files: list[tuple[FileLoad, dict[str, str]]],
    target: str,
    context: FileContext,
    batch: Batch,
    together: bool,
    keep_all: bool = False,
) -> bool:
    """Read the files of one table into ``target``: ``_key``, ``_delivery``, ``_file``, ``_row_number``, its columns.

    Files with the same header are read in one scan. A core table keeps every column; a satellite
    only its key and contributed columns (the others are recorded as unmapped). Declared columns (a
    listed ``columns`` and ``ensure``) are read under their declared spelling, others under the first
    file's; ``ensure`` columns are added as NULL where no file has them. Each satellite file's rows
    read are counted here. False when a file cannot be read (it is rejected; with ``together``,
    :class:`_ChunkUnreadable` is raised instead).
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {target} (_key VARCHAR, _delivery VARCHAR, _file VARCHAR, _row_number BIGINT)"
    )
    # One spelling per column across the files (the declared one, else the first file's), so files
    # spelling a header differently stack into one column.
    spelling = table.declared()
    by_schema: dict[tuple[tuple[str, str], ...], list[FileLoad]] = {}
    for load, schema in files:
        by_schema.setdefault(tuple(schema.items()), []).append(load)
    for signature, loads in by_schema.items():
        schema = dict(signature)
        if keep_all:
            columns = list(schema)
        else:
            columns = table.contributed(list(schema))
            for load in loads:
                load.unmapped = [h for h in schema if h not in columns and header_key(h) != header_key(table.key)]
        by_key = {header_key(h): h for h in schema}
        key = by_key[header_key(table.key)]
        # The satellite's ordering headers travel as _order_1.. (NULL where a file lacks one).
        ordering = [
            f"NULLIF(trim(CAST({ident(by_key[header_key(h)])} AS VARCHAR)), '')" if header_key(h) in by_key else "NULL"
            for h in table.latest_by
        ]
        selected = ", ".join(
            [f"{ident(c)} AS {ident(spelling.setdefault(header_key(c), c))}" for c in columns]
            + [f"{expr} AS _order_{i}" for i, expr in enumerate(ordering, start=1)]
        )
        paths = [load.file for load in loads]
        try:
            # A Parquet file is read by the statement below through a view, not copied first.
            read_files(con, paths, schema, context.encoding, table="_connector_part", lazy=True)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT * FROM {target} UNION ALL BY NAME "
                f"SELECT NULLIF(trim(CAST({ident(key)} AS VARCHAR)), '') AS _key, "
                "($deliveries)[list_position($files, _file)] AS _delivery, _file, _row_number"
                f"{', ' + selected if selected else ''} FROM _connector_part",
                {"files": [str(p) for p in paths], "deliveries": [load.delivery for load in loads]},
            )
        except (InputError, duckdb.Error) as error:
            if together:
                raise _ChunkUnreadable(str(error)) from error
            # Read each file eagerly to name the one that fails (a footer that reads over pages that do not).
            damaged = locate_read_failures(con, paths, schema, context.encoding)
            if not damaged:
                raise
            for load in loads:
                if load.file in damaged:
                    batch.reject(load, damaged[load.file])
            return False
    if not keep_all:
        counted = dict(con.execute(f"SELECT _file, count(*) FROM {target} GROUP BY ALL").fetchall())
        for load, _ in files:
            load.rows_read = int(counted.get(str(load.file), 0))
    present = {header_key(str(row[0])) for row in con.execute(f"DESCRIBE {target}").fetchall()}
    for column in table.ensure:
        if header_key(column) not in present:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {ident(column)} VARCHAR")
    return True


def _classify(con: duckdb.DuckDBPyConnection, satellite: Table, core_loads: list[FileLoad]) -> None:
    """Rank the satellite's rows per key and classify them (``satellite_rows.sql``) into ``_connector_classified``.

    The core rows that refer to a key are the core's own key, or its ``on`` column for a reference
    table; each is named by its file's load id (as a number, :func:`core_row_id`) and row number.
    """
    if satellite.on is None:
        referring = "_key"
    else:
        present = {header_key(str(row[0])): str(row[0]) for row in con.execute("DESCRIBE _connector_core").fetchall()}
        column = present.get(header_key(satellite.on))
        referring = f"NULLIF(trim(CAST({ident(column)} AS VARCHAR)), '')" if column else "CAST(NULL AS VARCHAR)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _connector_refs AS
        SELECT {referring} AS _key, _delivery,
               list({{'l': ($ids)[list_position($files, _file)], 'r': _row_number}}) AS _core_rows
        FROM _connector_core WHERE {referring} IS NOT NULL GROUP BY ALL""",
        {"ids": [core_row_id(load.load_id) for load in core_loads], "files": [str(load.file) for load in core_loads]},
    )
    if satellite.many:
        order = None
    elif satellite.latest_by:
        columns = [f"_order_{i}" for i in range(1, len(satellite.latest_by) + 1)]
        order = ", ".join(
            [f"try_cast({c} AS DOUBLE) DESC NULLS LAST, {c} DESC NULLS LAST" for c in columns]
            + ["_file DESC", "_row_number DESC"]
        )
    else:
        order = "_file, _row_number"
    rank = f"row_number() OVER (PARTITION BY _delivery, _key ORDER BY {order})" if order else "1"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _connector_satellite AS SELECT *, {rank} AS _rank FROM _connector_satellite"
    )
    db.run_named(
        con,
        SQL_LAYER,
        "satellite_rows.sql",
        {"reference": satellite.on is not None, "latest": bool(satellite.latest_by)},
    )


def _account_satellite(
    con: duckdb.DuckDBPyConnection, satellite: Table, core: Table, files: list[tuple[FileLoad, dict[str, str]]]
) -> None:
    """Append the classified rows of one satellite to ``_satellite``.

    Attached rows, and orphans and duplicates with their reason, the key (masked when it looks like
    an NHS number) and their raw record.
    """
    if not files:
        return
    by_file = {
        "ids": [load.load_id for load, _ in files],
        "files": [str(load.file) for load, _ in files],
    }
    rejected = con.execute("SELECT count(*) FROM _connector_classified WHERE _reason IS NOT NULL").fetchone()
    if not (rejected and rejected[0]):
        # Every row attached: no reasons, keys or records to mask (the common case, and a cheap query).
        con.execute(
            f"""INSERT INTO _satellite
                (_load_id, _delivery, _file, _row_number, _field, _value, _core_table, _core_rows)
            SELECT ($ids)[list_position($files, _file)], _delivery, _file,
                   _row_number, $key, CASE WHEN {nhs_number_sql("_key")} THEN '{MASK}' ELSE _key END, $core, _core_rows
            FROM _connector_classified""",
            {**by_file, "key": satellite.key, "core": core.name},
        )
        return
    columns = [str(row[0]) for row in con.execute("DESCRIBE _connector_satellite").fetchall()]
    raw = [
        c
        for c in columns
        if c not in {"_key", "_delivery", "_file", "_row_number", "_rank"} and not c.startswith("_order_")
    ]
    masked = ", ".join(
        [f"{sql_text(satellite.key)}, _masked_key"]
        + [
            f"{sql_text(c)}, CASE WHEN {nhs_number_sql(ident(c))} THEN '{MASK}' ELSE CAST({ident(c)} AS VARCHAR) END"
            for c in raw
        ]
    )
    con.execute(
        f"""INSERT INTO _satellite
        SELECT ($ids)[list_position($files, _file)], _delivery, _file,
               _row_number, _reason, $key, _masked_key,
               CASE _reason
                    WHEN 'orphan_satellite_row' THEN
                         CASE WHEN _masked_key IS NULL THEN printf('no %s on this row', $key)
                              ELSE printf('no %s %s in %s', $key, _masked_key, $core) END
                    WHEN 'unreferenced_satellite_row' THEN
                         CASE WHEN _masked_key IS NULL THEN printf('no %s on this row', $key)
                              ELSE printf('no %s row refers to %s %s', $core, $key, _masked_key) END
                    WHEN 'duplicate_satellite_row' THEN
                         printf('%s %s has an earlier row in %s', $key, _masked_key, $table)
                    WHEN 'superseded_by_later_submission' THEN
                         printf('%s %s has a later submission in %s', $key, _masked_key, $table)
               END,
               $core, _core_rows,
               CASE WHEN _reason IS NOT NULL THEN json_object({masked}) END
        FROM (SELECT *, CASE WHEN {nhs_number_sql("_key")} THEN '{MASK}' ELSE _key END AS _masked_key
              FROM _connector_classified)""",
        {
            **by_file,
            "key": satellite.key,
            "core": core.name,
            "table": satellite.name,
        },
    )
