"""Run the GX suites (``expectations/<source>.json``) with Great Expectations 1.x and write Data Docs.

Design (measured, see :mod:`popheath.ingest`): row-level rules are enforced exactly and
set-based by the SQL compiled from the same suites (:mod:`popheath.quality.compile`). GX runs each
source's suite once per ingest run, through its pandas data source, on the rows checked in that
run: all of them when there are at most ``ingest.gx_sample_rows``, otherwise a seeded reservoir
sample of that size. Its cost is therefore bounded whatever the extract size, while the Data Docs
still show each expectation with observed failure rates, and a cross-check compares GX's unexpected
counts with the SQL's on the same rows, so the compiled rules cannot drift from GX's semantics.
We use pandas frames rather than a DuckDB SQL data source because GX's SQL path needs SQLAlchemy
dialect support for DuckDB, which is an extra dependency and slower for this purpose.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from popheath.quality.contracts import Suite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationOutcome:
    """GX's verdict on one expectation."""

    rule: str
    expectation_type: str
    column: str | None
    success: bool
    unexpected_count: int | None
    element_count: int | None
    # The first line of the exception when the expectation could not be evaluated (GX reports it as
    # unsuccessful with no counts; it is neither a pass nor a failure of the data).
    error: str | None = None


@dataclass(frozen=True)
class SuiteOutcome:
    """GX's verdict on one source's suite for one run."""

    source: str
    rows_validated: int
    sampled: bool
    success: bool
    expectations: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def crashed(self) -> list[ExpectationOutcome]:
        """Expectations GX could not evaluate."""
        return [item for item in self.expectations if item.error is not None]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        """Expectations evaluated and not met."""
        return [item for item in self.expectations if item.error is None and not item.success]


def _raised(info: Any) -> str | None:
    """The exception message in a GX result's ``exception_info``, flat or keyed by metric, if one was raised."""
    if not isinstance(info, dict):
        return None
    entries = [info] if "raised_exception" in info else [value for value in info.values() if isinstance(value, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "exception raised")
            return message.splitlines()[0] if message.strip() else "exception raised"
    return None


class GxRunner:
    """An ephemeral GX context with one pandas data source and a Data Docs site in ``docs_dir``."""

    def __init__(self, docs_dir: Path) -> None:
        # GX is slow to import (several seconds) and only needed here.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx

        self._gx = gx
        self.docs_dir = docs_dir
        docs_dir.mkdir(parents=True, exist_ok=True)
        self.context = gx.get_context(mode="ephemeral")
        try:
            self.context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
        except Exception:  # noqa: BLE001 - cosmetic only; older configs lack the option
            log.debug("could not switch off GX progress bars")
        for name in list(self.context.get_site_names()):
            self.context.delete_data_docs_site(name)
        self.context.add_data_docs_site(
            "popheath",
            {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.datasource = self.context.data_sources.add_pandas("popheath_ingest")

    def validate(
        self, source: str, suite: Suite, frame: pd.DataFrame, parameters: dict[str, Any], sampled: bool, run_name: str
    ) -> SuiteOutcome:
        """Validate ``frame`` against ``suite``; the result is kept for :meth:`build_docs`."""
        gx = self._gx
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.core.run_identifier import RunIdentifier

        asset = self.datasource.add_dataframe_asset(source)
        batch = asset.add_batch_definition_whole_dataframe(f"{source}_checked_rows")
        document = {key: value for key, value in suite.document.items() if key in {"name", "expectations", "meta"}}
        document["meta"] = {**document.get("meta", {}), "rows_validated": len(frame), "sampled": sampled}
        gx_suite = self.context.suites.add(ExpectationSuite(**document))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{source}_ingest", data=batch, suite=gx_suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"{source}_ingest",
                validation_definitions=[definition],
                actions=[],
                result_format={"result_format": "SUMMARY"},
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            run_id=RunIdentifier(run_name=run_name),
        )
        outcomes = []
        for validation in result.run_results.values():
            for item in validation.results:
                config = item.expectation_config
                if config is None:
                    continue
                meta = config.meta or {}
                outcomes.append(
                    ExpectationOutcome(
                        rule=str(meta.get("rule", config.type)),
                        expectation_type=config.type,
                        column=config.kwargs.get("column") or config.kwargs.get("column_A"),
                        success=bool(item.success),
                        unexpected_count=item.result.get("unexpected_count"),
                        element_count=item.result.get("element_count"),
                        error=_raised(item.exception_info),
                    )
                )
        return SuiteOutcome(source, len(frame), sampled, bool(result.success), outcomes)

    def build_docs(self) -> Path:
        """Render the Data Docs site once, for every suite validated so far; return its home page.

        Rendering after each validation (GX's ``UpdateDataDocsAction``) re-renders every earlier
        result each time; one build at the end of the run writes the same pages once.
        """
        self.context.build_data_docs(site_names=["popheath"])
        return self.docs_dir / "index.html"
