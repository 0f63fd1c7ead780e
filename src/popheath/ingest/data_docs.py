"""Great Expectations beside the load: a background thread validating each source's sample into the Data Docs."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from popheath import db
from popheath.config import Settings
from popheath.errors import PopheathError
from popheath.ingest.checking import file_context
from popheath.ingest.deliveries import SOURCES
from popheath.ingest.reading import first_line
from popheath.quality import contracts
from popheath.quality.compile import ident

if TYPE_CHECKING:
    from popheath.quality.gx_suites import GxRunner, SuiteOutcome

log = logging.getLogger(__name__)


class DataDocs:
    """GX validation of each source's checked rows (a bounded sample) into the Data Docs site.

    GX works in one background thread, started with the stage: its import (seconds) and its pandas
    validation of one source overlap DuckDB's checking and loading of the next, since DuckDB
    releases the GIL while a query runs. A GX failure is reported as a warning, never undoes a load.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.parameters = file_context(settings, SOURCES[0]).parameters
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gx")
        self._runner: Future[GxRunner] = self._pool.submit(self._start)
        self._jobs: list[tuple[str, dict[str, int], Future[SuiteOutcome]]] = []

    def _start(self) -> GxRunner:
        from popheath.quality.gx_suites import GxRunner

        return GxRunner(self.settings.paths.outputs / "data_docs")

    def submit(self, con: duckdb.DuckDBPyConnection, source: str, run_id: str) -> None:
        """Hand the source's sample (temp table ``_gx_<source>``, if any) to GX and drop the table."""
        table = f"_gx_{source}"
        if not db.table_exists(con, table):
            return
        limit = int(self.settings.ingest.gx_sample_rows)
        total = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
        sampled = total > limit
        rows = (
            f"(SELECT * FROM {table} USING SAMPLE reservoir({limit} ROWS) REPEATABLE ({int(self.settings.seed)}))"
            if sampled
            else table
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gx_frame AS SELECT * FROM {rows}")
        sql_counts = dict(
            con.execute(
                "SELECT r, count(*) FROM (SELECT unnest(list_distinct(_rules)) AS r FROM _gx_frame) GROUP BY r"
            ).fetchall()
        )
        contract = contracts.load_contract(source)
        frame = con.execute(f"SELECT {', '.join(ident(c) for c in contract.column_names)} FROM _gx_frame").df()
        con.execute(f"DROP TABLE {table}")
        con.execute("DROP TABLE _gx_frame")
        self._jobs.append((source, sql_counts, self._pool.submit(self._validate, source, frame, sampled, run_id)))

    def _validate(self, source: str, frame: Any, sampled: bool, run_id: str) -> SuiteOutcome:
        runner = self._runner.result()
        return runner.validate(source, contracts.load_suite(source), frame, self.parameters, sampled, run_id)

    def finish(self) -> tuple[Path | None, list[str]]:
        """Wait for GX; return the Data Docs index (None when nothing was validated) and warnings."""
        warnings: list[str] = []
        try:
            for source, sql_counts, job in self._jobs:
                outcome = job.result()
                warnings += _cross_check(source, outcome, sql_counts)
                log.info(
                    "GX %s: validated %d rows%s: %s",
                    source,
                    outcome.rows_validated,
                    " (a sample)" if outcome.sampled else "",
                    "every expectation met" if outcome.success else "some rows fail expectations (see the Data Docs)",
                )
            index = self._runner.result().build_docs() if self._jobs else None
        except PopheathError:
            raise
        except Exception as error:  # noqa: BLE001 - the load is committed; report, do not undo it
            log.warning("Great Expectations validation failed: %s", error)
            return None, [f"Great Expectations validation failed: {first_line(error)}"]
        finally:
            self._pool.shutdown(wait=True)
        return index, warnings


def _cross_check(source: str, outcome: SuiteOutcome, sql_counts: dict[str, int]) -> list[str]:
    """GX's unexpected counts against the load's SQL on the same rows (row rules only)."""
    warnings = []
    for item in outcome.expectations:
        if item.unexpected_count is None or item.expectation_type in {
            "expect_column_values_to_be_unique",
            "expect_compound_columns_to_be_unique",
        }:
            continue
        if int(item.unexpected_count) != int(sql_counts.get(item.rule, 0)):
            warnings.append(
                f"{source}: GX counts {item.unexpected_count} rows failing {item.rule}, the load's SQL "
                f"{sql_counts.get(item.rule, 0)} (check the suite's compiled form)"
            )
    return warnings


def start_docs(settings: Settings) -> DataDocs | None:
    """The Data Docs thread, or None when ``ingest.data_docs`` is off."""
    return DataDocs(settings) if settings.ingest.data_docs else None
