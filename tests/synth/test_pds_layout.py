"""The generated PDS extract: its effective-dated history, and the PDS connector reading it back to the true spine."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from popheath import config
from popheath.stages import ingest
from popheath.synth import generate

from .extract_files import read_table

PEOPLE = 2_000


@pytest.fixture(scope="module")
def ics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pds_ics")
    generate.write(PEOPLE, 11, out)
    return out


def test_history_has_versions_moves_removals_care_homes_and_mergers(ics: Path) -> None:
    person = read_table(ics, "population", "PDS_Person")
    practices = read_table(ics, "population", "PDS_Patient_Care_Practice")
    addresses = read_table(ics, "population", "PDS_Address")
    mergers = read_table(ics, "population", "PDS_Person_Merger")
    key = "Pseudo NHS Number"
    versions = person.group_by(key).len()
    assert versions["len"].max() == 2 and (versions["len"] == 2).sum() > 0.05 * PEOPLE
    registrations = practices.group_by(key).agg(pl.col("Primary Care Provider").n_unique().alias("practices"))
    assert (registrations["practices"] > 1).sum() > 0.1 * PEOPLE  # moves between the ICS's practices
    removed = practices.filter(pl.col("Reason for Removal").is_not_null())
    assert set(removed["Reason for Removal"]) == {"DEA", "EMB", "CGA"}
    assert addresses.group_by(key).len()["len"].max() == 2
    assert addresses["derCqcCareHomeCode"].drop_nulls().str.contains(r"^1-\d{9}$").all()
    assert mergers.height > 0 and set(mergers["Pseudo Superseded NHS Number"]) <= set(person[key])
    # Activity dated before a merger carries the superseded pseudonym, none after it.
    truth = pl.read_parquet(ics / "truth" / "person_mergers.parquet")
    for source, table, day in (("opa", "tbl_Data_SEM_OPA", "Appointment_Date"), ("ecds", "EC_Core", "Arrival_Date")):
        records = read_table(ics, source, table).join(
            truth, left_on="Der_Pseudo_NHS_Number", right_on="superseded_person_id"
        )
        assert records.height > 0 and (records[day] < records["merged_on"]).all(), source
    apc = read_table(ics, "apc", "tbl_Data_SEM_APCE")
    assert apc["Ethnic_Group"].drop_nulls().is_in(list("ABCDEFGHJKLMNPRS") + ["Z", "99"]).all()


def test_the_pds_connector_reads_the_extract_back_to_the_true_spine(ics: Path, tmp_path: Path) -> None:
    base = config.Settings()
    paths = dataclasses.replace(
        base.paths, raw=ics / "raw", warehouse=tmp_path / "wh.duckdb", outputs=tmp_path / "out",
        reference=ics / "reference",
    )  # fmt: skip
    settings = dataclasses.replace(base, paths=paths, ingest=dataclasses.replace(base.ingest, data_docs=False))
    ingest.run(settings, date(2025, 4, 1), sources=["population"])
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    truth = ics / "truth"
    compared = con.execute(
        f"""SELECT count(*), count(p.person_id),
            count(*) FILTER (WHERE p.practice_code = t.GP_Practice_Code
                AND p.registration_start = t.Registration_Start_Date
                AND p.registration_end IS NOT DISTINCT FROM t.Registration_End_Date
                AND p.date_of_death IS NOT DISTINCT FROM t.Date_Of_Death
                AND p.lsoa_code = t.LSOA_2021 AND p.care_home = (t.Care_Home_Flag = 'Y')
                AND p.birth_year = t.Year_Of_Birth AND p.birth_month = t.Month_Of_Birth
                AND p.sex = CASE t.Gender WHEN '1' THEN 'M' WHEN '2' THEN 'F' END)
        FROM read_parquet('{truth / "population.parquet"}') AS t
        LEFT JOIN stg_population AS p ON p.person_id = t.Pseudo_NHS_Number"""
    ).fetchall()
    assert compared == [(PEOPLE, PEOPLE, PEOPLE)]
    merged = con.execute(
        f"""SELECT count(*) FILTER (WHERE list_contains(p.superseded_person_ids, m.superseded_person_id)), count(*)
        FROM read_parquet('{truth / "person_mergers.parquet"}') AS m
        JOIN stg_population AS p ON p.person_id = m.person_id"""
    ).fetchall()[0]
    assert merged[0] == merged[1] > 0
    audit = con.execute("SELECT sum(rows_read), sum(rows_loaded + rows_quarantined) FROM load_audit").fetchall()
    assert audit[0][0] == audit[0][1]
    con.close()
