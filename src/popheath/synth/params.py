"""Settings of the synthetic ICS generator: window, scale, rates of activity, dirt and linkage noise.

Every default is written to ``truth/parameters.json`` with the run, so an evaluation can see exactly
what the generator was asked to do. Sources of the reference figures are cited beside each value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class DirtRates:
    """Rates of injected real-world dirt (per record unless stated); every injection is listed in truth/dirt."""

    sentinel_date: float = 0.002  # a null or real end date written as 1800-01-01 / 1801-01-01
    dotted_code: float = 0.03  # every ICD-10 code of the record written with a dot (J44.1)
    trailing_x: float = 0.03  # 3-character codes padded with X (I10X), 4-character with '-' (J441-)
    lower_case: float = 0.01  # codes in lower case (j441)
    unknown_code: float = 0.003  # one secondary diagnosis replaced by a code that is not ICD-10
    duplicate_row: float = 0.001  # exact copy of the row appended
    raw_nhs_number: float = 1e-5  # token replaced by a raw 10-digit NHS number (passes modulus 11)
    out_of_area_people: float = 0.003  # extra people (per registered person) with activity but no registration


@dataclass(frozen=True)
class LinkageNoise:
    """How ASC-CLD records lose the token and how their quasi-identifiers are perturbed.

    Token missingness has two parts. Most of it is per client: the local authority's record of the
    person was never traced to an NHS number, so every event of that client lacks the token (the
    ASC-CLD guidance gives the LA's own Person Unique Identifier exactly so that events of one person
    can be tied together "where the NHS number is missing": NHS England / DHSC, Adult Social Care
    Client Level Data guidance, release 1, February 2023). A smaller part is per event: one row of a
    traced client submitted without it (a system or extract fault). With the defaults ~10% of clients
    and ~4.5% of the other clients' events lack it, ~14.5% of events overall, two thirds of them
    per client: DESIGN.md's 10-20%. The split is an assumption (no published figure was found);
    it is a parameter so the linkage can be measured under other splits.
    """

    client_token_missing: float = 0.10  # per client: LA record never traced, all its events lack the token
    event_token_missing: float = 0.05  # per event of a traced client: the row was submitted without it
    practice_present: float = 0.5  # GP practice code on an ASC record
    moved_lsoa: float = 0.08  # per client: the LA's address (LSOA) differs from the GP registration's
    birth_month_typo: float = 0.02  # per event: birth month replaced by another month
    birth_year_typo: float = 0.01  # per event: birth year off by one
    transposed_year_digits: float = 0.005  # per event: last two digits of birth year swapped (1947 -> 1974)
    sex_missing: float = 0.01  # per event: Gender written as 0 (not known)
    # Ethnicity is recorded by the LA independently of the GP record: per client, not stated/not known
    # (Z or 99) or a different category (self-description recorded differently). Assumed rates.
    ethnicity_unknown: float = 0.10
    ethnicity_differs: float = 0.05
    # Date_Of_Death: per client who died before the extract end, the LA never recorded it, or
    # recorded a date a few days off (date of notification rather than of death). Assumed rates.
    death_missing: float = 0.2
    death_date_shift: float = 0.05


@dataclass(frozen=True)
class EcdsRecords:
    """Shares of ECDS records that the delivered fields mark for clinical logic (per attendance).

    Attendance category (EC_AttendanceCategory): 1 unplanned first attendance, 2 unplanned
    follow-up at this department, 3 unplanned follow-up at another department, 4 planned follow-up
    (national_formats.md 1.2). Categories 2 and 3 relabel attendances sent home (they still count);
    planned follow-ups and Der_Dupe_Flag duplicates are extra records, which clinical logic drops,
    so the attendances counted downstream are exactly the simulated ones. Assumed rates.
    """

    unplanned_follow_up_here: float = 0.04  # category 2, of attendances sent home
    unplanned_follow_up_elsewhere: float = 0.01  # category 3, of attendances sent home
    planned_follow_up: float = 0.03  # an extra category 4 attendance 2-14 days after one sent home
    duplicate: float = 0.01  # an extra copy of the attendance under its own EC_Ident, Der_Dupe_Flag 1
    fall_share_of_injuries_65: float = 0.6  # injuries in people 65+ presenting as falls (chief complaint)


@dataclass(frozen=True)
class CldRecords:
    """How ASC-CLD is delivered (synth/cld.py): layout, release, unpaid carers, resubmissions, cost fields.

    ``layout``: the NHS England / DHSC national table (underscore headers) or the ICB data lake form
    (spaced headers, dmYearAndMonthOfBirth). Rows of a reporting period starting on or after
    ``release_2_from`` use release 2 wording, earlier ones release 1 (DHSC maps release 1 to
    release 2 from October 2025: DataS-DHSC/ASC-CLD-LA-Dashboard methodology 5-data-cleaning.md).
    The rest are assumptions (no published per-client figures were found): the share of new
    long-term community services whose unpaid carer the LA supports (a carer's assessment, then a
    one-off carer's direct payment for ``carer_service`` of them, GBP ``carer_payment``); the
    shares of direct payments paid weekly, four-weekly and monthly; the share of services ended in
    a later month that the extract also holds as first submitted (open, in its first reporting
    period: CLD submissions stack); one-off costs with "one off" written in the planned units
    (Cheshire and Merseyside's finding); negative unit costs (DHSC makes them positive).
    """

    layout: str = "national"
    release_2_from: date = date(2025, 10, 1)
    carer_share: float = 0.2
    carer_service: float = 0.6
    carer_payment: tuple[float, float] = (150.0, 450.0)
    direct_payment_periods: tuple[float, float, float] = (0.6, 0.3, 0.1)
    resubmitted: float = 0.3
    one_off_in_planned_units: float = 0.2
    negative_unit_cost: float = 0.002


@dataclass(frozen=True)
class SynthParameters:
    """All generator settings; ``people`` is the number of people in the registration spine."""

    people: int = 20_000
    seed: int = 42
    window_start: date = date(2021, 4, 1)
    years: int = 4  # financial years simulated and written: 2021-22 .. 2024-25
    burn_in_years: int = 1  # simulated before the window (not written) so that "last year" exists
    truth_as_of: tuple[date, ...] = (date(2022, 4, 1), date(2023, 4, 1), date(2024, 4, 1), date(2025, 4, 1))
    # Organisation sizes (NHS England: practices average ~10,000 registered patients; PCNs cover
    # 30,000-50,000 people). At small N they are scaled down but never below these minimums.
    practice_size: int = 10_000
    pcn_size: int = 40_000
    place_size: int = 250_000
    min_places: int = 2
    min_pcns: int = 4
    min_practices_per_pcn: int = 3
    # Spread of practices' age mix (population module): the standard deviation of each practice's tilt
    # of log list share per 20 years of age; 0.2 puts 90% of practices' share aged 65+ between about
    # 10% and 30% (NHS Digital, Patients Registered at a GP Practice: about 2% to 40% across England).
    practice_age_tilt: float = 0.2
    # Spread (SD, in deciles) of practices' mean IMD decile around their place's. Assumption: wide
    # enough that an ICS holds both inner-city and suburban lists.
    practice_deprivation_sd: float = 1.5
    # Practices differ in how much care their patients use beyond what age, need and deprivation explain
    # (referral thresholds, access, local services): a lognormal multiplier with mean one on planned
    # care (elective admissions, outpatients), community contacts and ED attendances not admitted, with
    # SD ``practice_use_sd`` on the log scale, fixed per practice, times a fresh one each year with SD
    # ``practice_use_year_sd`` (a partner leaves, a clinic opens). GP referral rates vary widely between
    # practices and case mix explains little of it (O'Donnell 2000, Family Practice 17:462); the sizes
    # are assumptions. Emergency admissions do not carry it (their rate is the truth's).
    practice_use_sd: float = 0.3
    practice_use_year_sd: float = 0.12
    lsoa_size: int = 1_600  # ONS: LSOAs hold 1,000-3,000 residents, ~1,600 on average
    # Registration churn. NHS Digital patients registered at a GP practice: ~6% of list turnover a year.
    share_registering_in_window: float = 0.18
    deregistration_rate_adult: float = 0.05  # per year, ages 18-64
    deregistration_rate_older: float = 0.02  # per year, ages 65+
    # Opt-outs. Type 1 objections ~2.7% of patients (NHS Digital, type 1 opt-out data 2021);
    # national data opt-out ~5.4% (NHS Digital, National Data Opt-out, March 2024).
    type1_opt_out: float = 0.027
    national_data_opt_out: float = 0.054
    # Unobserved parts of the risk (simulate module docstring): an unrecorded frailty / propensity effect
    # on the log emergency rate with standard deviation ``hidden_sd``, carried from year to year with
    # correlation ``hidden_persistence`` (known to the truth, never to the extracts); a year effect with
    # standard deviation ``year_effect_sd``, drawn afresh for each person and year after the as-of date
    # (what happens to a person in the coming year, which nobody - not the truth either - knows on the
    # day); and acute shocks, admissions at a rate by age alone (``shock_rate_scale`` x SHOCK_RATE).
    # Set so that the true probability's AUROC for 65+ lands where published models' ceilings are
    # (0.76-0.82 for any emergency admission in 12 months; SPARRA v4 0.80 all ages, 0.74 in its
    # oldest band; systematic reviews of community models for 65+: 0.61-0.78).
    hidden_sd: float = 0.4
    hidden_persistence: float = 0.8
    year_effect_sd: float = 0.9
    shock_rate_scale: float = 1.0
    # Activity volumes per person-year, calibrated to published_rates.csv (national statistics,
    # England, per person of the ONS mid-year population; see that file for each figure's status).
    ed_nonadmitted_base: float = 0.30
    opa_base: float = 1.25
    csds_base: float = 0.35
    # Use is concentrated: in a year most people have no community contact and a few have many (an
    # episode of district nursing or therapy), and outpatient and elective care come in courses of
    # treatment. Each person's background community, outpatient and elective rates for the year are
    # multiplied by a gamma variable with mean one and these shapes (variance 1 / shape). Assumptions;
    # the means are unchanged, so the volumes of published_rates.csv are too.
    community_episode_shape: float = 0.12
    outpatient_course_shape: float = 0.3
    elective_course_shape: float = 0.2
    # Long-term social care services ending in a year (moves, recovery, a change of service; deaths end
    # theirs too). ASC-FR 2023-24: 858,720 clients had long-term support at some time in the year, which
    # with the year-end caseload implies substantial turnover; the rate itself is an assumption.
    service_end_rate: float = 0.45
    # Long-term packages changed at the annual review (type and hours drawn afresh). Assumption: no
    # published national rate was found.
    package_change_rate: float = 0.5
    # Self-funded care-home residents whose capital falls to the upper limit (GBP 23,250: Care and
    # Support (Charging and Assessment of Resources) Regulations 2014) in a year, from when the LA funds
    # the placement. Assumption: no published national rate was found.
    self_funder_to_la_rate: float = 0.15
    share_out_of_ics_provider: float = 0.06  # activity at providers outside the ICS
    # 2022-23 PSSRU-like unit costs (Unit Costs of Health and Social Care 2023, Jones et al., PSSRU Kent)
    # and ASC-FR 2022-23 average weekly LA costs; see social_care module.
    dirt: DirtRates = field(default_factory=DirtRates)
    linkage: LinkageNoise = field(default_factory=LinkageNoise)
    # Delivery layouts (synth/acute_layouts.py): APC and OP as SUS+ in NCDR ("ncdr": tbl_Data_SEM_APCE
    # + _Diag + _Proc, tbl_Data_SEM_OPA) or HES flat files ("hes"); ECDS always as EC_Core, with the
    # separate EC_Diagnosis table when ecds_diagnosis_table is set.
    acute_layout: str = "ncdr"
    ecds_diagnosis_table: bool = False
    ecds: EcdsRecords = field(default_factory=EcdsRecords)
    cld: CldRecords = field(default_factory=CldRecords)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (dates as ISO strings)."""

        def convert(value: Any) -> Any:
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, tuple | list):
                return [convert(v) for v in value]
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            return value

        result: dict[str, Any] = convert(dataclasses.asdict(self))
        return result
