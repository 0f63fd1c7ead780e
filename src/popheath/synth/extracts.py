"""Turn simulated activity into extracts: SUS+ (NCDR) field names for APC and OP, ASC-CLD names for social care.

Every function takes index/day frames from :mod:`popheath.synth.simulate` and returns a polars frame
before dirt is injected. APC and OP come out as one flat frame with NCDR field names (plus
``_episode_status``, written by the HES layout); :mod:`popheath.synth.acute_layouts` writes them in
the configured layout; :mod:`popheath.synth.cld` writes ASC-CLD in its national layouts; CSDS
contacts carry their CSDS v1.6 fields (:mod:`popheath.synth.csds_tables` writes the tables). The
population keeps the synthetic format of docs/data_model.md.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from popheath.synth.codes import (
    ACSC_GROUPS,
    ADMISSION_METHODS_ELECTIVE,
    ADMISSION_METHODS_EMERGENCY,
    ADMISSION_METHODS_MATERNITY,
    CONDITIONS,
    ELECTIVE_GROUPS,
    EMERGENCY_GROUPS,
    FALL_EXTERNAL_CAUSES,
    MATERNITY_GROUP,
    OUTPATIENT_ATTENDANCE,
    OUTPATIENT_BACKGROUND,
    TEAM_DURATION_MINUTES,
    TEAM_TYPES,
)
from popheath.synth.params import CldRecords
from popheath.synth.population import NO_DATE, Organisations, People
from popheath.synth.records import (
    ELECTIVE,
    EMERGENCY,
    EVENT_TYPES,
    SERVICE_INDEX,
    SERVICE_TYPES,
    TRANSFER,
    YearActivity,
)
from popheath.synth.sampling import pick, weighted

ALL_GROUPS = ACSC_GROUPS + EMERGENCY_GROUPS + ELECTIVE_GROUPS + (MATERNITY_GROUP,)
FALL_GROUP = len(ACSC_GROUPS)  # index of fall_injury in ALL_GROUPS
CHEMOTHERAPY_GROUP = next(i for i, g in enumerate(ALL_GROUPS) if g.name == "chemotherapy")

# Providers: ICS acute trusts RA1-RA3, community trust RC1, and trusts outside the ICS.
PROVIDERS: tuple[tuple[str, str, bool], ...] = (
    ("RA1", "Northgate Hospitals NHS Foundation Trust", True),
    ("RA2", "Southmere University Hospitals NHS Trust", True),
    ("RA3", "Eastbrook General Hospital NHS Trust", True),
    ("RX1", "Westhaven Teaching Hospitals NHS Trust", False),
    ("RX2", "Farfield Royal Infirmary NHS Foundation Trust", False),
    ("RY1", "Neighbouring Community and Acute Services NHS Trust", False),
    ("RC1", "Vale Community Health NHS Trust", True),
)
ACUTE_PROVIDER_CODES = np.array([code for code, _, _ in PROVIDERS[:6]])
COMMUNITY_PROVIDER = "RC1"
OUT_OF_ICS_COMMUNITY = "RY1"

# Per-week planned units, unit cost (GBP) and cost frequency of each ASC service type.
# PSSRU Unit Costs of Health and Social Care 2023 (Jones et al., PSSRU/Kent) and NHS England ASC-FR
# 2022-23: home care ~GBP 28/hour; reablement ~GBP 30/hour; LA-supported residential ~GBP 900/week and
# nursing ~GBP 1,050/week; day care ~GBP 75/day; direct payments ~GBP 330/week; supported living
# ~GBP 1,100/week. Packages are skewed: planned units are lognormal around the mean (most home care
# packages a few hours a week, a few double-handed visits four times a day), and so are the weekly
# amounts of direct payments, supported living and placements (needs, provider and top-ups differ);
# the spreads are assumptions.
SERVICE_COSTS: dict[str, tuple[float, float, float, float, str]] = {
    # service: (mean planned units per week, log-SD of units, unit cost, log-SD of unit cost, frequency)
    "home_care": (12.0, 0.8, 28.0, 0.05, "hourly"),
    "direct_payment": (1.0, 0.0, 330.0, 0.6, "weekly"),
    "day_care": (2.0, 0.5, 75.0, 0.05, "daily"),
    "supported_living": (1.0, 0.0, 1100.0, 0.5, "weekly"),
    "reablement": (8.0, 0.4, 30.0, 0.05, "hourly"),
    "residential": (1.0, 0.0, 900.0, 0.25, "weekly"),
    "nursing": (1.0, 0.0, 1050.0, 0.25, "weekly"),
}
# Direct payments' cost frequency and the weeks each period's payment covers (DHSC 6.Costs_fact.sql
# converts 4-weekly to 1/4 and monthly to 12/52 units a week); shares in CldRecords.
DIRECT_PAYMENT_PERIODS = (("weekly", 1.0), ("4_weekly", 4.0), ("monthly", 52 / 12))
# Long-term services at home or in the community that may come with a supported unpaid carer.
COMMUNITY_SERVICES = ("home_care", "direct_payment", "day_care", "supported_living")
CARER_SERVICE = len(SERVICE_TYPES)  # service code of a carer's own support (after the service types)
ADULT_DAYS = 18 * 365  # an unpaid carer the LA supports is an adult (ASC-CLD covers adults)

APC_DIAGNOSIS_COLUMNS = ["Primary_Diagnosis_Code"] + [f"Secondary_Diagnosis_Code_{i}" for i in range(1, 13)]
APC_PROCEDURE_COLUMNS = ["Primary_Procedure_Code"] + [f"Secondary_Procedure_Code_{i}" for i in range(1, 7)]


def to_date(days: pl.Expr) -> pl.Expr:
    """Day numbers to a Date, with NO_DATE as null."""
    return pl.when(days < int(NO_DATE)).then(days).otherwise(None).cast(pl.Date)


def nullable(values: np.ndarray) -> pl.Series:
    """A string Series from an array where None or "" means missing."""
    text = np.where(values == None, "", values).astype(str)  # noqa: E711 - element-wise on object arrays
    series = pl.Series(text)
    return pl.select(pl.when(series == "").then(None).otherwise(series)).to_series()


_CODES = sorted({code for c in CONDITIONS for code in c.codes} | set(FALL_EXTERNAL_CAUSES))
VOCABULARY = np.array(_CODES)


class _Index:
    """Look up the vocabulary position of codes (vectorised)."""

    def __getitem__(self, codes: np.ndarray) -> np.ndarray:
        return np.searchsorted(VOCABULARY, codes).astype(np.int32)


VOCABULARY_INDEX = _Index()


def condition_codes(people_index: np.ndarray, condition: int) -> np.ndarray:
    """The ICD-10 code a person's condition is recorded with (fixed per person, so it repeats)."""
    codes = np.asarray(CONDITIONS[condition].codes)
    variant = (people_index.astype(np.int64) * 2_654_435_761 + condition * 97) % 1_000_003 % codes.size
    return codes[variant]


