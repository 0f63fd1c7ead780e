"""Emergency care attendances as ECDS delivers them (EC_Core fields, SNOMED CT codes from the ETOS lists).

:func:`ecds` turns the simulated attendances into EC_Core rows; :func:`extra_records` adds the
records that the delivered fields mark for clinical logic to leave out (planned follow-ups,
Der_Dupe_Flag duplicates). Field names: NCDR/UDAL ECDS (national_formats.md 1.2). Draws that
shape the simulation come from the shared generator ``rng`` in the same order and number as
before these fields existed; every draw for the new fields comes from ``layout_rng``, so a seed
gives the same people, admissions and attendances whatever the layout.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from popheath.synth import ecds_codes
from popheath.synth.codes import (
    EC_ARRIVAL_AMBULANCE,
    EC_ARRIVAL_OTHER,
    EC_DISCHARGE_HOME,
    EC_DISCHARGE_OTHER,
    EC_DISCHARGE_WARD,
)
from popheath.synth.extracts import ACUTE_PROVIDER_CODES, ALL_GROUPS, COMMUNITY_PROVIDER, FALL_GROUP
from popheath.synth.params import EcdsRecords
from popheath.synth.population import People
from popheath.synth.records import YearActivity
from popheath.synth.sampling import pick, weighted

EC_CORE_COLUMNS = [
    "EC_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Arrival_Date", "Arrival_Time",
    "EC_Department_Type", "EC_AttendanceCategory", "EC_Arrival_Mode_SNOMED_CT", "EC_Chief_Complaint_SNOMED_CT",
    "EC_Acuity_SNOMED_CT", "Discharge_Destination_SNOMED_CT", "Der_EC_Diagnosis_All", "Der_Dupe_Flag",
]  # fmt: skip
_ADMITTED = [ecds_codes.GROUP_DIAGNOSIS.get(g.name, ecds_codes.DEFAULT_DIAGNOSIS) for g in ALL_GROUPS]
GROUP_DIAGNOSIS = np.array([code for code, _ in _ADMITTED])
GROUP_CHIEF_COMPLAINT = np.array([complaint for _, complaint in _ADMITTED])
SENT_HOME_DIAGNOSIS = np.array([code for code, _ in ecds_codes.SENT_HOME_DIAGNOSES])
SENT_HOME_CHIEF_COMPLAINT = np.array([complaint for _, complaint in ecds_codes.SENT_HOME_DIAGNOSES])


def ecds(
    activity: YearActivity,
    people: People,
    rng: np.random.Generator,
    layout_rng: np.random.Generator,
    first_id: int,
    records: EcdsRecords,
) -> pl.DataFrame:
    """Emergency care attendances (ECDS): admitted ones at type 01 departments, others at all types."""
    frame = activity.ecds
    n = frame.height
    person = frame["person"].to_numpy()
    admitted = frame["admitted"].to_numpy()
    group = frame["group"].to_numpy()
    age = activity.state.age[person]
    department = np.where(
        admitted,
        "01",
        weighted(rng, (("01", 0.62), ("02", 0.02), ("03", 0.33), ("04", 0.03)), n),
    )
    provider_index = frame["provider"].to_numpy()
    provider = ACUTE_PROVIDER_CODES[provider_index]
    provider = np.where((department != "01") & (provider_index < 3), COMMUNITY_PROVIDER, provider)
    ambulance = rng.random(n) < np.where(admitted, np.where(age >= 65, 0.6, 0.35), np.where(age >= 65, 0.25, 0.08))
    arrival_mode = np.where(ambulance, EC_ARRIVAL_AMBULANCE, pick(rng, EC_ARRIVAL_OTHER, n))
    discharge = np.where(
        admitted,
        EC_DISCHARGE_WARD,
        np.where(rng.random(n) < 0.97, EC_DISCHARGE_HOME, pick(rng, EC_DISCHARGE_OTHER, n)),
    )
    weights = np.ones(SENT_HOME_DIAGNOSIS.size)
    sent_home = rng.choice(SENT_HOME_DIAGNOSIS.size, size=n, p=weights / weights.sum())
    second = rng.random(n) < 0.1  # a tenth of attendances record a long-term condition as a second diagnosis
    hour = np.clip(rng.normal(14.0, 4.5, n), 0, 23.99)
    seconds = (hour * 3600).astype(np.int64)

    primary = np.where(admitted, GROUP_DIAGNOSIS[np.maximum(group, 0)], SENT_HOME_DIAGNOSIS[sent_home])
    complaint = np.where(admitted, GROUP_CHIEF_COMPLAINT[np.maximum(group, 0)], SENT_HOME_CHIEF_COMPLAINT[sent_home])
    injured_old = ~admitted & np.isin(primary, list(ecds_codes.INJURY_DIAGNOSES)) & (age >= 65)
    fall = (admitted & (group == FALL_GROUP)) | (
        injured_old & (layout_rng.random(n) < records.fall_share_of_injuries_65)
    )
    complaint = np.where(fall, weighted(layout_rng, ecds_codes.FALLS_CHIEF_COMPLAINTS, n), complaint)
    secondary = pick(layout_rng, ecds_codes.SECOND_DIAGNOSES, n)
    diagnoses = np.where(second & (secondary != primary), np.char.add(np.char.add(primary, ","), secondary), primary)
    acuity = np.where(
        admitted,
        weighted(layout_rng, ecds_codes.ACUITY_ADMITTED, n),
        weighted(layout_rng, ecds_codes.ACUITY_SENT_HOME, n),
    )
    draw = layout_rng.random(n)
    category = np.where(
        admitted | (draw >= records.unplanned_follow_up_here + records.unplanned_follow_up_elsewhere),
        "1",
        np.where(draw < records.unplanned_follow_up_here, "2", "3"),
    )
    return (
        pl.DataFrame(
            {
                "EC_Ident": np.arange(first_id, first_id + n, dtype=np.int64),
                "Der_Pseudo_NHS_Number": people.token[person],
                "Der_Provider_Code": provider,
                "Arrival_Date": frame["arrival"],
                "_seconds": seconds,
                "EC_Department_Type": department,
                "EC_AttendanceCategory": category,
                "EC_Arrival_Mode_SNOMED_CT": arrival_mode,
                "EC_Chief_Complaint_SNOMED_CT": complaint,
                "EC_Acuity_SNOMED_CT": acuity,
                "Discharge_Destination_SNOMED_CT": discharge,
                "Der_EC_Diagnosis_All": diagnoses,
                "Der_Dupe_Flag": np.full(n, "0"),
            }
        )
        .with_columns(Arrival_Date=pl.col("Arrival_Date").cast(pl.Date), Arrival_Time=_clock(pl.col("_seconds")))
        .select(EC_CORE_COLUMNS)
    )


def _clock(seconds: pl.Expr) -> pl.Expr:
    """HH:MM:SS from seconds after midnight."""
    return (
        (seconds // 3600).cast(pl.String).str.zfill(2)
        + ":"
        + (seconds // 60 % 60).cast(pl.String).str.zfill(2)
        + ":"
        + (seconds % 60).cast(pl.String).str.zfill(2)
    )


def extra_records(
    frame: pl.DataFrame, rng: np.random.Generator, first_id: int, records: EcdsRecords, last_day: date
) -> pl.DataFrame:
    """Planned follow-ups (category 4) and Der_Dupe_Flag duplicates of the attendances in ``frame``.

    A planned follow-up comes 2-14 days after an attendance sent home (category 1-3), at the same
    department, for the review of a wound, plaster or dressing; one that would fall after
    ``last_day`` is not written. A duplicate is a second submission of the attendance under its own
    EC_Ident with Der_Dupe_Flag 1. Both get EC_Ident from ``first_id`` on; ``rng`` is the layout
    generator.
    """
    originals = frame.unique(subset="EC_Ident", keep="first", maintain_order=True)
    n = originals.height
    sent_home = (originals["Discharge_Destination_SNOMED_CT"] != EC_DISCHARGE_WARD).to_numpy()
    follow = sent_home & (rng.random(n) < records.planned_follow_up)
    gap = rng.integers(2, 15, n)
    duplicate = rng.random(n) < records.duplicate
    follow_up_diagnosis = pick(rng, ecds_codes.FOLLOW_UP_DIAGNOSES, n)
    follow_ups = (
        originals.with_columns(
            _gap=pl.Series(gap), EC_Diagnosis=pl.Series(follow_up_diagnosis), _follow=pl.Series(follow)
        )
        .filter(pl.col("_follow"))
        .with_columns(
            Arrival_Date=pl.col("Arrival_Date") + pl.duration(days=pl.col("_gap")),
            EC_AttendanceCategory=pl.lit("4"),
            EC_Arrival_Mode_SNOMED_CT=pl.lit(EC_ARRIVAL_OTHER[0]),
            EC_Chief_Complaint_SNOMED_CT=pl.lit(ecds_codes.WOUND_CARE),
            EC_Acuity_SNOMED_CT=pl.lit(ecds_codes.ACUITY_NON_URGENT),
            Discharge_Destination_SNOMED_CT=pl.lit(EC_DISCHARGE_HOME),
            Der_EC_Diagnosis_All=pl.col("EC_Diagnosis"),
        )
        .filter(pl.col("Arrival_Date") <= last_day)
        .select(EC_CORE_COLUMNS)
    )
    copies = originals.filter(pl.Series(duplicate)).with_columns(Der_Dupe_Flag=pl.lit("1"))
    extra = pl.concat([follow_ups, copies])
    return extra.with_columns(EC_Ident=pl.int_range(pl.len(), dtype=pl.Int64) + first_id)
