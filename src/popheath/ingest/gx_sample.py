"""Keep each source's checked rows sample for Great Expectations, off the load's critical path.

Phase A (:mod:`popheath.ingest.checking`) draws a seeded sample of at most ``ingest.gx_sample_rows``
checked rows per batch, with the row rules the compiled SQL found (``_rules``). The load writes it
to ``<paths.partitions>/gx_samples/<source>.parquet`` (replacing that source's previous sample) and
goes on; ``popheath data-docs`` validates the samples with GX later, beside the rest of the run,
without opening the warehouse. A source with no changed delivery keeps its previous sample.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from popheath import db
from popheath.config import Settings
from popheath.ingest.reading import sql_text

RUN_ID_COLUMN = "_run_id"


def samples_dir(settings: Settings) -> Path:
    """Where the samples live: ``<paths.partitions>/gx_samples``."""
    return settings.paths.partitions / "gx_samples"


def sample_table(source: str) -> str:
    """The temporary table phase A leaves the sample of ``source`` in."""
    return f"_gx_{source}"


def keep_sample(con: duckdb.DuckDBPyConnection, settings: Settings, source: str, run_id: str) -> Path | None:
    """Write the sample of ``source`` (if this run checked any rows) to its Parquet file; drop the temp table."""
    table = sample_table(source)
    if not settings.ingest.data_docs or not db.table_exists(con, table):
        return None
    folder = samples_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}.parquet"
    partial = path.with_name(path.name + ".partial")
    con.execute(
        f"COPY (SELECT *, {sql_text(run_id)} AS {RUN_ID_COLUMN} FROM {table}) TO {sql_text(str(partial))} "
        "(FORMAT parquet)"
    )
    partial.replace(path)
    con.execute(f"DROP TABLE {table}")
    return path
