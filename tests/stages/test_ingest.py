"""Ingest fault suite: each kind of bad input gives a clear error or a quarantine with the right reason,
and rows read = loaded + quarantined holds in every case."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from popheath.errors import InputError
from popheath.ingest import deliveries
from popheath.stages import ingest

from .test_ingest_fixtures import (
    APC_HEADER,
    POP_HEADER,
    RAW_NHS,
    TOKEN_A,
    TOKEN_B,
    TOKEN_OUT_OF_AREA,
    apc_row,
    assert_invariant,
    pop_row,
    query,
    settings_for,
    write_csv,
)

AS_OF = date(2025, 4, 1)


def apc_file(
    tmp_path: Path, rows: list[dict[str, str]], delivery: str = "2024-07", name: str = "apc.csv", **kw: object
) -> Path:
    return write_csv(tmp_path / "raw" / "apc" / delivery / name, kw.pop("header", APC_HEADER), rows, **kw)  # type: ignore[arg-type]


def reasons(settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return dict(query(settings, "SELECT rule, count(*) FROM quarantine GROUP BY rule"))  # type: ignore[arg-type]


def test_clean_file_loads_canonical_columns_and_normalises_codes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(
        tmp_path,
        [apc_row("E1", Primary_Procedure_Code="K40.1"), apc_row("E2", TOKEN_B, Primary_Diagnosis_Code="i50.9")],
    )
    result = ingest.run(settings, AS_OF)
    assert result.summary["rows loaded"] == 2
    rows = query(
        settings,
        "SELECT episode_id, person_id, diagnoses, procedures, admission_method, _raw_values FROM stg_apc ORDER BY 1",
    )
    assert rows[0][:5] == ("E1", TOKEN_A, ["J441", "I10"], ["K401"], "21")
    assert json.loads(rows[0][5])["diagnoses"] == ["J44.1", "I10X", None]
    assert rows[1][2] == ["I509", "I10"]
    columns = [r[0] for r in query(settings, "SELECT column_name FROM (DESCRIBE stg_apc)")]
    assert columns[:17] == [
        "episode_id", "person_id", "spell_id", "provider_code", "admission_date", "discharge_date", "episode_start",
        "episode_end", "episode_order", "admission_method", "admission_source", "discharge_destination",
        "discharge_method", "diagnoses", "procedures", "hrg_code", "treatment_specialty",
    ]  # fmt: skip  # noqa: E501
    assert_invariant(settings)


def test_population_codes_decoded(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_csv(tmp_path / "raw" / "population" / "2024-07" / "pop.csv", POP_HEADER,
              [pop_row(TOKEN_A), pop_row(TOKEN_B, Gender="1", Care_Home_Flag="Y", Date_Of_Death="2024-01-02")])  # fmt: skip  # noqa: E501
    ingest.run(settings, AS_OF)
    rows = query(
        settings,
        "SELECT person_id, sex, care_home, national_data_opt_out, date_of_death FROM stg_population ORDER BY 1",
    )
    assert rows == [(TOKEN_A, "F", False, True, None), (TOKEN_B, "M", True, True, date(2024, 1, 2))]
    assert_invariant(settings)


def test_missing_required_column_rejects_file_naming_field(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    header = [h for h in APC_HEADER if h != "Admission_Date"]
    apc_file(tmp_path, [apc_row("E1")], header=header)
    with pytest.raises(InputError) as caught:
        ingest.run(settings, AS_OF)
    message = str(caught.value)
    assert "apc.csv" in message and "admission_date" in message and "Admission_Date" in message
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(0,)]
    assert query(settings, "SELECT outcome FROM load_audit") == [("rejected",)]
    assert_invariant(settings)


def test_renamed_column_rejected_with_suggestion(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    header = ["Admission_Dt" if h == "Admission_Date" else h for h in APC_HEADER]
    row = apc_row("E1")
    row["Admission_Dt"] = row.pop("Admission_Date")
    apc_file(tmp_path, [row], header=header)
    with pytest.raises(InputError, match="did you mean 'Admission_Dt'"):
        ingest.run(settings, AS_OF)
    assert_invariant(settings)


def test_extra_column_ignored_and_recorded(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Local_Note="ok")], header=[*APC_HEADER, "Local_Note"])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT rows_loaded, unmapped_columns FROM load_audit") == [(1, ["Local_Note"])]
    assert_invariant(settings)


def test_wrong_type_and_unparseable_date_quarantined(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E2", Episode_Number="two"), apc_row("E3", Discharge_Date="2024-13-45")])
    ingest.run(settings, AS_OF)
    assert reasons(settings) == {"invalid_integer:episode_order": 1, "invalid_date:discharge_date": 1}
    assert query(settings, "SELECT row_number, field, value FROM quarantine ORDER BY 1") == [
        (2, "episode_order", "two"),
        (3, "discharge_date", "2024-13-45"),
    ]
    assert_invariant(settings)


def test_sentinel_date_becomes_null_with_flag_and_raw_value(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Discharge_Date="1801-01-01", Episode_End_Date="1800-01-01")])
    ingest.run(settings, AS_OF)
    row = query(settings, "SELECT discharge_date, episode_end, _flags, _raw_values FROM stg_apc")[0]
    assert row[0] is None and row[1] is None
    assert set(row[2]) == {"sentinel_date:discharge_date", "sentinel_date:episode_end"}  # type: ignore[arg-type]
    assert json.loads(row[3])["discharge_date"] == "1801-01-01"  # type: ignore[arg-type]
    assert_invariant(settings)


def test_future_date_quarantined(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Admission_Date="2099-01-01", Discharge_Date="2099-01-02",
                                Episode_Start_Date="2099-01-01", Episode_End_Date="2099-01-02")])  # fmt: skip  # noqa: E501
    ingest.run(settings, AS_OF)
    assert reasons(settings) == {"future_date:admission_date": 1}
    assert_invariant(settings)


def test_discharge_before_admission_quarantined(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Discharge_Date="2024-06-30")])
    ingest.run(settings, AS_OF)
    assert reasons(settings) == {"discharge_before_admission": 1}
    assert query(settings, "SELECT value FROM quarantine") == [("2024-06-30 < 2024-07-01",)]
    assert_invariant(settings)


def test_duplicate_rows_keep_one(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E1"), apc_row("E1"), apc_row("E2")])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id, _row_number FROM stg_apc ORDER BY 1") == [("E1", 1), ("E2", 4)]
    assert reasons(settings) == {"duplicate_row": 2}
    assert_invariant(settings)


def test_duplicate_keys_with_different_content_quarantine_every_version(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E1", Discharge_Date="2024-07-09"), apc_row("E2")])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id FROM stg_apc") == [("E2",)]
    assert reasons(settings) == {"duplicate_key": 2}
    assert_invariant(settings)


def test_unknown_codes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Admission_Method="Z9"), apc_row("E2", Primary_Diagnosis_Code="NOTACODE")])
    ingest.run(settings, AS_OF)
    assert reasons(settings) == {"unknown_code:admission_method": 1}
    # An invalid diagnosis code is a warning: the episode is kept and flagged.
    assert query(settings, "SELECT episode_id, _flags FROM stg_apc") == [("E2", ["invalid_code:diagnoses"])]
    assert_invariant(settings)


def test_raw_nhs_number_in_any_column_quarantined_and_masked(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Der_Pseudo_NHS_Number=RAW_NHS), apc_row("E2", Hospital_Spell_No="943 476 5919"),
                        apc_row("E3", Hospital_Spell_No="9434765918"), apc_row("E4")])  # fmt: skip  # noqa: E501
    ingest.run(settings, AS_OF)
    assert reasons(settings) == {"raw_nhs_number": 2}
    # 9434765918 fails the check digit: not an NHS number, loaded; the token is never mistaken.
    assert query(settings, "SELECT episode_id FROM stg_apc ORDER BY 1") == [("E3",), ("E4",)]
    dump = json.dumps(query(settings, "SELECT * FROM quarantine"), default=str)
    assert "9434765919" not in dump and "943 476 5919" not in dump and "**********" in dump
    assert_invariant(settings)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_rejected(tmp_path: Path, content: bytes) -> None:
    settings = settings_for(tmp_path)
    path = tmp_path / "raw" / "apc" / "2024-07" / "apc.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(InputError, match="apc.csv.*non-empty"):
        ingest.run(settings, AS_OF)
    assert_invariant(settings)


def test_truncated_file_rejected_and_earlier_load_untouched(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E2")], delivery="2024-06")
    ingest.run(settings, AS_OF)
    good = apc_file(tmp_path, [apc_row("E3"), apc_row("E4")], delivery="2024-07")
    text = good.read_text()
    good.write_text(text[: text.rindex("2024-07-01")], encoding="utf-8")  # cut mid-row
    with pytest.raises(InputError, match="apc.csv.*(truncated|same number of fields)"):
        ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id FROM stg_apc ORDER BY 1") == [("E1",), ("E2",)]
    assert_invariant(settings)


def test_restated_delivery_that_fails_leaves_previous_version(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = apc_file(tmp_path, [apc_row("E1"), apc_row("E2")])
    ingest.run(settings, AS_OF)
    path.write_bytes(b"APCE_Ident;Admission_Date\nE1;2024-07-01\n")
    with pytest.raises(InputError, match="comma-delimited"):
        ingest.run(settings, AS_OF)
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(2,)]
    assert_invariant(settings)


def test_non_utf8_rejected(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E2", Der_Provider_Code="RXXÉ")], encoding="latin-1")
    with pytest.raises(InputError, match="apc.csv.*utf-8"):
        ingest.run(settings, AS_OF)
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(0,)]
    assert_invariant(settings)


def test_latin1_loads_when_configured(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, encoding="latin-1")
    apc_file(tmp_path, [apc_row("E1", Hospital_Spell_No="SÉ1")], encoding="latin-1")
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT spell_id FROM stg_apc") == [("SÉ1",)]


def test_bom_is_accepted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1")], bom=True)
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id FROM stg_apc") == [("E1",)]
    assert_invariant(settings)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_wrong_delimiter_rejected(tmp_path: Path, delimiter: str) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1")], delimiter=delimiter)
    with pytest.raises(InputError, match="apc.csv.*comma-delimited"):
        ingest.run(settings, AS_OF)
    assert_invariant(settings)


def test_person_in_activity_not_in_population_is_kept(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_csv(tmp_path / "raw" / "population" / "2024-07" / "pop.csv", POP_HEADER, [pop_row(TOKEN_A)])
    apc_file(tmp_path, [apc_row("E1"), apc_row("E2", TOKEN_OUT_OF_AREA)])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT person_id FROM stg_apc ORDER BY 1") == [(TOKEN_A,), (TOKEN_OUT_OF_AREA,)]
    assert_invariant(settings)


def test_same_checksum_reload_changes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E2", Episode_Number="x")])
    ingest.run(settings, AS_OF)
    before = query(settings, "SELECT * FROM stg_apc ORDER BY episode_id")
    second = ingest.run(settings, AS_OF)
    assert second.summary["files unchanged"] == 1 and second.summary["rows read"] == 0
    assert query(settings, "SELECT * FROM stg_apc ORDER BY episode_id") == before
    assert query(settings, "SELECT count(*) FROM quarantine") == [(1,)]
    assert query(settings, "SELECT outcome FROM load_audit ORDER BY started_at") == [("loaded",), ("unchanged",)]
    assert_invariant(settings)


def test_restated_delivery_replaces_that_delivery(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E0")], delivery="2024-06")
    path = apc_file(tmp_path, [apc_row("E1"), apc_row("E2"), apc_row("E3", Episode_Number="x")])
    ingest.run(settings, AS_OF)
    apc_file(tmp_path, [apc_row("E1", Discharge_Date="2024-07-08")], name=path.name)  # restatement, E2 withdrawn
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id, discharge_date, _delivery FROM stg_apc ORDER BY 1") == [
        ("E0", date(2024, 7, 5), "2024-06"),
        ("E1", date(2024, 7, 8), "2024-07"),
    ]
    assert query(settings, "SELECT count(*) FROM quarantine") == [(0,)]
    assert_invariant(settings)


def test_late_arriving_update_replaces_earlier_delivery_record(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Discharge_Date="", Episode_End_Date="")], delivery="2024-07")
    ingest.run(settings, AS_OF)
    # August's delivery carries July's episode again, now discharged, plus a late record from June.
    apc_file(tmp_path, [apc_row("E1"), apc_row("E9", Admission_Date="2024-06-01", Episode_Start_Date="2024-06-01")],
             delivery="2024-08")  # fmt: skip  # noqa: E501
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id, discharge_date, _delivery FROM stg_apc ORDER BY 1") == [
        ("E1", date(2024, 7, 5), "2024-08"),
        ("E9", date(2024, 7, 5), "2024-08"),
    ]
    assert query(settings, "SELECT rows_replaced FROM load_audit WHERE delivery = '2024-08'") == [(1,)]
    # Reloading July afterwards (restated) cannot overwrite August's newer copy.
    apc_file(tmp_path, [apc_row("E1", Discharge_Date="2024-07-02", Episode_End_Date="2024-07-02")], delivery="2024-07")
    ingest.run(settings, AS_OF)
    assert reasons(settings) == {"superseded_by_newer_delivery": 1}
    assert query(settings, "SELECT discharge_date FROM stg_apc WHERE episode_id = 'E1'") == [(date(2024, 7, 5),)]
    assert_invariant(settings)


def test_later_file_in_delivery_supersedes_earlier(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1"), apc_row("E2")], name="apc_a.csv")
    apc_file(tmp_path, [apc_row("E2", Discharge_Date="2024-07-03")], name="apc_b.csv")
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id, discharge_date FROM stg_apc ORDER BY 1") == [
        ("E1", date(2024, 7, 5)),
        ("E2", date(2024, 7, 3)),
    ]
    assert_invariant(settings)


def test_parquet_input(tmp_path: Path) -> None:
    import duckdb

    settings = settings_for(tmp_path)
    csv_path = apc_file(tmp_path / "staging", [apc_row("E1"), apc_row("E2", Der_Pseudo_NHS_Number=RAW_NHS)])
    target = tmp_path / "raw" / "apc" / "2024-07" / "apc.parquet"
    target.parent.mkdir(parents=True)
    con = duckdb.connect()
    # Typed columns as a real Parquet extract would carry them (dates as DATE, codes as integers).
    con.execute(
        "COPY (SELECT * REPLACE (CAST(Admission_Date AS DATE) AS Admission_Date, "
        "CAST(Episode_Number AS INTEGER) AS Episode_Number)"
        f" FROM read_csv('{csv_path}', all_varchar = true)) TO '{target}' (FORMAT parquet)"
    )
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id, admission_date, episode_order FROM stg_apc") == [
        ("E1", date(2024, 7, 1), 1)
    ]
    assert reasons(settings) == {"raw_nhs_number": 1}
    assert_invariant(settings)


def test_unreadable_parquet_rejected(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = tmp_path / "raw" / "apc" / "2024-07" / "apc.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="apc.parquet.*readable PARQUET"):
        ingest.run(settings, AS_OF)
    assert_invariant(settings)


def test_parquet_damaged_inside_rejected_others_load(tmp_path: Path) -> None:
    """A Parquet file whose footer reads but whose data pages do not is named and rejected alone."""
    import duckdb

    settings = settings_for(tmp_path)
    con = duckdb.connect()
    paths = []
    for delivery, episode in (("2024-07", "E1"), ("2024-08", "E2")):
        csv_path = apc_file(tmp_path / "staging", [apc_row(episode)], delivery=delivery)
        target = tmp_path / "raw" / "apc" / delivery / "apc.parquet"
        target.parent.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) TO '{target}' "
            "(FORMAT parquet, COMPRESSION uncompressed)"
        )
        paths.append(target)
    damaged = bytearray(paths[1].read_bytes())
    damaged[4:64] = b"\xff" * 60  # the first page header; the footer at the end stays readable
    paths[1].write_bytes(bytes(damaged))
    with pytest.raises(InputError, match="2024-08/apc.parquet"):
        ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id FROM stg_apc") == [("E1",)]
    assert query(settings, "SELECT delivery, outcome FROM load_audit ORDER BY 1") == [
        ("2024-07", "loaded"),
        ("2024-08", "rejected"),
    ]
    assert_invariant(settings)


def test_bad_delivery_does_not_stop_other_sources(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_csv(tmp_path / "raw" / "population" / "2024-07" / "pop.csv", POP_HEADER, [pop_row(TOKEN_A)])
    path = apc_file(tmp_path, [apc_row("E1")])
    path.write_bytes(b"")
    with pytest.raises(InputError):
        ingest.run(settings, AS_OF)
    assert query(settings, "SELECT count(*) FROM stg_population") == [(1,)]
    assert_invariant(settings)


def test_hes_format_loads_into_same_canonical_tables(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mapping="hes")
    header = ["EPIKEY", "TOKEN_PERSON_ID", "PROVSPNOPS", "PROCODE", "ADMIDATE", "DISDATE", "EPISTART", "EPIEND",
              "EPIORDER", "ADMIMETH", "ADMISORC", "DISDEST", "DISMETH", "DIAG_4_01", "DIAG_4_02", "DIAG_4_10",
              "OPERTN_4_01", "SUSHRG", "TRETSPEF"]  # fmt: skip  # noqa: E501
    row = dict(zip(header, ["900001", TOKEN_A, "SP1", "RXX01", "01/07/2024", "05/07/2024", "2024-07-01", "2024-07-05",
                            "1", "2A", "19", "19", "1", "R296", "W19X", "I10-", "X999", "WD11Z", "430"], strict=True))  # fmt: skip  # noqa: E501
    write_csv(tmp_path / "raw" / "apc" / "2024-07" / "hes_apc.csv", [h.lower() for h in header],
              [{k.lower(): v for k, v in row.items()}])  # fmt: skip  # noqa: E501
    op_header = ["ATTENDKEY", "TOKEN_PERSON_ID", "PROCODE", "APPTDATE", "ATTENDED", "FIRSTATT", "TRETSPEF", "SUSHRG"]
    write_csv(tmp_path / "raw" / "opa" / "2024-07" / "hes_op.csv", op_header,
              [dict(zip(op_header, ["7001", TOKEN_A, "RXX01", "2024-07-02", "3", "1", "300", "WF01A"], strict=True))])  # fmt: skip  # noqa: E501
    ae_header = ["AEKEY", "TOKEN_PERSON_ID", "PROCODE", "ARRIVALDATE", "ARRIVALTIME", "AEDEPTTYPE", "AEARRIVALMODE",
                 "AEATTENDDISP", "DIAG_01"]  # fmt: skip  # noqa: E501
    write_csv(tmp_path / "raw" / "ecds" / "2024-07" / "hes_ae.csv", ae_header,
              [dict(zip(ae_header, ["5001", TOKEN_A, "RXX01", "20240703", "2315", "1", "1", "02", "06 33L"], strict=True))])  # fmt: skip  # noqa: E501
    ingest.run(settings, AS_OF)
    assert query(
        settings,
        "SELECT episode_id, person_id, spell_id, admission_date, admission_method, diagnoses, procedures, hrg_code "
        "FROM stg_apc",
    ) == [("900001", TOKEN_A, "SP1", date(2024, 7, 1), "2A", ["R296", "W19", "I10"], ["X999"], "WD11Z")]
    assert query(settings, "SELECT appointment_id, attendance_status, attended, did_not_attend FROM stg_opa") == [
        ("7001", "3", False, True)
    ]
    row_ae = query(
        settings,
        "SELECT attendance_id, arrival_date, CAST(arrival_time AS VARCHAR), department_type, diagnosis_ae, "
        "diagnosis_icd10 FROM stg_ecds",
    )
    # HES A&E DIAG_01 is the 6-character A&E diagnosis (sprain, ankle, left), never ICD-10.
    assert row_ae == [("5001", date(2024, 7, 3), "23:15:00", "01", "06 33L", None)]
    assert_invariant(settings)


def test_custom_mapping_file_from_settings(tmp_path: Path) -> None:
    import dataclasses

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "local.yaml").write_text(
        "name: local\nextends: ncdr\nsources:\n  apc:\n    columns:\n      admission_date: Date_Of_Admission\n",
        encoding="utf-8",
    )
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(
        settings,
        paths=dataclasses.replace(settings.paths, mappings=mappings),
        ingest=dataclasses.replace(settings.ingest, connectors={"apc": "local"}),
    )
    header = ["Date_Of_Admission" if h == "Admission_Date" else h for h in APC_HEADER]
    row = apc_row("E1")
    row["Date_Of_Admission"] = row.pop("Admission_Date")
    apc_file(tmp_path, [row], header=header)
    ingest.run(settings, AS_OF)
    # The local mapping overrides one header; everything else is inherited from the ncdr connector.
    assert query(settings, "SELECT episode_id, person_id, admission_date FROM stg_apc") == [
        ("E1", TOKEN_A, date(2024, 7, 1))
    ]


def test_show_quarantine_prints_masked_rows(tmp_path: Path) -> None:
    from rich.console import Console

    settings = settings_for(tmp_path)
    apc_file(tmp_path, [apc_row("E1", Der_Pseudo_NHS_Number=RAW_NHS), apc_row("E2", Admission_Method="Z9")])
    ingest.run(settings, AS_OF)
    console = Console(record=True, width=200)
    ingest.show_quarantine(settings, source="apc", limit=10, console=console)
    text = console.export_text()
    assert "raw_nhs_number" in text and "unknown_code:admission_method" in text and RAW_NHS not in text


def test_discover_paths(tmp_path: Path) -> None:
    a = apc_file(tmp_path, [apc_row("E1")], delivery="2024-07")
    apc_file(tmp_path, [apc_row("E1")], delivery="2024-06")
    write_csv(tmp_path / "raw" / "population" / "2024-07" / "p.csv", POP_HEADER, [pop_row(TOKEN_A)])
    found = deliveries.discover(tmp_path / "raw")
    assert [(d.source, d.label) for d in found] == [("population", "2024-07"), ("apc", "2024-06"), ("apc", "2024-07")]
    assert [(d.source, d.label) for d in deliveries.discover(tmp_path / "raw", paths=[a])] == [("apc", "2024-07")]
    assert [d.source for d in deliveries.discover(tmp_path / "raw", sources=["population"])] == ["population"]
    with pytest.raises(InputError, match="source"):
        deliveries.discover(tmp_path / "raw", sources=["nope"])


def test_a_staging_table_from_an_older_contract_gains_the_new_columns(tmp_path: Path) -> None:
    import duckdb

    from popheath.ingest.applying import ensure_tables
    from popheath.quality import contracts

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    contract = contracts.load_contract("ecds")
    old_columns = contract.column_names[:5]
    con.execute(
        "CREATE TABLE stg_ecds ("
        + ", ".join(f"{c} {contract.type_of(c)}" for c in old_columns)
        + ", _load_id VARCHAR, _source_file VARCHAR, _row_number BIGINT, _delivery VARCHAR, _flags VARCHAR[],"
        " _raw_values JSON)"
    )
    con.execute("INSERT INTO stg_ecds (attendance_id) VALUES ('E1')")
    ensure_tables(con, ["ecds"])
    columns = [row[0] for row in con.execute("DESCRIBE stg_ecds").fetchall()]
    assert set(contract.column_names) <= set(columns)
    assert con.execute("SELECT attendance_id, duplicate FROM stg_ecds").fetchall() == [("E1", None)]
