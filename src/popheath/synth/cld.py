"""ASC-CLD as an ICS receives it: the national table or the ICB data lake form, release 1 or release 2 wording.

:func:`popheath.synth.extracts.asc` builds one row per event with the national column names and the
simulation's own classes (``_client``, ``_service``, ``_frequency``); the dirt module perturbs it.
:func:`national` turns that into the rows a real extract holds (national_formats.md section 1.5):

- each row belongs to a monthly reporting period (``Reporting_Period_Start_Date`` /
  ``_End_Date``): the month the event ended in, else the month it started (services running when
  the window opens: its first month);
- CLD submissions stack: a share of the services that ended in a later month are also held as
  first submitted (open, in the month they started), so an extract has two rows of one
  ``Event_Reference`` and the connector keeps the latest;
- values take the wording of the release in force for the row's period (``CldRecords.release_2_from``):
  release 1 (SALT LTS001a; the Interweave code systems that mirror it) or release 2 (DHSC
  ASC-CLD-LA-Dashboard 5-data-cleaning.md and ASCOF_measures); release 1 components with no
  release 2 wording in those sources keep their release 1 label, and ethnicity is written in the
  2021 categories throughout (the release 1 text is not in the sources);
- cost fields as LAs send them: direct payments four-weekly or monthly, "one off" written in
  ``Planned_Units_Per_Week`` for some one-off costs, a few negative unit costs;
- ``Der_NHS_Number_Pseudo`` (as the LA submitted it) is the traced token where there is one.

:func:`tables` writes a delivery as the national table (``ASC_CLD``) or the data lake's
``Adult_Social_Care_CLD`` (spaced headers; birth year and month as ``dmYearAndMonthOfBirth``
``YYYY-MM``, the practice derived from the NHS number as ``dmPracticeCodeFromNHSNumber``; the lake
carries a year and month of death, not a date). Gender is written in words (Male, Female, Unknown).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from popheath.errors import InputError
from popheath.synth.dirt import log_dirt
from popheath.synth.params import CldRecords

LAYOUTS = ("national", "data_lake")
NATIONAL_TABLE, LAKE_TABLE = "ASC_CLD", "Adult_Social_Care_CLD"
NATIONAL_COLUMNS = [
    "LA_Code", "Reporting_Period_Start_Date", "Reporting_Period_End_Date", "Der_NHS_Number_Pseudo",
    "Der_NHS_Number_Traced_Pseudo", "LA_Person_Unique_Identifier", "GP_Practice_Code", "Der_Birth_Year",
    "Der_Birth_Month", "Gender", "Ethnicity", "Date_of_Death", "Client_Type", "Event_Type", "Event_Reference",
    "Event_Start_Date", "Event_End_Date", "Service_Type", "Service_Component", "Delivery_Mechanism", "Unit_Cost",
    "Cost_Frequency_Unit_Type", "Planned_Units_Per_Week", "Der_Postcode_LSOA_Code",
]  # fmt: skip
# National column -> data lake header (ncl-icb-analytics/dbt-ncl-analytics raw_asc_cld_adult_social_care_cld.sql).
LAKE_NAMES = {
    "LA_Code": "LA Code", "Reporting_Period_Start_Date": "Reporting Period Start Date",
    "Reporting_Period_End_Date": "Reporting Period End Date", "Der_NHS_Number_Traced_Pseudo": "Pseudo NHS Number",
    "LA_Person_Unique_Identifier": "LA Person Unique Identifier", "GP_Practice_Code": "GP Practice Code",
    "Gender": "Gender", "Ethnicity": "Ethnicity", "Client_Type": "Client Type", "Event_Type": "Event Type",
    "Event_Reference": "Event Reference", "Event_Start_Date": "Event Start Date", "Event_End_Date": "Event End Date",
    "Service_Type": "Service Type", "Service_Component": "Service Component",
    "Delivery_Mechanism": "Delivery Mechanism", "Unit_Cost": "Unit Cost",
    "Cost_Frequency_Unit_Type": "Cost Frequency (Unit Type)", "Planned_Units_Per_Week": "Planned units per week",
    "Der_Postcode_LSOA_Code": "dmLsoaFromSubmittedPostcode",
}  # fmt: skip

# Service class -> (Service_Type, Service_Component, Delivery_Mechanism) in release 1, then release 2.
COMMUNITY_1, COMMUNITY_2 = "Long Term Support: Community", "Long term support: Community"
COMMISSIONED_1, COMMISSIONED_2 = "CASSR Commissioned Support", "CASSR commissioned support"
SERVICES: dict[str, tuple[tuple[str, str, str | None], tuple[str, str, str | None]]] = {
    "home_care": (
        (COMMUNITY_1, "Home Support", COMMISSIONED_1),
        (COMMUNITY_2, "Home support or domiciliary care", COMMISSIONED_2),
    ),
    "direct_payment": (
        (COMMUNITY_1, "Direct Payment", "Direct Payment"),
        (COMMUNITY_2, "Direct payment", "Direct payment"),
    ),
    "day_care": ((COMMUNITY_1, "Day Support", COMMISSIONED_1), (COMMUNITY_2, "Day Support", COMMISSIONED_2)),
    "supported_living": (
        (COMMUNITY_1, "Community Supported Living", COMMISSIONED_1),
        (COMMUNITY_2, "Community supported living", COMMISSIONED_2),
    ),
    "reablement": (
        ("Short Term Support: ST-Max", "Reablement", None),
        ("Short term support: ST-Max", "Reablement", None),
    ),
    "residential": (
        ("Long Term Support: Residential Care", "Long Term Residential Care", None),
        ("Long term support: Residential care", "Long Term Residential Care", None),
    ),
    "nursing": (
        ("Long Term Support: Nursing Care", "Long Term Nursing Care", None),
        ("Long term support: Nursing care", "Long Term Nursing Care", None),
    ),
    "carer_support": (
        ("Carer Support: Direct to Carer", "Direct Payment", "Direct Payment"),
        ("Unpaid carer support: Direct to unpaid carer", "Direct payment", "Direct payment"),
    ),
}
CLIENT_TYPES: dict[str, tuple[str | None, str | None]] = {
    "service_user": ("Service User", "Service user"),
    "unpaid_carer": ("Carer", "Unpaid carer"),
}
# Cost frequency wording (the words DHSC's conversion matches: 6.Costs_fact.sql); the release 1 and
# 2 spellings of the four-weekly period follow the examples of issue 20, not a published list.
FREQUENCIES: dict[str, tuple[str | None, str | None]] = {
    "weekly": ("Weekly", "Weekly"), "4_weekly": ("4-Weekly", "Four weekly"), "monthly": ("Monthly", "Monthly"),
    "hourly": ("Hourly", "Hourly"), "daily": ("Daily", "Daily"), "one_off": ("One-off", "One-off"),
}  # fmt: skip
GENDER = {"1": "Male", "2": "Female", "0": "Unknown", "9": "Unknown"}
# NHS 2001 ethnic category -> the 2021 census wording of release 2 (DHSC 5-data-cleaning.md); Chinese is R.
ETHNICITY = {
    "A": "White: English, Welsh, Scottish, Northern Irish or British", "B": "White: Irish",
    "C": "White: Any other White background", "D": "Mixed or multiple ethnic groups: White and Black Caribbean",
    "E": "Mixed or multiple ethnic groups: White and Black African",
    "F": "Mixed or multiple ethnic groups: White and Asian",
    "G": "Mixed or multiple ethnic groups: Any other Mixed or multiple ethnic background",
    "H": "Asian or Asian British: Indian", "J": "Asian or Asian British: Pakistani",
    "K": "Asian or Asian British: Bangladeshi", "L": "Asian or Asian British: Any other Asian background",
    "M": "Black, Black British, Caribbean or African: Caribbean",
    "N": "Black, Black British, Caribbean or African: African",
    "P": "Black, Black British, Caribbean or African: Any other Black, Black British or Caribbean background",
    "R": "Asian or Asian British: Chinese", "S": "Other ethnic group: Any other ethnic group",
    "Z": "No data: Refused", "99": "No data: Undeclared or not known",
}  # fmt: skip
ONE_OFF_TEXT = "one off"


def check_layout(layout: str) -> None:
    """Refuse a CLD layout the generator cannot write."""
    if layout not in LAYOUTS:
        raise InputError(file="--asc-layout", field="asc_layout", expected=" or ".join(LAYOUTS), got=layout)


def national(
    frame: pl.DataFrame, records: CldRecords, window_start: date, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The extract's rows in the national table's columns and wording, and the log of what was planted."""
    ids = frame["Event_Reference"]
    services = frame["Event_Type"] == "Service"
    one_off_cost = frame["_frequency"] == "one_off"
    one_off = pl.Series(rng.random(frame.height) < records.one_off_in_planned_units) & one_off_cost
    negative = pl.Series(rng.random(frame.height) < records.negative_unit_cost) & services
    start = pl.max_horizontal(pl.col("Event_Start_Date"), pl.lit(window_start))
    ended = pl.col("Event_End_Date").is_not_null() & (pl.col("Event_End_Date") >= pl.col("Event_Start_Date"))
    frame = frame.with_columns(
        _first_month=start.dt.month_start(),
        _last_month=pl.when(ended).then(pl.col("Event_End_Date")).otherwise(start).dt.month_start(),
        Unit_Cost=pl.when(negative).then(-pl.col("Unit_Cost")).otherwise(pl.col("Unit_Cost")),
        Planned_Units_Per_Week=pl.when(one_off)
        .then(pl.lit(ONE_OFF_TEXT))
        .otherwise(pl.col("Planned_Units_Per_Week").cast(pl.String)),
    )
    later = services & (frame["_last_month"] > frame["_first_month"])
    resubmitted = later & pl.Series(rng.random(frame.height) < records.resubmitted)
    first = frame.filter(resubmitted).with_columns(
        _last_month=pl.col("_first_month"),
        Event_End_Date=pl.lit(None, dtype=pl.Date),
    )
    rows = pl.concat([first, frame]).with_columns(
        Reporting_Period_Start_Date=pl.col("_last_month"),
        Reporting_Period_End_Date=pl.col("_last_month").dt.month_end(),
    )
    rows = rows.with_columns(
        # A death after the period is not yet known to that submission.
        Date_of_Death=pl.when(pl.col("Date_of_Death") <= pl.col("Reporting_Period_End_Date")).then(
            pl.col("Date_of_Death")
        ),
        _release_2=pl.col("Reporting_Period_Start_Date") >= pl.lit(records.release_2_from),
    )
    rows = _worded(rows).sort("Event_Start_Date", "Event_Reference", "Reporting_Period_End_Date", maintain_order=True)
    log = pl.concat(
        [
            log_dirt("asc", ids.filter(one_off), "one_off_in_planned_units", "Planned_Units_Per_Week"),
            log_dirt("asc", ids.filter(negative), "negative_unit_cost", "Unit_Cost"),
            log_dirt("asc", ids.filter(resubmitted), "stacked_resubmission", "Reporting_Period_End_Date"),
        ]
    )
    return rows.select(*NATIONAL_COLUMNS, "_practice"), log


