"""The ASC-CLD connector (asc_cld): both header forms, release 1 and 2 values, service class, carers.

Known answers from tiny hand-made deliveries whose headers are the published ones (shared reference
national_formats.md section 1.5): the NHS England / DHSC national table (underscore headers, as the
NHSDigital SALT code and the DHSC dashboard read it) and the DSCRO data lake form an ICB receives
(spaced headers, dmYearAndMonthOfBirth; ncl-icb-analytics/dbt-ncl-analytics).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from popheath.stages import ingest

from .test_ingest_fixtures import TOKEN_A, TOKEN_B, assert_invariant, query, settings_for, write_csv

AS_OF = date(2025, 12, 1)

NATIONAL_HEADER = [
    "LA_Code", "Reporting_Period_Start_Date", "Reporting_Period_End_Date", "Der_NHS_Number_Pseudo",
    "Der_NHS_Number_Traced_Pseudo", "LA_Person_Unique_Identifier", "Der_Birth_Year", "Der_Birth_Month", "Gender",
    "Ethnicity", "Date_of_Death", "Client_Type", "Event_Type", "Event_Reference", "Event_Start_Date",
    "Event_End_Date", "Service_Type", "Service_Component", "Delivery_Mechanism", "Unit_Cost",
    "Cost_Frequency_Unit_Type", "Planned_Units_Per_Week", "Der_Postcode_LSOA_Code",
]  # fmt: skip
LAKE_HEADER = [
    "LA Code", "Reporting Period Start Date", "Reporting Period End Date", "Pseudo NHS Number",
    "LA Person Unique Identifier", "GP Practice Code", "Gender", "Ethnicity", "Client Type", "Event Type",
    "Event Reference", "Event Start Date", "Event End Date", "Service Type", "Service Component",
    "Delivery Mechanism", "Unit Cost", "Cost Frequency (Unit Type)", "Planned units per week",
    "dmYearAndMonthOfBirth", "dmLsoaFromSubmittedPostcode", "dmPracticeCodeFromNHSNumber",
]  # fmt: skip

CANONICAL = (
    "event_id, person_id, client_id, birth_year, birth_month, client_type, unpaid_carer, national_service_type, "
    "service_component, delivery_mechanism, service_type, long_term_support, cost_unit, planned_units_per_week, "
    "unit_cost"
)


def national_row(event: str, **overrides: str) -> dict[str, str]:
    """A release 1 service event of a traced service user, in the national table's headers."""
    row = {
        "LA_Code": "E08000001", "Reporting_Period_Start_Date": "2024-04-01", "Reporting_Period_End_Date": "2024-06-30",
        "Der_NHS_Number_Pseudo": TOKEN_A, "Der_NHS_Number_Traced_Pseudo": TOKEN_A,
        "LA_Person_Unique_Identifier": "C1", "Der_Birth_Year": "1941", "Der_Birth_Month": "3", "Gender": "Female",
        "Ethnicity": "White: English, Welsh, Scottish, Northern Irish or British", "Date_of_Death": "",
        "Client_Type": "Service User", "Event_Type": "Service", "Event_Reference": event,
        "Event_Start_Date": "2024-05-01", "Event_End_Date": "", "Service_Type": "Long Term Support: Community",
        "Service_Component": "Home Support", "Delivery_Mechanism": "CASSR Commissioned Support", "Unit_Cost": "25.5",
        "Cost_Frequency_Unit_Type": "Hourly", "Planned_Units_Per_Week": "10", "Der_Postcode_LSOA_Code": "E01000001",
    }  # fmt: skip
    row.update(overrides)
    return row


