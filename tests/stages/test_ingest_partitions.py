"""Airflow path: one partition per delivery, then one merge, gives exactly what ``ingest.run`` gives."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from popheath.config import Settings
from popheath.errors import InputError, StageError
from popheath.stages import ingest

from .test_ingest_fixtures import (
    APC_HEADER,
    POP_HEADER,
    RAW_NHS,
    TOKEN_A,
    TOKEN_B,
    apc_row,
    assert_invariant,
    pop_row,
    query,
    settings_for,
    write_csv,
)

AS_OF = date(2025, 4, 1)
STG = "SELECT * EXCLUDE (_load_id) FROM stg_apc ORDER BY ALL"
QUARANTINE = "SELECT * EXCLUDE (load_id, quarantined_at) FROM quarantine ORDER BY ALL"
AUDIT = (
    "SELECT source, delivery, file, checksum, rows_read, rows_loaded, rows_quarantined, quarantined_by_reason, "
    "rows_replaced, rows_flagged, outcome FROM load_audit ORDER BY ALL"
)


def raw_deliveries(root: Path) -> None:
    """Population, three APC deliveries with late arrivals, a restated key, duplicates and bad rows."""
    write_csv(root / "raw" / "population" / "2025-03" / "pop.csv", POP_HEADER, [pop_row(TOKEN_A), pop_row(TOKEN_B)])
    apc = root / "raw" / "apc"
    write_csv(apc / "2024-06" / "apc.csv", APC_HEADER, [apc_row("E0"), apc_row("E1", Discharge_Date="")])
    write_csv(
        apc / "2024-07" / "apc_a.csv",
        APC_HEADER,
        [apc_row("E1"), apc_row("E2"), apc_row("E2"), apc_row("E3", Episode_Number="x")],
    )
    write_csv(apc / "2024-07" / "apc_b.csv", APC_HEADER, [apc_row("E2", Discharge_Date="2024-07-03")])
    write_csv(
        apc / "2024-08" / "apc.csv",
        APC_HEADER,
        [
            apc_row("E4", TOKEN_B),
            apc_row("E5", Der_Pseudo_NHS_Number=RAW_NHS),
            apc_row("E1", Discharge_Date="2024-07-09"),
        ],
    )


def via_partitions(settings: Settings) -> None:
    paths = [ingest.ingest_partition(settings, d) for d in ingest.list_deliveries(settings)]
    ingest.merge_partitions(settings, paths, AS_OF)


def snapshot(settings: Settings) -> tuple[list[tuple[object, ...]], ...]:
    return tuple(query(settings, sql) for sql in (STG, QUARANTINE, AUDIT))


def two_settings(tmp_path: Path) -> tuple[Settings, Settings]:
    raw_deliveries(tmp_path)
    a = settings_for(tmp_path)
    b = dataclasses.replace(
        a,
        paths=dataclasses.replace(a.paths, warehouse=tmp_path / "merged.duckdb", partitions=tmp_path / "parts"),
    )
    return a, b


def test_list_deliveries_is_stable_and_population_first(tmp_path: Path) -> None:
    raw_deliveries(tmp_path)
    assert ingest.list_deliveries(settings_for(tmp_path)) == [
        "population/2025-03",
        "apc/2024-06",
        "apc/2024-07",
        "apc/2024-08",
    ]


def test_partitions_then_merge_equal_run(tmp_path: Path) -> None:
    direct, partitioned = two_settings(tmp_path)
    ingest.run(direct, AS_OF)
    via_partitions(partitioned)
    stg, quarantine, audit = snapshot(partitioned)
    assert (stg, quarantine, audit) == snapshot(direct)
    assert [r[0] for r in query(partitioned, "SELECT episode_id FROM stg_apc ORDER BY 1")] == ["E0", "E1", "E2", "E4"]
    assert dict(query(partitioned, "SELECT rule, count(*) FROM quarantine GROUP BY 1")) == {
        "duplicate_row": 1,
        "invalid_integer:episode_order": 1,
        "raw_nhs_number": 1,
    }
    # E1: June's copy replaced by July's, July's by August's; E2: file a's copy replaced by file b's.
    assert query(partitioned, "SELECT delivery, sum(rows_replaced) FROM load_audit GROUP BY 1 ORDER BY 1") == [
        ("2024-06", 0),
        ("2024-07", 2),
        ("2024-08", 1),
        ("2025-03", 0),
    ]
    assert_invariant(partitioned)
    assert not list((tmp_path / "parts" / "ingest").glob("*.duckdb"))  # merged partitions are deleted


def test_merge_twice_changes_nothing_and_unchanged_partitions_say_so(tmp_path: Path) -> None:
    _, settings = two_settings(tmp_path)
    paths = [ingest.ingest_partition(settings, d) for d in ingest.list_deliveries(settings)]
    copies = [p.with_name(p.name + ".copy") for p in paths]
    for p, c in zip(paths, copies, strict=True):
        c.write_bytes(p.read_bytes())
    ingest.merge_partitions(settings, paths, AS_OF)
    before = snapshot(settings)
    for p, c in zip(paths, copies, strict=True):
        c.rename(p)
    ingest.merge_partitions(settings, paths, AS_OF)  # the same partitions again: already merged
    assert snapshot(settings) == before
    # A new nightly run over the same raw data: every partition says unchanged, the merge loads nothing.
    again = [ingest.ingest_partition(settings, d) for d in ingest.list_deliveries(settings)]
    result = ingest.merge_partitions(settings, again, AS_OF)
    assert result.summary["files unchanged"] == 5 and result.summary["rows read"] == 0
    assert snapshot(settings)[:2] == before[:2]
    assert_invariant(settings)


def test_partition_does_not_write_the_warehouse_and_rejects_bad_delivery(tmp_path: Path) -> None:
    _, settings = two_settings(tmp_path)
    write_csv(tmp_path / "raw" / "apc" / "2024-09" / "apc.csv", ["APCE_Ident"], [{"APCE_Ident": "E9"}])
    with pytest.raises(InputError, match="apc.csv"):
        ingest.ingest_partition(settings, "apc/2024-09")
    assert not settings.paths.warehouse.exists()
    partition = ingest.partition_path(settings, "apc/2024-09")
    assert partition.exists()
    with pytest.raises(StageError, match="apc.csv"):
        ingest.merge_partitions(settings, [partition], AS_OF)
    assert query(settings, "SELECT outcome, rows_read FROM load_audit") == [("rejected", 0)]
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(0,)]


def test_multi_table_delivery_partitions_then_merge_equal_run(tmp_path: Path) -> None:
    """A NCDR APC delivery (episodes + diagnoses with an orphan and a duplicate row) and a later restatement."""
    apce = ["APCE_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Admission_Date", "Admission_Method"]
    diag = ["APCE_Ident", "Primary_Diagnosis_Code", "Secondary_Diagnosis_Code_1"]

    def episode(ident: str, admitted: str = "2024-07-01") -> dict[str, str]:
        return dict(zip(apce, [ident, TOKEN_A, "RXX", admitted, "21"], strict=True))

    def diagnoses(ident: str, *codes: str) -> dict[str, str]:
        return dict(zip(diag, [ident, *codes], strict=False))

    apc = tmp_path / "raw" / "apc"
    write_csv(apc / "2024-07" / "tbl_Data_SEM_APCE.csv", apce, [episode("1"), episode("2"), episode("3", "bad")])
    write_csv(
        apc / "2024-07" / "tbl_Data_SEM_APCE_Diag.csv",
        diag,
        [diagnoses("1", "J441-", "I10X-"), diagnoses("3", "I10X"), diagnoses("9", "I10X"), diagnoses("1", "R69")],
    )
    write_csv(apc / "2024-08" / "tbl_Data_SEM_APCE.csv", apce, [episode("2")])
    write_csv(apc / "2024-08" / "tbl_Data_SEM_APCE_Diag.csv", diag, [diagnoses("2", "E119")])
    connectors = {"apc": "ncdr"}
    direct = settings_for(tmp_path, connectors=connectors)
    partitioned = dataclasses.replace(
        direct,
        paths=dataclasses.replace(direct.paths, warehouse=tmp_path / "merged.duckdb", partitions=tmp_path / "parts"),
    )
    ingest.run(direct, AS_OF)
    via_partitions(partitioned)
    assert snapshot(partitioned) == snapshot(direct)
    assert query(partitioned, "SELECT episode_id, diagnoses, _delivery FROM stg_apc ORDER BY 1") == [
        ("1", ["J441", "I10"], "2024-07"),
        ("2", ["E119"], "2024-08"),
    ]
    assert dict(query(partitioned, "SELECT rule, count(*) FROM quarantine GROUP BY 1")) == {
        "invalid_date:admission_date": 1,
        "core_row_quarantined": 1,
        "orphan_satellite_row": 1,
        "duplicate_satellite_row": 1,
    }
    assert query(partitioned, "SELECT count(*) FROM load_audit") == [(4,)]
    assert_invariant(partitioned)