def _worded(rows: pl.DataFrame) -> pl.DataFrame:
    """Client type, service, cost frequency, gender and ethnicity in the wording of each row's release."""

    def by_release(column: str, table: dict[str, tuple[str | None, str | None]]) -> pl.Expr:
        keys = list(table)
        release_1, release_2 = ([table[key][release] for key in keys] for release in (0, 1))
        worded = [
            pl.col(column).replace_strict(keys, words, default=None, return_dtype=pl.String)
            for words in (release_1, release_2)
        ]
        return pl.when(pl.col("_release_2")).then(worded[1]).otherwise(worded[0])

    def service_part(position: int) -> dict[str, tuple[str | None, str | None]]:
        return {name: (one[position], two[position]) for name, (one, two) in SERVICES.items()}

    return rows.with_columns(
        Client_Type=by_release("_client", CLIENT_TYPES),
        Service_Type=by_release("_service", service_part(0)),
        Service_Component=by_release("_service", service_part(1)),
        Delivery_Mechanism=by_release("_service", service_part(2)),
        Cost_Frequency_Unit_Type=by_release("_frequency", FREQUENCIES),
        Gender=pl.col("Gender").replace_strict(GENDER, default=None, return_dtype=pl.String),
        Ethnicity=pl.col("Ethnicity").replace_strict(ETHNICITY, default=None, return_dtype=pl.String),
        Der_NHS_Number_Pseudo=pl.col("Der_NHS_Number_Traced_Pseudo"),
    )


def tables(frame: pl.DataFrame, layout: str) -> dict[str, pl.DataFrame]:
    """One delivery's file: the national table, or the data lake's with its headers and derived columns."""
    if layout == "national":
        return {NATIONAL_TABLE: frame.select(NATIONAL_COLUMNS)}
    month = pl.format("{}-{}", pl.col("Der_Birth_Year"), pl.col("Der_Birth_Month").cast(pl.String).str.zfill(2))
    lake = frame.select(
        *[pl.col(column).alias(name) for column, name in LAKE_NAMES.items()],
        month.alias("dmYearAndMonthOfBirth"),
        pl.col("Date_of_Death").dt.strftime("%Y-%m").alias("dmYearAndMonthofDeath"),
        pl.when(pl.col("Der_NHS_Number_Traced_Pseudo").is_not_null())
        .then(pl.col("_practice"))
        .alias("dmPracticeCodeFromNHSNumber"),
    )
    return {LAKE_TABLE: lake}
