"""The incremental nightly gives exactly what a full rebuild gives, night after night.

A small seeded ICS arrives month by month: night 1 holds every delivery up to December 2024, each
later night adds the next month. Night 3 also restates an earlier APC month (episodes dropped, an
admission method corrected), night 4 brings an outpatient appointment of 2023 inside the new
month's delivery, and night 5 brings nothing new. After each night's ingest and link the warehouse
is copied; the copy relinks every record and rebuilds features with ``rebuild.full``, the original
links and updates incrementally, and both score and segment. Every link, clinical, feature, score and
segment table must match row for row.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from popheath import config
from popheath.clinical import incremental
from popheath.config import Settings
from popheath.stages import features, ingest, link, score, segment
from popheath.synth import generate

pytestmark = pytest.mark.slow

AS_OF = date(2025, 4, 1)
FIRST_NIGHT = "2024-12"
LATER_NIGHTS = ("2025-01", "2025-02", "2025-03")
RESTATED = "2024-06"
COMPARED_PREFIXES = ("clin_",)
COMPARED = (
    "person_link",
    "person",
    "link_asc_event_links",
    "cohort",
    "features",
    "labels",
    "coverage",
    "scores",
    "segments",
    "pyramid",
)
REPO = Path(__file__).resolve().parents[2]


def _copy_months(source: Path, raw: Path, months: set[str] | None, up_to: str | None) -> None:
    """Copy delivery folders of every source: the months named, or every month up to ``up_to``."""
    for folder in sorted(source.glob("*/*")):
        month = folder.name
        spine = folder.parent.name == "population" and up_to is not None  # the register comes on night 1
        if spine or (months is not None and month in months) or (up_to is not None and month <= up_to):
            shutil.copytree(folder, raw / folder.parent.name / month, dirs_exist_ok=True)


def _restate_apc(raw: Path) -> int:
    """Rewrite one APC month: its first three episodes withdrawn, the next one's admission method corrected."""
    folder = raw / "apc" / RESTATED
    core_path = folder / f"tbl_Data_SEM_APCE_{RESTATED}.parquet"
    core = pl.read_parquet(core_path)
    dropped = core["APCE_Ident"].head(3)
    corrected = core["APCE_Ident"][3]
    core = core.filter(~pl.col("APCE_Ident").is_in(dropped.implode())).with_columns(
        Admission_Method=pl.when(pl.col("APCE_Ident") == corrected).then(pl.lit("21")).otherwise("Admission_Method")
    )
    core.write_parquet(core_path)
    for table in ("Diag", "Proc"):
        path = folder / f"tbl_Data_SEM_APCE_{table}_{RESTATED}.parquet"
        pl.read_parquet(path).filter(~pl.col("APCE_Ident").is_in(dropped.implode())).write_parquet(path)
    return len(dropped)


def _late_appointment(raw: Path, month: str) -> None:
    """Append to ``month``'s outpatient delivery an appointment of May 2023 with a new id (a late record)."""
    old = pl.read_parquet(raw / "opa" / "2023-05" / "tbl_Data_SEM_OPA_2023-05.parquet").head(1)
    path = raw / "opa" / month / f"tbl_Data_SEM_OPA_{month}.parquet"
    current = pl.read_parquet(path)
    late = old.with_columns(OPA_Ident=pl.lit(int(current["OPA_Ident"].max()) + 1_000_000, dtype=old["OPA_Ident"].dtype))
    pl.concat([current, late]).write_parquet(path)


def _settings(base: Path, workspace: Path) -> Settings:
    loaded = config.load(REPO / "popheath.toml")
    paths = dataclasses.replace(
        loaded.paths,
        raw=workspace / "raw",
        truth=base / "truth",
        reference=base / "reference",
        warehouse=workspace / "warehouse.duckdb",
        partitions=workspace / "partitions",
        outputs=workspace / "outputs",
        models=REPO / "models",
    )
    settings = dataclasses.replace(loaded, paths=paths, as_of=AS_OF)
    return config.with_overrides(settings, **{"ingest.data_docs": False, "rebuild.max_affected_share": 1.0})


def _tables(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    try:
        names = [
            name
            for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
            if name.startswith(COMPARED_PREFIXES) or name in COMPARED
        ]
        return {name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in sorted(names)}
    finally:
        con.close()


def _downstream(settings: Settings) -> str:
    result = features.run(settings, AS_OF)
    score.run(settings, AS_OF)
    segment.run(settings, AS_OF)
    return str(result.summary["clinical tables"])


def test_incremental_nightly_equals_full_rebuild_each_night(tmp_path: Path) -> None:
    base = tmp_path / "base"
    generate.write(people=1_500, seed=7, out=base, file_format="parquet")
    work = tmp_path / "incremental"
    settings = _settings(base, work)
    _copy_months(base / "raw", settings.paths.raw, None, FIRST_NIGHT)
    modes, links, relinked = [], [], []
    for night, month in enumerate((None, *LATER_NIGHTS, None), start=1):
        if month is not None:
            _copy_months(base / "raw", settings.paths.raw, {month}, None)
        if night == 3:
            assert _restate_apc(settings.paths.raw) == 3
        if night == 4:
            _late_appointment(settings.paths.raw, month or "")
        ingest.run(settings, AS_OF)
        linked = link.run(settings, AS_OF).summary
        links.append(str(linked.get("links", "linked")))
        relinked.append(str(linked.get("relinked", "-")))
        full_work = tmp_path / f"full_{night}"
        full_work.mkdir()
        full = config.with_overrides(_settings(base, full_work), **{"rebuild.full": True})
        shutil.copy(settings.paths.warehouse, full.paths.warehouse)
        assert link.run(full, AS_OF).summary["relinked"] == "every record (rebuild.full is set)"
        assert _downstream(full).startswith("full: full rebuild asked for")
        modes.append(_downstream(settings))
        expected, got = _tables(full), _tables(settings)
        assert set(expected) == set(got) and "clin_spells" in got and "scores" in got
        for name in expected:
            assert got[name] == expected[name], f"night {night}: {name} differs from the full rebuild"
    assert modes[0].startswith("full: no earlier clinical build")
    assert all(mode.startswith("incremental:") for mode in modes[1:-1]), modes
    # Night 5 brings nothing new: the links stand and the clinical tables are left as they were.
    assert links[:-1] == ["linked"] * 4 and links[-1].startswith("unchanged since link run 4"), links
    # Night 1 links every record; nights 2-4 bring activity but no new population delivery.
    assert relinked[0] == "every record (no earlier link run to build on)", relinked
    assert relinked[1:4] == ["new and restated loads, every ASC event"] * 3, relinked
    assert modes[-1].startswith("unchanged:"), modes


def test_definitions_change_forces_a_full_build(tmp_path: Path) -> None:
    settings = config.with_overrides(Settings(), **{"link.min_link_probability": 0.5})
    parameters = features.feature_tables.sql_parameters(settings, AS_OF)
    changed = features.feature_tables.sql_parameters(Settings(), AS_OF)
    assert incremental.definitions_hash(settings, parameters) != incremental.definitions_hash(Settings(), changed)
    # as_of is not read by the clinical SQL: another date leaves the definitions as they were.
    later = features.feature_tables.sql_parameters(Settings(), date(2026, 4, 1))
    assert incremental.definitions_hash(Settings(), later) == incremental.definitions_hash(Settings(), changed)