def lake_row(event: str, **overrides: str) -> dict[str, str]:
    """A release 2 service event in the data lake's spaced headers."""
    row = {
        "LA Code": "E08000001", "Reporting Period Start Date": "2025-10-01", "Reporting Period End Date": "2025-10-31",
        "Pseudo NHS Number": TOKEN_B, "LA Person Unique Identifier": "C2", "GP Practice Code": "",
        "Gender": "Male", "Ethnicity": "Asian or Asian British: Indian", "Client Type": "Service user",
        "Event Type": "Service", "Event Reference": event, "Event Start Date": "2025-10-06", "Event End Date": "",
        "Service Type": "Long term support: Community", "Service Component": "Home support or domiciliary care",
        "Delivery Mechanism": "CASSR commissioned support", "Unit Cost": "25.5", "Cost Frequency (Unit Type)": "Hourly",
        "Planned units per week": "10", "dmYearAndMonthOfBirth": "194103", "dmLsoaFromSubmittedPostcode": "E01000002",
        "dmPracticeCodeFromNHSNumber": "Y00001",
    }  # fmt: skip
    row.update(overrides)
    return row


def test_national_table_release_1_values(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_csv(
        tmp_path / "raw" / "asc" / "2024-06" / "cld.csv",
        NATIONAL_HEADER,
        [
            national_row("E1"),
            # Untraced: the token the LA submitted is the person id (DHSC combined person id).
            national_row("E2", Der_NHS_Number_Traced_Pseudo="", Der_NHS_Number_Pseudo=TOKEN_B),
            national_row("E3", Delivery_Mechanism="Direct Payment"),  # the delivery mechanism decides
            national_row("E4", Service_Component="Direct Payment", Delivery_Mechanism=""),
            national_row("E5", Service_Type="Short Term Support: ST-Max", Service_Component="Reablement"),
            national_row(
                "E6",
                Service_Type="Long Term Support: Nursing Care",
                Service_Component="Long Term Nursing Care",
                Delivery_Mechanism="Direct Payment",
                Cost_Frequency_Unit_Type="Four weekly",
            ),
            national_row(
                "E7",
                Service_Type="Short Term Support: Other Short Term",
                Service_Component="Short Term Residential Care",
                Cost_Frequency_Unit_Type="Weekly",
            ),
            national_row("E8", Service_Component="Community Supported Living", Planned_Units_Per_Week="one off"),
            national_row(
                "E9",
                Client_Type="Carer",
                Service_Type="Carer Support: Direct to Carer",
                Service_Component="Direct Payment",
                Unit_Cost="-40",
                Cost_Frequency_Unit_Type="One-off",
                Planned_Units_Per_Week="",
            ),
            national_row(
                "E10",
                Client_Type="Carer known by association",
                Event_Type="Assessment",
                Service_Type="",
                Service_Component="",
                Delivery_Mechanism="",
                Unit_Cost="",
                Cost_Frequency_Unit_Type="",
                Planned_Units_Per_Week="",
            ),
        ],
    )
    ingest.run(settings, AS_OF)
    rows = query(settings, f"SELECT {CANONICAL} FROM stg_asc ORDER BY length(event_id), event_id")
    lt, community, home = True, "long_term_support_community", "home_support_or_domiciliary_care"
    commissioned = "cassr_commissioned_support"
    assert rows == [
        ("E1", TOKEN_A, "C1", 1941, 3, "service_user", False, community, home, commissioned, "home_care", lt,
         "hourly", 10.0, 25.5),
        ("E2", TOKEN_B, "C1", 1941, 3, "service_user", False, community, home, commissioned, "home_care", lt,
         "hourly", 10.0, 25.5),
        ("E3", TOKEN_A, "C1", 1941, 3, "service_user", False, community, home, "direct_payment", "direct_payment",
         lt, "hourly", 10.0, 25.5),
        ("E4", TOKEN_A, "C1", 1941, 3, "service_user", False, community, "direct_payment", None, "direct_payment",
         lt, "hourly", 10.0, 25.5),
        ("E5", TOKEN_A, "C1", 1941, 3, "service_user", False, "short_term_support_st_max", "reablement",
         commissioned, "reablement", False, "hourly", 10.0, 25.5),
        # Nursing care: the delivery mechanism is not looked at (SALT LTS001a).
        ("E6", TOKEN_A, "C1", 1941, 3, "service_user", False, "long_term_support_nursing_care",
         "long_term_nursing_care", "direct_payment", "nursing", lt, "4_weekly", 10.0, 25.5),
        # A short-term care home stay: residential, not long-term support.
        ("E7", TOKEN_A, "C1", 1941, 3, "service_user", False, "short_term_support_other_short_term",
         "short_term_residential_care", commissioned, "residential", False, "weekly", 10.0, 25.5),
        # "one off" in the planned units: a one-off cost, planned units not known.
        ("E8", TOKEN_A, "C1", 1941, 3, "service_user", False, community, "community_supported_living", commissioned,
         "supported_living", lt, "one_off", None, 25.5),
        ("E9", TOKEN_A, "C1", 1941, 3, "unpaid_carer", True, "unpaid_carer_support_direct_to_unpaid_carer",
         "direct_payment", commissioned, "direct_payment", False, "one_off", None, -40.0),
        ("E10", TOKEN_A, "C1", 1941, 3, "unpaid_carer_known_by_association", True, None, None, None, None, None,
         None, None, None),
    ]  # fmt: skip
    assert query(settings, "SELECT DISTINCT sex, ethnic_category, lsoa_code FROM stg_asc") == [("F", "A", "E01000001")]
    # The negative unit cost is kept (a warning): costing makes it positive, as DHSC does.
    flags = query(settings, "SELECT event_id, _flags FROM stg_asc WHERE len(_flags) > 0")
    assert flags == [("E9", ["out_of_range:unit_cost"])]
    assert_invariant(settings)


def test_data_lake_form_release_2_values_and_year_month_of_birth(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_csv(
        tmp_path / "raw" / "asc" / "2025-10" / "Adult_Social_Care_CLD.csv",
        LAKE_HEADER,
        [
            lake_row("L1"),
            lake_row("L2", **{"Delivery Mechanism": "Direct payment", "dmYearAndMonthOfBirth": "1938-11"}),
            lake_row("L3", **{"GP Practice Code": "Y00002", "dmYearAndMonthOfBirth": "1950-01-01"}),
            lake_row("L4", **{
                "Client Type": "Unpaid carer", "Service Type": "Unpaid carer support: Direct to unpaid carer",
                "Service Component": "Direct payment", "Cost Frequency (Unit Type)": "Fortnightly",
            }),
            lake_row("L5", **{
                "Service Type": "Short term support: Ongoing low level", "Service Component": "Equipment",
                "Cost Frequency (Unit Type)": "One-off", "Planned units per week": "", "Pseudo NHS Number": "",
                "dmYearAndMonthOfBirth": "",
            }),
        ],
    )  # fmt: skip
    ingest.run(settings, AS_OF)
    rows = query(
        settings,
        "SELECT event_id, person_id, birth_year, birth_month, sex, ethnic_category, lsoa_code, practice_code, "
        "client_type, unpaid_carer, service_type, long_term_support, cost_unit, reporting_period_end "
        "FROM stg_asc ORDER BY event_id",
    )
    end = date(2025, 10, 31)
    assert rows == [
        ("L1", TOKEN_B, 1941, 3, "M", "H", "E01000002", "Y00001", "service_user", False, "home_care", True, "hourly",
         end),
        ("L2", TOKEN_B, 1938, 11, "M", "H", "E01000002", "Y00001", "service_user", False, "direct_payment", True,
         "hourly", end),
        # The practice the LA submitted comes before the one derived from the NHS number.
        ("L3", TOKEN_B, 1950, 1, "M", "H", "E01000002", "Y00002", "service_user", False, "home_care", True, "hourly",
         end),
        ("L4", TOKEN_B, 1941, 3, "M", "H", "E01000002", "Y00001", "unpaid_carer", True, "direct_payment", False,
         "fortnightly", end),
        ("L5", None, None, None, "M", "H", "E01000002", "Y00001", "service_user", False, "equipment", False, "one_off",
         end),
    ]  # fmt: skip
    assert query(settings, "SELECT count(*) FROM quarantine") == [(0,)]
    assert_invariant(settings)


def test_both_forms_and_both_releases_give_the_same_canonical_rows(tmp_path: Path) -> None:
    national, lake = settings_for(tmp_path / "n"), settings_for(tmp_path / "l")
    write_csv(
        tmp_path / "n" / "raw" / "asc" / "2024-06" / "cld.csv",
        NATIONAL_HEADER,
        [national_row("X1", Der_NHS_Number_Pseudo=TOKEN_B, Der_NHS_Number_Traced_Pseudo="",
                      Ethnicity="Asian or Asian British: Indian", Gender="Male")],
    )  # fmt: skip
    write_csv(tmp_path / "l" / "raw" / "asc" / "2024-06" / "cld.csv", LAKE_HEADER, [lake_row("X1")])
    ingest.run(national, AS_OF)
    ingest.run(lake, AS_OF)
    same = (
        "event_id, person_id, birth_year, birth_month, sex, ethnic_category, client_type, event_type, "
        "national_service_type, service_component, delivery_mechanism, service_type, long_term_support, unit_cost, "
        "cost_unit, planned_units_per_week"
    )
    assert query(national, f"SELECT {same} FROM stg_asc") == query(lake, f"SELECT {same} FROM stg_asc")
    assert len(query(national, "SELECT * FROM stg_asc")) == 1


def test_unknown_client_type_is_quarantined_and_unknown_service_values_flagged(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_csv(
        tmp_path / "raw" / "asc" / "2024-06" / "cld.csv",
        NATIONAL_HEADER,
        [
            national_row("U1", Client_Type="Relative"),
            national_row("U2", Service_Type="Long Term Support: Elsewhere", Delivery_Mechanism="Voucher"),
        ],
    )
    ingest.run(settings, AS_OF)
    quarantined = query(settings, "SELECT row_number, field, rule, value FROM quarantine")
    assert quarantined == [(1, "client_type", "unknown_code:client_type", "relative")]
    flags = query(settings, "SELECT event_id, list_sort(_flags), service_type FROM stg_asc")
    assert flags == [("U2", ["unknown_code:delivery_mechanism", "unknown_code:national_service_type"], "home_care")]
    reasons = query(settings, "SELECT quarantined_by_reason FROM load_audit")
    assert json.loads(str(reasons[0][0])) == {"unknown_code:client_type": 1}
    assert_invariant(settings)


def test_stacked_submissions_keep_the_latest_reporting_period(tmp_path: Path) -> None:
    """An event resubmitted in a later quarter (now ended, cost revised) loads once, as last submitted.

    An event is (LA_Code, Event_Reference): another LA's event with the same reference is its own event,
    loaded beside it, never superseded by it.
    """
    settings = settings_for(tmp_path)
    q1 = {"Reporting_Period_Start_Date": "2024-04-01", "Reporting_Period_End_Date": "2024-06-30"}
    q2 = {"Reporting_Period_Start_Date": "2024-07-01", "Reporting_Period_End_Date": "2024-09-30"}
    write_csv(
        tmp_path / "raw" / "asc" / "2024-09" / "cld.csv",
        NATIONAL_HEADER,
        [
            national_row("S1", **q2, Event_End_Date="2024-08-15", Unit_Cost="27"),
            national_row("S1", **q1),
            national_row("S2", **q1),
            national_row("S3", **q1, Unit_Cost="20"),
            national_row("S3", **q1, Unit_Cost="21"),  # the same period twice: the later row wins
            national_row("S1", **q1, LA_Code="E08000002", Unit_Cost="30"),  # another LA's own S1
        ],
    )
    ingest.run(settings, AS_OF)
    loaded = query(
        settings, "SELECT la_code, event_id, event_end, unit_cost, reporting_period_end FROM stg_asc ORDER BY 1, 2"
    )
    assert loaded == [
        ("E08000001", "S1", date(2024, 8, 15), 27.0, date(2024, 9, 30)),
        ("E08000001", "S2", None, 25.5, date(2024, 6, 30)),
        ("E08000001", "S3", None, 21.0, date(2024, 6, 30)),
        ("E08000002", "S1", None, 30.0, date(2024, 6, 30)),
    ]
    assert query(settings, "SELECT row_number, rule FROM quarantine ORDER BY 1") == [
        (2, "superseded_by_later_submission"),
        (4, "superseded_by_later_submission"),
    ]
    assert_invariant(settings)
