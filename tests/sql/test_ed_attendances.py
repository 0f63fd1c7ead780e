"""Known-answer tests for clin_ed_attendances: counted attendances, diagnoses, falls and frequent attenders.

Rules from the ECDS fields (national_formats.md 1.2): EC_AttendanceCategory 1-3 kept, 4 (planned follow-up)
left out; Der_Dupe_Flag duplicates left out; the ETOS Diagnosis refset's ICD10_Mapping; the ETOS chief
complaint group "Falls / unsteady on feet"; nhp_data's frequent attender (3+ unplanned first attendances
in the 365 days before).
"""

from datetime import date, timedelta
from pathlib import Path

from popheath import db
from popheath.clinical import feature_tables

from .ics_builder import Ics, build, rows, settings_for

AS_OF = date(2024, 4, 1)


def test_planned_follow_ups_and_duplicates_are_not_counted(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    for index, category in enumerate(["1", "2", "3", "4", None]):
        ics.ed("p1", date(2023, 6, 1 + index), attendance_id=f"cat{category}", attendance_category=category)
    ics.ed("p1", date(2023, 7, 1), attendance_id="dupe", duplicate=True)
    ics.ed("p1", date(2023, 7, 2), attendance_id="not_dupe", duplicate=False)
    con = build(ics, tmp_path, AS_OF)
    kept = [r["attendance_id"] for r in rows(con, "SELECT attendance_id FROM clin_ed_attendances ORDER BY 1")]
    assert kept == ["cat1", "cat2", "cat3", "catNone", "not_dupe"]
    assert rows(con, "SELECT ed_attendances_12m FROM asof_features") == [{"ed_attendances_12m": 5}]


def test_diagnosis_icd10_is_delivered_else_mapped_and_never_the_ae_scheme(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    # A test-only mapping row (the shipped table has none: sources.yaml, ecds_diagnosis_icd10.csv).
    snomed = "100000000000001"
    ics.ed("p1", date(2023, 6, 1), attendance_id="delivered", diagnosis_snomed=snomed, diagnosis_icd10="J181")
    ics.ed("p1", date(2023, 6, 2), attendance_id="mapped", diagnosis_snomed=snomed)
    ics.ed("p1", date(2023, 6, 3), attendance_id="from_list", diagnoses_snomed=[snomed, "200000000000002"])
    ics.ed("p1", date(2023, 6, 4), attendance_id="unmapped", diagnosis_snomed="300000000000003")
    ics.ed("p1", date(2023, 6, 5), attendance_id="hes_ae", diagnosis_ae="011301")  # HES A&E 6-character code
    settings = settings_for(tmp_path / "w.duckdb")
    con = build(ics, tmp_path, AS_OF, settings=settings)
    con.execute("INSERT INTO ref_ecds_diagnosis_icd10 VALUES ($s, 'test row', 'S720', 'test fixture')", {"s": snomed})
    db.run_named(con, "20_clinical", "06_clin_ed_attendances.sql", feature_tables.sql_parameters(settings, AS_OF))
    found = {
        r["attendance_id"]: (r["diagnosis_snomed"], r["diagnosis_icd10"])
        for r in rows(con, "SELECT attendance_id, diagnosis_snomed, diagnosis_icd10 FROM clin_ed_attendances")
    }
    assert found == {
        "delivered": (snomed, "J181"),  # the delivered ICD-10 wins
        "mapped": (snomed, "S720"),
        "from_list": (snomed, "S720"),  # first of the SNOMED list is the primary
        "unmapped": ("300000000000003", None),
        "hes_ae": (None, None),
    }


def test_fall_from_the_etos_falls_chief_complaints(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    for code in ("161898004", "394616008", "29857009", None):  # falls, unsteady gait, chest pain, none
        ics.ed("p1", date(2023, 6, 1), attendance_id=f"cc{code}", chief_complaint_snomed=code)
    con = build(ics, tmp_path, AS_OF)
    found = {
        r["attendance_id"]: r["is_fall"] for r in rows(con, "SELECT attendance_id, is_fall FROM clin_ed_attendances")
    }
    assert found == {"cc161898004": True, "cc394616008": True, "cc29857009": False, "ccNone": False}


def test_frequent_attender_needs_three_unplanned_first_attendances_in_the_previous_365_days(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    start = date(2023, 1, 1)
    # Unplanned first attendances on days 0, 100, 200 and 365 (day 0 is exactly 365 days before: counts),
    # a follow-up (category 2) on day 300 (not counted), then day 366 (day 0 now 366 days back).
    for day, category in [(0, "1"), (100, "1"), (200, "1"), (300, "2"), (365, "1"), (366, "1")]:
        ics.ed("p1", start + timedelta(days=day), attendance_id=f"d{day}", attendance_category=category)
    ics.ed("p1", start + timedelta(days=200), attendance_id="d200b", attendance_category="1")  # same day as d200
    con = build(ics, tmp_path, AS_OF)
    found = {
        r["attendance_id"]: r["is_frequent_attender"]
        for r in rows(con, "SELECT attendance_id, is_frequent_attender FROM clin_ed_attendances")
    }
    assert found == {
        "d0": False,
        "d100": False,
        "d200": False,  # one earlier day (same-day attendances are not "previous")
        "d200b": False,
        "d300": False,  # follow-ups are never frequent attendances
        "d365": True,  # days 0, 100, 200, 200
        "d366": True,  # days 100, 200, 200, 365
    }


def test_missing_new_fields_behave_as_before(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.ed("p1", date(2023, 6, 1))
    con = build(ics, tmp_path, AS_OF)
    row = rows(
        con, "SELECT attendance_category, diagnosis_icd10, is_fall, is_frequent_attender FROM clin_ed_attendances"
    )
    assert row == [
        {"attendance_category": None, "diagnosis_icd10": None, "is_fall": False, "is_frequent_attender": False}
    ]
