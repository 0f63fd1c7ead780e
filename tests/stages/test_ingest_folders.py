"""What a raw folder holds besides data, through the real ingest stage: files that are not data, links out
of the raw folder, headers of any width, misspelt, empty or misplaced source folders, and a run that
finds nothing to load (a warning naming what was expected; a non-zero exit when no source had files)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from popheath import cli
from popheath.errors import InputError, StageError
from popheath.stages import ingest

from .test_ingest_fixtures import (
    APC_HEADER,
    POP_HEADER,
    TOKEN_A,
    apc_row,
    assert_invariant,
    pop_row,
    query,
    settings_for,
    write_csv,
)

AS_OF = date(2025, 4, 1)


def apc(tmp_path: Path, delivery: str = "2024-07", name: str = "apc.csv", episodes: tuple[str, ...] = ("E1",)) -> Path:
    return write_csv(tmp_path / "raw" / "apc" / delivery / name, APC_HEADER, [apc_row(e) for e in episodes])


def audit_rows(settings) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    rows = query(settings, "SELECT file, outcome, error, rows_read, rows_loaded FROM load_audit ORDER BY file, outcome")
    return [(Path(str(f)).name, o, e, r, lo) for f, o, e, r, lo in rows]


def test_files_that_are_not_data_are_named_in_a_warning_and_the_audit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    good = apc(tmp_path)
    folder = good.parent
    for name in ("extract.zip", "extract.xlsx", ".DS_Store", "~$extract.xlsx", "._apc.csv", "README"):
        (folder / name).write_bytes(b"\x00\x01 not data")
    (folder / "old").mkdir()
    result = ingest.run(settings, AS_OF)
    assert sorted(w for w in result.warnings if "not loaded" in w) == sorted([
        f"{folder / '.DS_Store'}: a hidden or lock file, not loaded (expected .csv or .parquet files)",
        f"{folder / '._apc.csv'}: a hidden or lock file, not loaded (expected .csv or .parquet files)",
        f"{folder / 'README'}: not a data file (no extension), not loaded (expected .csv or .parquet files)",
        f"{folder / 'extract.xlsx'}: not a data file (.xlsx), not loaded (expected .csv or .parquet files)",
        f"{folder / 'extract.zip'}: not a data file (.zip), not loaded (expected .csv or .parquet files)",
        f"{folder / 'old'}: a folder inside a delivery (deliveries are not nested), not loaded "
        "(expected .csv or .parquet files)",
        f"{folder / '~$extract.xlsx'}: a hidden or lock file, not loaded (expected .csv or .parquet files)",
    ])  # fmt: skip
    assert audit_rows(settings) == [
        (".DS_Store", "skipped", "a hidden or lock file", 0, 0),
        ("._apc.csv", "skipped", "a hidden or lock file", 0, 0),
        ("README", "skipped", "not a data file (no extension)", 0, 0),
        ("apc.csv", "loaded", None, 1, 1),
        ("extract.xlsx", "skipped", "not a data file (.xlsx)", 0, 0),
        ("extract.zip", "skipped", "not a data file (.zip)", 0, 0),
        ("old", "skipped", "a folder inside a delivery (deliveries are not nested)", 0, 0),
        ("~$extract.xlsx", "skipped", "a hidden or lock file", 0, 0),
    ]
    assert result.summary["files skipped"] == 7 and result.summary["rows loaded"] == 1
    # A rerun: the delivery is unchanged, and the files set aside are named again.
    again = ingest.run(settings, AS_OF)
    assert again.summary["files unchanged"] == 1 and again.summary["files skipped"] == 7
    assert_invariant(settings)


def test_a_delivery_of_only_non_data_files_is_audited_and_the_run_fails_with_nothing_to_load(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    folder = tmp_path / "raw" / "apc" / "2024-07"
    folder.mkdir(parents=True)
    (folder / "extract.zip").write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError) as caught:
        ingest.run(settings, AS_OF)
    assert str(caught.value).startswith(f"{tmp_path / 'raw'}: expected <source>/<delivery>/*.csv or *.parquet")
    assert audit_rows(settings) == [("extract.zip", "skipped", "not a data file (.zip)", 0, 0)]


def test_a_symbolic_link_out_of_the_raw_folder_is_refused_and_its_delivery_left_as_it_was(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc(tmp_path, "2024-07", episodes=("E1", "E2"))
    ingest.run(settings, AS_OF)
    outside = write_csv(tmp_path / "elsewhere" / "secret.csv", APC_HEADER, [apc_row("E9")])
    apc(tmp_path, "2024-07", name="apc.csv", episodes=("E1",))  # a restatement, with a link beside it
    link = tmp_path / "raw" / "apc" / "2024-07" / "more.csv"
    os.symlink(outside, link)
    with pytest.raises(InputError) as caught:
        ingest.run(settings, AS_OF)
    assert str(caught.value) == (
        f"{link}: expected a .csv or .parquet file inside the raw folder, "
        f"got 'a symbolic link to {outside.resolve()}, outside the raw folder {(tmp_path / 'raw').resolve()}'"
    )
    # The July rows loaded before are untouched; the refused link and its delivery are audited.
    assert query(settings, "SELECT episode_id FROM stg_apc ORDER BY 1") == [("E1",), ("E2",)]
    latest = query(settings, "SELECT file, outcome FROM load_audit WHERE run_id = (SELECT max(run_id) FROM load_audit)")
    assert sorted((Path(str(f)).name, o) for f, o in latest) == [("apc.csv", "not_loaded"), ("more.csv", "rejected")]
    assert_invariant(settings)


def test_links_inside_the_raw_folder_load_and_a_broken_link_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    june = apc(tmp_path, "2024-06", episodes=("E1",))
    os.symlink(june, june.parent / "copy.csv.bak")  # a link inside raw, but not data: skipped
    os.symlink(june.parent, tmp_path / "raw" / "apc" / "2024-07")  # a delivery folder linked inside raw
    broken = tmp_path / "raw" / "apc" / "2024-08" / "gone.csv"
    broken.parent.mkdir()
    os.symlink(tmp_path / "raw" / "nowhere.csv", broken)
    with pytest.raises(InputError, match="gone.csv: .*a symbolic link to .*nowhere.csv, which does not exist"):
        ingest.run(settings, AS_OF)
    # June loads, July (the linked folder) loads and replaces June's copy; August is refused.
    assert query(settings, "SELECT episode_id, _delivery FROM stg_apc") == [("E1", "2024-07")]
    assert query(settings, "SELECT delivery, outcome FROM load_audit ORDER BY 1, 2") == [
        ("2024-06", "loaded"), ("2024-06", "skipped"), ("2024-07", "loaded"), ("2024-07", "skipped"),
        ("2024-08", "rejected"),
    ]  # fmt: skip
    assert_invariant(settings)


@pytest.mark.parametrize(("columns", "width"), [(300, 12), (300, 340)])
def test_headers_of_any_width_are_read_whole(tmp_path: Path, columns: int, width: int) -> None:
    settings = settings_for(tmp_path)
    extra = [f"Local_{i:04d}_" + "x" * width for i in range(columns)]
    row = apc_row("E1", **{name: str(i) for i, name in enumerate(extra)})
    path = write_csv(tmp_path / "raw" / "apc" / "2024-07" / "wide.csv", [*APC_HEADER, *extra], [row])
    assert len(path.read_bytes().split(b"\n", 1)[0]) > (100_000 if width > 300 else 4_000)
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id FROM stg_apc") == [("E1",)]
    unmapped = query(settings, "SELECT unmapped_columns FROM load_audit")[0][0]
    assert unmapped == extra
    assert_invariant(settings)


def test_misspelt_empty_and_misplaced_source_folders_are_warnings_naming_what_was_expected(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    raw = tmp_path / "raw"
    write_csv(raw / "population" / "2024-07" / "pop.csv", POP_HEADER, [pop_row(TOKEN_A)])
    write_csv(raw / "apcc" / "2024-07" / "apc.csv", APC_HEADER, [apc_row("E1")])
    write_csv(raw / "extract" / "opa" / "2024-07" / "opa.csv", ["x"], [{"x": "1"}])
    (raw / "csds").mkdir()
    (raw / "notes.txt").write_text("delivered by ...", encoding="utf-8")
    result = ingest.run(settings, AS_OF)
    assert sorted(result.warnings) == sorted([
        f"{raw / 'apcc'}: not a source folder, not loaded: did you mean {raw / 'apc'}?",
        f"{raw / 'extract'}: not a source folder but it holds opa: is the raw path one level too high? "
        f"(expected {raw}/<source>/<delivery>/, e.g. set paths.raw to {raw / 'extract'})",
        f"{raw / 'notes.txt'}: a file outside any source folder, not loaded "
        "(expected source folders population, apc, ecds, opa, csds, asc)",
        f"{raw / 'csds'}: no .csv or .parquet files (expected {raw / 'csds'}/<delivery>/*.csv or *.parquet)",
    ])  # fmt: skip
    assert result.summary["rows loaded"] == 1
    assert_invariant(settings)


def test_a_wrong_raw_folder_warns_and_the_cli_exits_non_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    # paths.raw one level too high: the sources sit in raw/extract/.
    write_csv(tmp_path / "raw" / "extract" / "apc" / "2024-07" / "apc.csv", APC_HEADER, [apc_row("E1")])
    (tmp_path / "popheath.toml").write_text(
        '[paths]\nraw = "raw"\nwarehouse = "w.duckdb"\noutputs = "out"\n[ingest]\ndata_docs = false\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--log-level", "WARNING", "ingest"]) == 2
    out = capsys.readouterr()
    said = " ".join((out.out + out.err).split())
    assert "not a source folder but it holds apc: is the raw path one level too high?" in said
    assert ": expected <source>/<delivery>/*.csv or *.parquet for at least one of population" in said
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM load_audit").fetchall() == [(0,)]
    con.close()
    # Pointed at the right folder, the same delivery loads and the exit code is 0.
    assert cli.main(["--log-level", "WARNING", "ingest", "raw/extract"]) == 0


def test_the_airflow_path_audits_files_set_aside_and_refuses_a_link_as_the_stage_does(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc(tmp_path, "2024-07")
    (tmp_path / "raw" / "apc" / "2024-07" / "extract.zip").write_bytes(b"PK\x03\x04")
    outside = write_csv(tmp_path / "elsewhere" / "apc.csv", APC_HEADER, [apc_row("E9")])
    (tmp_path / "raw" / "apc" / "2024-08").mkdir()
    link = tmp_path / "raw" / "apc" / "2024-08" / "apc.csv"
    os.symlink(outside, link)
    listed = ingest.list_deliveries(settings)
    assert listed == ["apc/2024-07", "apc/2024-08"]
    partitions = [ingest.ingest_partition(settings, listed[0])]
    with pytest.raises(InputError, match="2024-08/apc.csv: expected a .csv or .parquet file inside the raw folder"):
        ingest.ingest_partition(settings, listed[1])
    partitions.append(ingest.partition_path(settings, listed[1]))
    with pytest.raises(StageError, match="2024-08/apc.csv: expected a .csv or .parquet file inside the raw folder"):
        ingest.merge_partitions(settings, partitions, AS_OF)
    refused = InputError(
        link,
        None,
        "a .csv or .parquet file inside the raw folder",
        got=f"a symbolic link to {outside.resolve()}, outside the raw folder {(tmp_path / 'raw').resolve()}",
    )
    assert audit_rows(settings) == [  # ordered by path: 2024-07's two files, then 2024-08's
        ("apc.csv", "loaded", None, 1, 1),
        ("extract.zip", "skipped", "not a data file (.zip)", 0, 0),
        ("apc.csv", "rejected", str(refused), 0, 0),
    ]
    assert query(settings, "SELECT episode_id FROM stg_apc") == [("E1",)]
    assert_invariant(settings)


def test_airflow_listing_fails_when_no_source_has_data(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (tmp_path / "raw" / "apcc" / "2024-07").mkdir(parents=True)
    with pytest.raises(InputError, match="expected <source>/<delivery>/"):
        ingest.list_deliveries(settings)