def apc(
    activity: YearActivity,
    people: People,
    care_home_start: np.ndarray,
    rng: np.random.Generator,
    first_spell: int,
    first_episode: int,
    extract_end: int,
) -> pl.DataFrame:
    """Consultant episodes grouped into hospital provider spells."""
    spells = activity.spells
    n = spells.height
    person = spells["person"].to_numpy()
    kind = spells["kind"].to_numpy()
    admit = spells["admit"].to_numpy()
    discharge = spells["discharge"].to_numpy()
    group = spells["group"].to_numpy()
    method = spells["method"].to_numpy()
    los = discharge - admit
    age = activity.state.age[person]

    # Episodes: more consultant changes in long stays (HES: ~1.2 episodes per emergency spell).
    episodes = np.where(
        (kind == EMERGENCY) | (kind == TRANSFER),
        1 + rng.poisson(0.08 + 0.03 * np.minimum(los, 30)),
        1,
    )
    episodes = np.minimum(np.minimum(episodes, 5), los + 1).astype(np.int64)

    # Spell-level codes.
    admission_method = np.where(
        kind == EMERGENCY,
        np.array([m for m, _ in ADMISSION_METHODS_EMERGENCY])[method],
        np.where(
            kind == TRANSFER,
            "81",
            np.where(
                kind == ELECTIVE,
                np.array([m for m, _ in ADMISSION_METHODS_ELECTIVE])[np.minimum(method, 2)],
                np.array([m for m, _ in ADMISSION_METHODS_MATERNITY])[np.minimum(method, 1)],
            ),
        ),
    )
    care_home = spells["care_home"].to_numpy()
    care_home_code = np.where(rng.random(n) < 0.8, "85", np.where(rng.random(n) < 0.8, "65", "54"))
    source = np.where(
        kind == TRANSFER,
        "51",
        np.where(care_home, care_home_code, np.where(rng.random(n) < 0.97, "19", "29")),
    )
    died = spells["died"].to_numpy()
    to_care_home = (~care_home) & (care_home_start[person] == discharge) & (kind == EMERGENCY)
    destination = np.where(
        died,
        "79",
        np.where(
            spells["transfer_out"].to_numpy(),
            "51",
            np.where(care_home | to_care_home, care_home_code, "19"),
        ),
    )
    discharge_method = np.where(died, "4", np.where(rng.random(n) < 0.98, "1", "2"))
    still_in = discharge > extract_end
    destination = np.where(still_in, "98", destination)
    discharge_method = np.where(still_in, "8", discharge_method)
    classification = patient_classification(kind, los, group)

    primary = np.empty(n, dtype=object)
    hrg_root = np.empty(n, dtype=object)
    specialty = np.empty(n, dtype=object)
    procedure = np.full(n, None, dtype=object)
    laterality = np.full(n, None, dtype=object)
    for index, spec in enumerate(ALL_GROUPS):
        rows = group == index
        size = int(rows.sum())
        if not size:
            continue
        primary[rows] = pick(rng, spec.codes, size)
        hrg_root[rows] = spec.hrg_root
        specialty[rows] = spec.specialty
        if spec.procedures:
            chosen = rng.random(size) < spec.procedure_share
            values = pick(rng, spec.procedures, size).astype(object)
            values[~chosen] = None
            procedure[rows] = values
        if spec.name in ("cataract", "hip_replacement", "knee_replacement"):
            laterality[rows] = pick(rng, ("Z941", "Z942"), size)
    coded = spells["coded"].to_numpy()
    cc = np.zeros(n, dtype=np.int64)
    for index in range(len(CONDITIONS)):
        cc += (coded >> index) & 1
    split = np.array(["E", "D", "C", "C", "B", "B", "A"])[np.minimum(cc, 6)]
    hrg = np.where(hrg_root == "SB97", "SB97Z", hrg_root.astype(str) + split)

    # Secondary diagnoses: a fall's external cause first, then the person's coded conditions.
    n_slots = 1 + len(CONDITIONS)
    slots = np.full((n, n_slots), -1, dtype=np.int32)
    fall = group == FALL_GROUP
    slots[fall, 0] = VOCABULARY_INDEX[pick(rng, FALL_EXTERNAL_CAUSES, int(fall.sum()))]
    for index in range(len(CONDITIONS)):
        rows = ((coded >> index) & 1).astype(bool)
        slots[rows, 1 + index] = VOCABULARY_INDEX[condition_codes(person[rows], index)]
    order = np.argsort(slots < 0, axis=1, kind="stable")
    slots = np.take_along_axis(slots, order, axis=1)[:, :12]
    slots = np.where(slots < 0, VOCABULARY.size, slots)
    vocabulary = pl.Series(list(VOCABULARY) + [None], dtype=pl.String)

    spell_number = np.arange(first_spell, first_spell + n, dtype=np.int64)
    provider = ACUTE_PROVIDER_CODES[spells["provider"].to_numpy()]
    frame = pl.DataFrame(
        {
            "_spell": spell_number,
            "_episodes": episodes,
            "_admit": admit,
            "_discharge": discharge,
            "Der_Pseudo_NHS_Number": people.token[person],
            "Der_Provider_Code": provider,
            "Admission_Method": admission_method,
            "Source_of_Admission": source,
            "Discharge_Destination": destination,
            "Discharge_Method": discharge_method,
            "Primary_Diagnosis_Code": primary.astype(str),
            **{f"Secondary_Diagnosis_Code_{i + 1}": vocabulary.gather(slots[:, i]) for i in range(12)},
            "Primary_Procedure_Code": nullable(procedure),
            "Secondary_Procedure_Code_1": nullable(laterality),
            "Spell_Core_HRG": hrg,
            "Patient_Classification": classification,
            # INTENDED MANAGEMENT 1 at least one night, 2 no overnight stay, 3 a planned sequence of day
            # admissions: the classification each spell ended with is the one intended here.
            "Intended_Management": classification,
            "_specialty": specialty.astype(str),
            "_old": age >= 65,
        }
    )
    frame = frame.with_columns(
        Hospital_Spell_No=pl.col("Der_Provider_Code") + pl.col("_spell").cast(pl.String).str.zfill(10)
    )
    # One row per episode; episodes split the stay evenly, geriatric medicine takes over in older people.
    frame = frame.select(pl.all().repeat_by(pl.col("_episodes")).explode())
    frame = frame.with_columns(Episode_Number=pl.int_range(pl.len()).over("_spell").cast(pl.Int32) + 1)
    stay = pl.col("_discharge") - pl.col("_admit")
    frame = frame.with_columns(
        _start=pl.col("_admit") + (stay * (pl.col("Episode_Number") - 1) // pl.col("_episodes")),
        _end=pl.when(pl.col("Episode_Number") == pl.col("_episodes"))
        .then(pl.col("_discharge"))
        .otherwise(pl.col("_admit") + (stay * pl.col("Episode_Number") // pl.col("_episodes"))),
    ).filter(pl.col("_start") <= extract_end)
    frame = frame.with_columns(
        APCE_Ident=pl.int_range(pl.len(), dtype=pl.Int64) + first_episode,
        Admission_Date=to_date(pl.col("_admit")),
        Discharge_Date=to_date(pl.when(pl.col("_discharge") <= extract_end).then(pl.col("_discharge"))),
        Episode_Start_Date=to_date(pl.col("_start")),
        Episode_End_Date=to_date(pl.when(pl.col("_end") <= extract_end).then(pl.col("_end"))),
        Treatment_Function_Code=pl.when((pl.col("Episode_Number") > 1) & pl.col("_old"))
        .then(pl.lit("430"))
        .otherwise(pl.col("_specialty")),
        Primary_Procedure_Code=pl.when(pl.col("Episode_Number") == 1).then(pl.col("Primary_Procedure_Code")),
        Secondary_Procedure_Code_1=pl.when(pl.col("Episode_Number") == 1).then(pl.col("Secondary_Procedure_Code_1")),
        **{f"Secondary_Procedure_Code_{i}": pl.lit(None, dtype=pl.String) for i in range(2, 7)},
    ).with_columns(
        # HES EPISTAT: 3 finished episode, 1 unfinished (still under way at the extract end).
        _episode_status=pl.when(pl.col("Episode_End_Date").is_null()).then(pl.lit("1")).otherwise(pl.lit("3"))
    )
    columns = [
        "APCE_Ident", "Der_Pseudo_NHS_Number", "Hospital_Spell_No", "Der_Provider_Code", "Admission_Date",
        "Discharge_Date", "Episode_Start_Date", "Episode_End_Date", "Episode_Number", "Admission_Method",
        "Source_of_Admission", "Discharge_Destination", "Discharge_Method", "Intended_Management",
        "Patient_Classification", *APC_DIAGNOSIS_COLUMNS, *APC_PROCEDURE_COLUMNS, "Spell_Core_HRG",
        "Treatment_Function_Code", "_episode_status",
    ]  # fmt: skip
    return frame.select(columns)


def patient_classification(kind: np.ndarray, los: np.ndarray, group: np.ndarray) -> np.ndarray:
    """PATIENT CLASSIFICATION (HES CLASSPAT) of each spell.

    1 ordinary admission; 2 day case: an elective admission (ADMIMETH 11-13) discharged the day it
    was admitted; 3 regular day attender: same-day chemotherapy, given as a planned sequence of day
    admissions (nhp_data raw_data/inpatients.py: ADMIMETH 11-13 with CLASSPAT 2 is a day case,
    CLASSPAT 3/4 a regular attender; national_formats.md 1.1). The simulation has no overnight
    sessions in a planned series, so 4 (regular night attender) does not occur.
    """
    same_day_elective = (kind == ELECTIVE) & (los == 0)
    return np.where(same_day_elective, np.where(group == CHEMOTHERAPY_GROUP, "3", "2"), "1")


def opa(
    activity: YearActivity, people: People, orgs: Organisations, rng: np.random.Generator, first_id: int
) -> pl.DataFrame:
    """Outpatient appointments with attendance status (DNAs more common in deprived younger adults)."""
    frame = activity.opa
    n = frame.height
    person = frame["person"].to_numpy()
    condition = frame["condition"].to_numpy()
    age = activity.state.age[person]
    condition_specialty = np.array([c.outpatient_specialty for c in CONDITIONS] + ["000"])
    background = weighted(rng, OUTPATIENT_BACKGROUND, n)
    background = np.where((age < 16) & (rng.random(n) < 0.7), "420", background)
    specialty = np.where(condition >= 0, condition_specialty[condition], background)
    status = weighted(rng, OUTPATIENT_ATTENDANCE, n)
    deprived_young = (orgs.lsoa_imd[people.lsoa[person]] <= 3) & (age >= 16) & (age < 45)
    status = np.where(deprived_young & (status == "5") & (rng.random(n) < 0.06), "3", status)
    first = weighted(rng, (("1", 0.26), ("2", 0.60), ("3", 0.03), ("4", 0.11)), n)
    hrg = np.select([first == "1", first == "2", first == "3"], ["WF01B", "WF01A", "WF01D"], "WF01C")
    return pl.DataFrame(
        {
            "OPA_Ident": np.arange(first_id, first_id + n, dtype=np.int64),
            "Der_Pseudo_NHS_Number": people.token[person],
            "Der_Provider_Code": ACUTE_PROVIDER_CODES[frame["provider"].to_numpy()],
            "Appointment_Date": frame["appointment"],
            "Attendance_Status": status,
            "First_Attendance": first,
            "Treatment_Function_Code": specialty,
            "Core_HRG": hrg,
        }
    ).with_columns(pl.col("Appointment_Date").cast(pl.Date))


def csds(
    activity: YearActivity, people: People, orgs: Organisations, rng: np.random.Generator, first_id: int
) -> pl.DataFrame:
    """Community care contacts with their CSDS v1.6 fields (csds_tables adds referrals and splits the tables).

    ``_team`` is the canonical team type (codes.TEAM_TYPES) the contact's team code is drawn for;
    ``Pseudo_NHS_Number`` is the person's token (the Bridging table's), the MPI fields are the person's.
    """
    frame = activity.csds
    n = frame.height
    person = frame["person"].to_numpy()
    team = np.asarray(TEAM_TYPES)[frame["team"].to_numpy()]
    mean_minutes = np.array([TEAM_DURATION_MINUTES[t] for t in TEAM_TYPES])[frame["team"].to_numpy()]
    minutes = np.maximum(5, np.rint(mean_minutes * rng.lognormal(-0.08, 0.4, n) / 5) * 5).astype(np.int32)
    status = weighted(rng, (("5", 0.92), ("3", 0.035), ("2", 0.025), ("4", 0.02)), n)
    provider = np.where(rng.random(n) < 0.04, OUT_OF_ICS_COMMUNITY, COMMUNITY_PROVIDER)
    local_id = np.char.add("CC", np.arange(first_id, first_id + n).astype(str))
    return pl.DataFrame(
        {
            "CARE CONTACT IDENTIFIER": local_id,
            # NHS England derives unique identifiers as provider code + the local identifier.
            "UNIQUE CARE CONTACT IDENTIFIER": np.char.add(provider, local_id),
            "Pseudo_NHS_Number": people.token[person],
            "ORGANISATION IDENTIFIER (CODE OF PROVIDER)": provider,
            "CARE CONTACT DATE": frame["contact"],
            "CLINICAL CONTACT DURATION OF CARE CONTACT": minutes,
            "ATTENDED OR DID NOT ATTEND CODE": status,
            "PERSON STATED GENDER CODE": people.sex[person].astype(str),
            "ETHNIC CATEGORY": people.ethnic[person],
            "LOWER SUPER OUTPUT AREA (RESIDENCE)": orgs.lsoa_codes[people.lsoa[person]],
            "_team": team,
        }
    ).with_columns(pl.col("CARE CONTACT DATE").cast(pl.Date))


def population(
    people: People, orgs: Organisations, death: np.ndarray, care_home_start: np.ndarray, extract_end: int
) -> pl.DataFrame:
    """The registration spine at the end of the window, including people who left or died in it."""
    spine = np.flatnonzero(people.in_population)
    birth = pl.Series(people.birth_day[spine]).cast(pl.Date)
    died = death[spine] <= extract_end
    registration_end = np.where(died, death[spine], people.registration_end[spine])
    registration_end = np.where(registration_end <= extract_end, registration_end, NO_DATE)
    pcn = orgs.practice_pcn[people.practice[spine]]
    in_home = care_home_start[spine] <= np.minimum(death[spine], extract_end)
    return pl.DataFrame(
        {
            "Pseudo_NHS_Number": people.token[spine],
            "Year_Of_Birth": birth.dt.year().cast(pl.Int32),
            "Month_Of_Birth": birth.dt.month().cast(pl.Int32),
            "Gender": people.sex[spine].astype(str),
            "Ethnic_Category": people.ethnic[spine],
            "LSOA_2021": orgs.lsoa_codes[people.lsoa[spine]],
            "IMD_Decile": orgs.lsoa_imd[people.lsoa[spine]].astype(np.int32),
            "GP_Practice_Code": orgs.practice_codes[people.practice[spine]],
            "PCN_Code": orgs.pcn_codes[pcn],
            "Place": orgs.place_names[orgs.pcn_place[pcn]],
            "Registration_Start_Date": people.registration_start[spine],
            "Registration_End_Date": registration_end,
            "Date_Of_Death": np.where(died, death[spine], NO_DATE),
            "Care_Home_Flag": np.where(in_home, "Y", "N"),
            "Type1_Opt_Out": np.where(people.type1_opt_out[spine], "Y", "N"),
            "National_Data_Opt_Out": np.where(people.national_data_opt_out[spine], "Y", "N"),
        }
    ).with_columns(
        Registration_Start_Date=to_date(pl.col("Registration_Start_Date")),
        Registration_End_Date=to_date(pl.col("Registration_End_Date")),
        Date_Of_Death=to_date(pl.col("Date_Of_Death")),
    )


def asc(
    people: People,
    orgs: Organisations,
    events: pl.DataFrame,
    services: pl.DataFrame,
    service_ends: pl.DataFrame,
    rng: np.random.Generator,
    window_start: int,
    extract_end: int,
    death: np.ndarray,
    records: CldRecords,
) -> pl.DataFrame:
    """ASC-CLD events with their true person; quasi-identifier noise is added by the dirt module.

    Services already running when the window opens are written with their true start date and go in
    the first delivery. The extract carries a ``_person`` column (the true person) for truth/.
    ``LA_Person_Unique_Identifier`` is the local authority's own client id (ASC-CLD guidance release 1:
    "a local authority Client ID", integer or alpha-numeric): one per person per LA, drawn at random
    so it says nothing about the NHS-number token. ``Ethnicity`` and ``Date_of_Death`` are written
    true here (the death only when it falls before the extract end); the dirt module perturbs them.
    Columns take their national (ASC-CLD table) names; ``_client``, ``_service`` and ``_frequency``
    hold the client type, service class and cost frequency that :mod:`popheath.synth.cld` writes in
    the wording of the release in force, and ``_practice`` the registered practice.
    """
    ends = service_ends.group_by("service_id").agg(pl.col("end").min())
    services = (
        services.join(ends, on="service_id", how="left")
        .with_columns(
            end=pl.min_horizontal(pl.col("fixed_end"), pl.col("end").fill_null(int(NO_DATE))),
            event=pl.lit(2, dtype=pl.Int8),
        )
        .filter((pl.col("end") >= window_start) & (pl.col("start") <= extract_end))
    )
    events = events.with_columns(
        end=pl.when(pl.col("event") == 1).then(pl.col("start") + 7).otherwise(int(NO_DATE)).cast(pl.Int32),
        service=pl.lit(-1, dtype=pl.Int8),
    ).filter((pl.col("start") >= window_start) & (pl.col("start") <= extract_end))
    columns = ("person", "event", "start", "end", "service")
    frame = pl.concat([services.select(columns), events.select(columns)])
    frame = frame.filter(pl.Series(people.in_population)[frame["person"]].alias("keep"))
    carers = _carers(people, frame, rng, extract_end, death, records)
    frame = pl.concat([frame.with_columns(carer=pl.lit(False)), carers], how="vertical_relaxed")
    frame = frame.sort("start", "person")
    n = frame.height
    person = frame["person"].to_numpy()
    service = frame["service"].to_numpy()
    units = np.full(n, np.nan)
    cost = np.full(n, np.nan)
    frequency = np.full(n, None, dtype=object)
    for index, name in enumerate(SERVICE_TYPES):
        rows = service == index
        mean, spread, unit_cost, cost_spread, freq = SERVICE_COSTS[name]
        size = int(rows.sum())
        drawn = rng.lognormal(np.log(mean) - 0.5 * spread * spread, spread, size)
        units[rows] = np.maximum(1.0, np.rint(drawn * 2) / 2) if spread else mean
        cost[rows] = np.round(rng.lognormal(np.log(unit_cost) - 0.5 * cost_spread * cost_spread, cost_spread, size), 2)
        frequency[rows] = freq
    # Direct payments paid four-weekly or monthly: the same weekly amount, billed per period, with the
    # planned units per week that period implies (a quarter of a four-weekly payment a week).
    paid = np.flatnonzero(service == SERVICE_INDEX["direct_payment"])
    period = rng.choice(len(DIRECT_PAYMENT_PERIODS), size=paid.size, p=records.direct_payment_periods)
    weeks = np.array([weeks for _, weeks in DIRECT_PAYMENT_PERIODS])[period]
    frequency[paid] = np.array([name for name, _ in DIRECT_PAYMENT_PERIODS])[period]
    cost[paid] = np.round(cost[paid] * weeks, 2)
    units[paid] = np.round(1 / weeks, 4)
    carer_service = service == CARER_SERVICE
    low, high = records.carer_payment
    cost[carer_service] = np.round(rng.uniform(low, high, int(carer_service.sum())), 2)
    frequency[carer_service] = "one_off"
    service_name = np.array((*SERVICE_TYPES, "carer_support", ""))[np.where(service >= 0, service, CARER_SERVICE + 1)]
    birth = pl.Series(people.birth_day[person]).cast(pl.Date)
    pcn = orgs.practice_pcn[people.practice[person]]
    registered = orgs.practice_codes[people.practice[person]]
    practice = registered.astype(object)
    practice[rng.random(n) >= 0.5] = None
    la_code = orgs.la_codes[orgs.pcn_place[pcn]]
    # A person belongs to one LA here (their practice's place), so one client id per person suffices.
    client_number = rng.permutation(people.size) + 1
    client_id = np.char.add("C", np.char.zfill(client_number[person].astype(str), 7))
    died = death[person]
    out = pl.DataFrame(
        {
            "Event_Reference": np.char.add("ASC", np.arange(1, n + 1).astype(str)),
            "Der_NHS_Number_Traced_Pseudo": people.token[person],
            "Der_Birth_Year": birth.dt.year().cast(pl.Int32),
            "Der_Birth_Month": birth.dt.month().cast(pl.Int32),
            "Gender": people.sex[person].astype(str),
            "Ethnicity": people.ethnic[person],
            "Der_Postcode_LSOA_Code": orgs.lsoa_codes[people.lsoa[person]],
            "GP_Practice_Code": nullable(practice),
            "LA_Code": la_code,
            "LA_Person_Unique_Identifier": client_id,
            "Event_Type": np.array(EVENT_TYPES)[frame["event"].to_numpy()],
            "Event_Start_Date": frame["start"],
            "Event_End_Date": frame["end"],
            "Planned_Units_Per_Week": pl.Series(units).fill_nan(None),
            "Unit_Cost": pl.Series(cost).fill_nan(None),
            "Date_of_Death": died,
            "_client": np.where(frame["carer"].to_numpy(), "unpaid_carer", "service_user"),
            "_service": nullable(service_name),
            "_frequency": nullable(frequency),
            "_practice": registered,
            "_person": person,
        }
    ).with_columns(
        Event_Start_Date=to_date(pl.col("Event_Start_Date")),
        Date_of_Death=to_date(pl.when(pl.col("Date_of_Death") <= extract_end).then(pl.col("Date_of_Death"))),
        Event_End_Date=to_date(pl.when(pl.col("Event_End_Date") <= extract_end).then(pl.col("Event_End_Date"))),
    )
    return out


def _carers(
    people: People,
    frame: pl.DataFrame,
    rng: np.random.Generator,
    extract_end: int,
    death: np.ndarray,
    records: CldRecords,
) -> pl.DataFrame:
    """Unpaid carers the LA supports in their own right, for a share of long-term community services.

    The carer is another registered adult (the simulation has no households) with a carer's
    assessment after the service starts and, for most, a one-off carer's direct payment a week or
    more later (rates: CldRecords, assumptions).
    """
    community = frame.filter(
        (pl.col("event") == 2) & pl.col("service").is_in([SERVICE_INDEX[name] for name in COMMUNITY_SERVICES])
    )
    chosen = community.filter(pl.Series(rng.random(community.height) < records.carer_share))
    registered = np.flatnonzero(people.in_population)
    carer = registered[rng.integers(0, registered.size, chosen.height)]
    assessed = chosen["start"].to_numpy() + rng.integers(0, 60, chosen.height)
    paid = assessed + rng.integers(7, 30, chosen.height)
    adult = people.birth_day[carer] <= assessed - ADULT_DAYS
    keep = (carer != chosen["person"].to_numpy()) & adult & (assessed <= extract_end) & (death[carer] > assessed)
    pays = keep & (paid <= extract_end) & (death[carer] > paid) & (rng.random(chosen.height) < records.carer_service)
    assessments, payments = int(keep.sum()), int(pays.sum())
    return pl.DataFrame(
        {
            "person": np.concatenate([carer[keep], carer[pays]]).astype(np.int32),
            "event": np.repeat(np.array([1, 2], np.int8), [assessments, payments]),
            "start": np.concatenate([assessed[keep], paid[pays]]).astype(np.int32),
            "end": np.concatenate([assessed[keep] + 7, paid[pays]]).astype(np.int32),
            "service": np.repeat(np.array([-1, CARER_SERVICE], np.int8), [assessments, payments]),
            "carer": np.ones(assessments + payments, dtype=bool),
        }
    )


def extract_end_day(window_start: date, years: int) -> int:
    """Last day covered by the extracts (31 March of the final year)."""
    return (date(window_start.year + years, 3, 31) - date(1970, 1, 1)).days
