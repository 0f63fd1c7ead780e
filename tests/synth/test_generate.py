"""Tests of the synthetic ICS generator: layout, determinism, integrity, distributions, truth and dirt."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from popheath.config import PROJECT_ROOT
from popheath.synth import cld, generate
from popheath.synth.codes import ACSC_GROUPS, UNKNOWN_CODES
from popheath.synth.dirt import passes_modulus_11
from popheath.synth.params import CldRecords, DirtRates

from .extract_files import CORE_TABLE, read, read_table, table_files

EMERGENCY_METHODS = {"21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"}
ACSC_CODES = {code for group in ACSC_GROUPS for code in group.codes}
PEOPLE = 5_000


@pytest.fixture(scope="module")
def ics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ics")
    generate.write(PEOPLE, 7, out)
    return out


def normalise(code: pl.Expr) -> pl.Expr:
    return code.str.to_uppercase().str.replace_all(r"\.", "").str.replace(r"[X\-]+$", "")


def documented_columns() -> dict[str, list[str]]:
    """Column names of the synthetic format (population) and of ASC-CLD as generated, from docs/data_model.md."""
    text = (PROJECT_ROOT / "docs" / "data_model.md").read_text(encoding="utf-8")
    section = text.split("### The synthetic format (population)", 1)[1].split("## ", 1)[0]
    columns: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| (\w+) \| (.*) \|$", line)
        if not match or match.group(1) == "source":
            continue
        names: list[str] = []
        for name in re.findall(r"`([^`]+)`", match.group(2)):
            if name.startswith("_") and names:  # `X_1` .. `_12`
                stem = names[-1].rsplit("_", 1)[0]
                names.extend(f"{stem}_{i}" for i in range(2, int(name[1:]) + 1))
            else:
                names.append(name)
        columns[match.group(1)] = names
    return columns


def test_layout_and_exact_columns(ics: Path) -> None:
    expected = documented_columns()
    for source in generate.SOURCES:
        folders = sorted(p.name for p in (ics / "raw" / source).iterdir())
        assert all(re.fullmatch(r"\d{4}-\d{2}", f) for f in folders)
        for folder in folders:
            assert (ics / "raw" / source / folder / f"{CORE_TABLE[source]}_{folder}.parquet").exists()
        if source in ("population", "asc"):  # the national layouts' headers: test_layouts.py, test_csds_tables.py
            assert read(ics, source).columns == expected[source], source
    assert sorted(p.name for p in (ics / "raw" / "population").iterdir()) == ["2025-03"]
    apc_months = sorted(p.name for p in (ics / "raw" / "apc").iterdir())
    assert apc_months[0] == "2021-04" and apc_months[-1] == "2025-03" and len(apc_months) == 48
    for name in ("risk", "asc_links", "dirt", "out_of_area", "providers"):
        assert (ics / "truth" / f"{name}.parquet").exists()
    assert (ics / "truth" / "parameters.json").exists()


def test_same_seed_same_frames_and_other_seed_differs(tmp_path: Path) -> None:
    generate.write(1_000, 3, tmp_path / "a")
    generate.write(1_000, 3, tmp_path / "b")
    generate.write(1_000, 4, tmp_path / "c")
    for source in generate.SOURCES:
        assert read(tmp_path / "a", source).equals(read(tmp_path / "b", source)), source
    for name in ("risk", "dirt", "asc_links"):
        a = pl.read_parquet(tmp_path / "a" / "truth" / f"{name}.parquet")
        assert a.equals(pl.read_parquet(tmp_path / "b" / "truth" / f"{name}.parquet")), name
    assert not read(tmp_path / "a", "population").equals(read(tmp_path / "c", "population"))


def test_tokens_are_hex_and_activity_links_to_the_spine(ics: Path) -> None:
    population = read(ics, "population")
    tokens = set(population["Pseudo_NHS_Number"])
    assert population["Pseudo_NHS_Number"].is_unique().all()
    assert all(re.fullmatch(r"[0-9A-F]{16}", t) for t in tokens)
    outside = set(pl.read_parquet(ics / "truth" / "out_of_area.parquet")["person_id"])
    assert outside and not outside & tokens
    # Activity before a PDS merger carries the superseded pseudonym (truth/person_mergers.parquet).
    superseded = set(pl.read_parquet(ics / "truth" / "person_mergers.parquet")["superseded_person_id"])
    assert superseded and not superseded & tokens
    dirt = pl.read_parquet(ics / "truth" / "dirt.parquet")
    for source, column in (("apc", "Der_Pseudo_NHS_Number"), ("ecds", "Der_Pseudo_NHS_Number"),
                           ("opa", "Der_Pseudo_NHS_Number"), ("csds", "Pseudo_NHS_Number")):  # fmt: skip
        frame = read(ics, source)
        unknown = set(frame[column]) - tokens
        raw = set(frame.filter(~pl.col(column).str.contains(r"^[0-9A-F]{16}$"))[column])
        assert unknown - raw <= outside | superseded, source
        logged = dirt.filter((pl.col("source") == source) & (pl.col("kind") == "out_of_area")).height
        assert logged == frame.unique().filter(pl.col(column).is_in(list(outside))).height, source
    asc = read(ics, "asc")
    present = asc["Der_NHS_Number_Traced_Pseudo"].drop_nulls()
    assert set(present) - tokens <= set(present.filter(~present.str.contains(r"^[0-9A-F]{16}$")))


def test_spells_and_episodes_are_consistent(ics: Path) -> None:
    apc = read(ics, "apc").unique(maintain_order=True)
    per_spell = apc.group_by("Hospital_Spell_No").agg(
        pl.col("Der_Pseudo_NHS_Number").n_unique().alias("people"),
        pl.col("Admission_Date").n_unique().alias("admissions"),
        pl.col("Episode_Number").sort().alias("numbers"),
        (pl.col("Episode_Start_Date") < pl.col("Admission_Date")).any().alias("early"),
        (pl.col("Episode_Start_Date") > pl.col("Discharge_Date")).any().alias("late"),
    )
    assert (per_spell["people"] == 1).all() and (per_spell["admissions"] == 1).all()
    assert not per_spell["early"].any() and not per_spell["late"].any()
    assert all(list(n) == list(range(1, len(n) + 1)) for n in per_spell["numbers"])
    assert (per_spell["numbers"].list.len() > 1).sum() > 0.03 * per_spell.height  # multi-episode spells exist
    assert apc.filter(pl.col("Admission_Method") == "81").height > 0  # transfers between providers
    still_in = apc.filter(pl.col("Discharge_Date").is_null())
    assert still_in.height > 0 and (still_in["Discharge_Destination"] == "98").all()
    assert (still_in["Admission_Date"] >= date(2024, 10, 1)).all()  # open spells only near the extract end
    died = apc.filter(pl.col("Discharge_Method") == "4")
    assert died.height > 0 and (died["Discharge_Destination"] == "79").all()
    providers = pl.read_parquet(ics / "truth" / "providers.parquet")
    outside = set(providers.filter(~pl.col("in_ics"))["provider_code"])
    share_outside = apc["Der_Provider_Code"].is_in(list(outside)).mean()
    assert share_outside is not None and 0.02 < float(share_outside) < 0.15  # type: ignore[arg-type]


def registered_at(population: pl.DataFrame, as_of: date) -> pl.DataFrame:
    end = pl.col("Registration_End_Date")
    return population.filter(
        (pl.col("Registration_Start_Date") <= as_of) & (end.is_null() | (end > as_of) | (end < date(1900, 1, 1)))
    ).with_columns(age=as_of.year - pl.col("Year_Of_Birth") - (pl.col("Month_Of_Birth") > as_of.month).cast(pl.Int32))


def test_population_matches_england(ics: Path) -> None:
    population = read(ics, "population")
    registered = registered_at(population, date(2023, 4, 1))
    share_65 = (registered["age"] >= 65).mean()
    assert 0.165 <= share_65 <= 0.21  # type: ignore[operator]  # ONS mid-2022: 18.6% aged 65+
    pcns = population.group_by("PCN_Code").agg(pl.col("GP_Practice_Code").n_unique(), pl.col("Place").first())
    assert population["Place"].n_unique() >= 2 and pcns.height >= 4 and (pcns["GP_Practice_Code"] >= 3).all()
    assert population["LSOA_2021"].str.contains(r"^E01\d{6}$").all()
    assert population["IMD_Decile"].is_between(1, 10).all()
    assert set(population["Ethnic_Category"]) <= set("ABCDEFGHJKLMNPRSZ") | {"99"}
    assert set(population["Gender"]) <= {"1", "2"}
    type1 = (population["Type1_Opt_Out"] == "Y").mean()
    opt_out = (population["National_Data_Opt_Out"] == "Y").mean()
    assert 0.015 < type1 < 0.04 and 0.035 < opt_out < 0.075  # type: ignore[operator]
    assert population["Date_Of_Death"].is_not_null().sum() > 0.02 * PEOPLE  # ~1% a year over 4 years
    assert (population["Registration_Start_Date"] >= date(2021, 4, 1)).sum() > 0.08 * PEOPLE
    older = registered.filter(pl.col("age") >= 85)
    care_home = (older["Care_Home_Flag"] == "Y").mean()
    # a few % to ~1 in 7 of 85+ (Census 2021); ~120 people of 85+ here, so a wide band
    assert 0.02 <= care_home <= 0.2  # type: ignore[operator]


def emergency_spells(apc: pl.DataFrame) -> pl.DataFrame:
    first = apc.unique().filter(pl.col("Episode_Number") == 1)
    return first.filter(pl.col("Admission_Method").is_in(list(EMERGENCY_METHODS))).with_columns(
        acsc=normalise(pl.col("Primary_Diagnosis_Code")).is_in(list(ACSC_CODES))
    )


def test_emergency_rates_by_age(ics: Path) -> None:
    population = read(ics, "population")
    spells = emergency_spells(read(ics, "apc"))
    rates: dict[str, list[float]] = {}
    any_85: list[float] = []
    acsc_share: list[float] = []
    for year in (2022, 2023, 2024):
        as_of = date(year, 4, 1)
        registered = registered_at(population, as_of)
        window = spells.filter(pl.col("Admission_Date").is_between(as_of, date(year + 1, 3, 31)))
        counts = window.group_by("Der_Pseudo_NHS_Number").agg(pl.len().alias("n"), pl.col("acsc").sum())
        joined = registered.join(counts, left_on="Pseudo_NHS_Number", right_on="Der_Pseudo_NHS_Number", how="left")
        joined = joined.with_columns(pl.col("n").fill_null(0), pl.col("acsc").fill_null(0))
        for name, low, high in (("18-64", 18, 65), ("65-74", 65, 75), ("75-84", 75, 85), ("85+", 85, 200)):
            band = joined.filter(pl.col("age").is_between(low, high - 1))
            rates.setdefault(name, []).append(float(band["n"].mean()))  # type: ignore[arg-type]
        old = joined.filter(pl.col("age") >= 85)
        any_85.append(float((old["n"] > 0).mean()))  # type: ignore[arg-type]
        over_65 = joined.filter(pl.col("age") >= 65)
        acsc_share.append(float(over_65["acsc"].sum()) / max(float(over_65["n"].sum()), 1.0))
    mean = {k: float(np.mean(v)) for k, v in rates.items()}
    # HES APC 2022-23: ~0.08 (18-64), ~0.15 (65-74), ~0.27 (75-84), ~0.5 (85+) emergency spells a person-year.
    assert 0.04 <= mean["18-64"] <= 0.12
    assert 0.09 <= mean["65-74"] <= 0.22
    assert 0.17 <= mean["75-84"] <= 0.40
    assert 0.32 <= mean["85+"] <= 0.85
    assert mean["18-64"] < mean["65-74"] < mean["75-84"] < mean["85+"]
    assert 0.22 <= float(np.mean(any_85)) <= 0.45  # roughly a third of people 85+ admitted in a year
    assert 0.12 <= float(np.mean(acsc_share)) <= 0.35  # ACSC ~ a fifth of emergency admissions at 65+


def test_truth_outcomes_match_the_extracts(ics: Path) -> None:
    risk = pl.read_parquet(ics / "truth" / "risk.parquet")
    dirt = pl.read_parquet(ics / "truth" / "dirt.parquet")
    assert set(risk["as_of"].unique()) == {date(2022, 4, 1), date(2023, 4, 1), date(2024, 4, 1), date(2025, 4, 1)}
    assert risk["p_emergency_admission_12m"].is_between(0, 1).all()
    assert (risk["p_acsc_admission_12m"] <= risk["p_emergency_admission_12m"]).all()
    assert risk.filter(pl.col("as_of") == date(2025, 4, 1))["emergency_admission_12m"].is_null().all()
    population = read(ics, "population")
    spells = emergency_spells(read(ics, "apc"))
    hidden = set(dirt.filter(pl.col("kind") == "raw_nhs_number", pl.col("source") == "apc")["record_id"])
    spells = spells.filter(~pl.col("APCE_Ident").cast(pl.String).is_in(list(hidden)))
    # A spell recorded under a pseudonym PDS later merged belongs to the surviving person.
    merged = pl.read_parquet(ics / "truth" / "person_mergers.parquet")
    survivor = dict(zip(merged["superseded_person_id"], merged["person_id"], strict=True))
    spells = spells.with_columns(pl.col("Der_Pseudo_NHS_Number").replace(survivor))
    for year in (2022, 2023, 2024):
        as_of = date(year, 4, 1)
        truth = risk.filter(pl.col("as_of") == as_of)
        registered = registered_at(population, as_of).filter(
            pl.col("Date_Of_Death").is_null() | (pl.col("Date_Of_Death") > as_of)
        )
        assert set(truth["person_id"]) == set(registered["Pseudo_NHS_Number"])
        window = spells.filter(pl.col("Admission_Date").is_between(as_of, date(year + 1, 3, 31)))
        counts = window.group_by("Der_Pseudo_NHS_Number").agg(pl.len().alias("n"), pl.col("acsc").sum())
        joined = truth.join(counts, left_on="person_id", right_on="Der_Pseudo_NHS_Number", how="left").fill_null(0)
        mismatched = joined.filter(
            ((pl.col("n") > 0).cast(pl.Int8) != pl.col("emergency_admission_12m"))
            | ((pl.col("acsc") > 0).cast(pl.Int8) != pl.col("acsc_admission_12m"))
        )
        assert mismatched.height <= len(hidden), as_of
        # The true probabilities are calibrated: expected and observed admissions agree.
        expected = float(truth["p_emergency_admission_12m"].sum())
        observed = float(truth["emergency_admission_12m"].sum())
        assert abs(expected - observed) < 4 * np.sqrt(expected) + 5


def test_dirt_is_present_at_the_configured_rates(ics: Path) -> None:
    rates = DirtRates()
    dirt = pl.read_parquet(ics / "truth" / "dirt.parquet")
    apc = read(ics, "apc")
    originals = apc.unique(subset="APCE_Ident").height
    for kind, rate in (("dotted_code", rates.dotted_code), ("trailing_x", rates.trailing_x),
                       ("lower_case", rates.lower_case), ("sentinel_date", rates.sentinel_date)):  # fmt: skip
        logged = dirt.filter((pl.col("source") == "apc") & (pl.col("kind") == kind)).height
        expected = rate * originals
        assert abs(logged - expected) <= 4 * np.sqrt(expected) + 2, kind
    ids = lambda kind: dirt.filter((pl.col("source") == "apc") & (pl.col("kind") == kind))["record_id"]  # noqa: E731
    dotted = apc.filter(pl.col("APCE_Ident").cast(pl.String).is_in(list(ids("dotted_code"))))
    long_codes = dotted.filter(pl.col("Primary_Diagnosis_Code").str.len_chars() > 4)
    assert long_codes.height and long_codes["Primary_Diagnosis_Code"].str.contains(r"\.").all()
    sentinel = apc.filter(pl.col("APCE_Ident").cast(pl.String).is_in(list(ids("sentinel_date"))))
    assert sentinel["Episode_End_Date"].is_in([date(1800, 1, 1), date(1801, 1, 1)]).all()
    clean = apc.filter(~pl.col("APCE_Ident").cast(pl.String).is_in(list(ids("sentinel_date"))))
    assert clean["Episode_End_Date"].drop_nulls().min() >= date(2021, 4, 1)  # type: ignore[operator]
    duplicated = apc.height - originals
    assert duplicated == ids("duplicate_row").len()
    lower = apc.filter(pl.col("APCE_Ident").cast(pl.String).is_in(list(ids("lower_case"))))
    assert lower["Primary_Diagnosis_Code"].str.contains(r"[a-z]").all()
    unknown = apc.filter(pl.col("APCE_Ident").cast(pl.String).is_in(list(ids("unknown_code"))))
    assert unknown.height and unknown["Secondary_Diagnosis_Code_1"].is_in(list(UNKNOWN_CODES)).all()
    assert dirt.filter(pl.col("source") == "population", pl.col("kind") == "sentinel_date").height > 0


def test_asc_tokens_missing_for_some_records_and_links_are_true(ics: Path) -> None:
    asc = read(ics, "asc").unique(subset="Event_Reference", keep="last")
    links = pl.read_parquet(ics / "truth" / "asc_links.parquet")
    assert set(links["event_id"]) == set(asc["Event_Reference"])
    share = asc["Der_NHS_Number_Traced_Pseudo"].is_not_null().mean()
    assert 0.78 <= share <= 0.92  # type: ignore[operator]  # configured 85%
    assert asc["Der_NHS_Number_Pseudo"].equals(asc["Der_NHS_Number_Traced_Pseudo"])
    joined = asc.join(links, left_on="Event_Reference", right_on="event_id")
    with_token = joined.filter(pl.col("Der_NHS_Number_Traced_Pseudo").str.contains(r"^[0-9A-F]{16}$"))
    assert (with_token["Der_NHS_Number_Traced_Pseudo"] == with_token["person_id"]).all()
    assert set(asc["Event_Type"]) == {"Request", "Assessment", "Service", "Review"}
    services = asc.filter(pl.col("Event_Type") == "Service")
    assert services["Unit_Cost"].is_not_null().all() and services["Cost_Frequency_Unit_Type"].is_not_null().all()
    # Release 1 wording throughout: every reporting period ends before October 2025.
    assert set(services["Service_Type"]) >= {
        "Long Term Support: Community", "Long Term Support: Residential Care", "Short Term Support: ST-Max",
        "Carer Support: Direct to Carer",
    }  # fmt: skip
    assert set(asc["Client_Type"]) == {"Service User", "Carer"}
    assert {"Weekly", "4-Weekly", "Monthly", "Hourly", "Daily", "One-off"} <= set(services["Cost_Frequency_Unit_Type"])
    dirt = pl.read_parquet(ics / "truth" / "dirt.parquet").filter(pl.col("source") == "asc")
    assert {"moved_lsoa", "birth_month_typo", "missing_token", "missing_token_client"} <= set(dirt["kind"])
    assert {"one_off_in_planned_units", "stacked_resubmission"} <= set(dirt["kind"])


def test_asc_moved_address_is_the_persons_earlier_pds_address(ics: Path) -> None:
    """An LA address that differs from the GP's is a move the council's record lags: an earlier PDS address."""
    dirt = pl.read_parquet(ics / "truth" / "dirt.parquet").filter(source="asc", kind="moved_lsoa")
    links = pl.read_parquet(ics / "truth" / "asc_links.parquet")
    moved = (
        read(ics, "asc")
        .filter(
            pl.col("Event_Reference").is_in(dirt["record_id"].implode()), pl.col("Der_Postcode_LSOA_Code").is_not_null()
        )
        .join(links, left_on=["LA_Code", "Event_Reference"], right_on=["la_code", "event_id"])
    )
    earlier = read_table(ics, "population", "PDS_Address").filter(
        pl.col("Usual Address Business Effective To Date").is_not_null()
    )
    found = moved.join(
        earlier,
        left_on=["person_id", "Der_Postcode_LSOA_Code"],
        right_on=["Pseudo NHS Number", "derCurrentyr2021LSOAofResidence_FromPostcode"],
        how="semi",
    )
    assert moved.height > 0 and found.height == moved.height


def test_asc_stacked_submissions_and_unpaid_carers(ics: Path) -> None:
    asc = read(ics, "asc")
    starts, ends = asc["Reporting_Period_Start_Date"], asc["Reporting_Period_End_Date"]
    assert (starts.dt.day() == 1).all() and (ends == ends.dt.month_end()).all()  # monthly periods
    assert (starts == ends.dt.month_start()).all()
    # A stacked event: first submitted open, later resubmitted with its end date in a later period.
    twice = asc.filter(pl.col("Event_Reference").is_duplicated()).sort("Event_Reference", "Reporting_Period_End_Date")
    versions = twice.group_by("Event_Reference", maintain_order=True).agg(
        pl.col("Event_End_Date").first().alias("first_end"),
        pl.col("Event_End_Date").last().alias("last_end"),
        pl.col("Reporting_Period_End_Date").n_unique().alias("periods"),
    )
    resubmitted = versions.filter(pl.col("periods") == 2)
    assert resubmitted.height > 0
    assert resubmitted["first_end"].is_null().all() and resubmitted["last_end"].is_not_null().all()
    # Unpaid carers: adults, other people than the clients they care for, mostly a one-off payment.
    carers = asc.filter(pl.col("Client_Type") == "Carer")
    assert carers.height > 0 and set(carers["Event_Type"]) == {"Assessment", "Service"}
    paid = carers.filter(pl.col("Event_Type") == "Service")
    assert set(paid["Cost_Frequency_Unit_Type"]) == {"One-off"} and (paid["Unit_Cost"].abs() >= 150).all()
    assert (paid["Planned_Units_Per_Week"].is_null() | (paid["Planned_Units_Per_Week"] == cld.ONE_OFF_TEXT)).all()


def test_asc_release_2_wording_and_data_lake_layout(tmp_path: Path) -> None:
    generate.write(1_000, 3, tmp_path, cld=CldRecords(layout="data_lake", release_2_from=date(2024, 4, 1)))
    files = sorted((tmp_path / "raw" / "asc").glob("*/Adult_Social_Care_CLD_*.parquet"))
    lake = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    assert lake.columns == [*cld.LAKE_NAMES.values(), "dmYearAndMonthOfBirth", "dmYearAndMonthofDeath",
                            "dmPracticeCodeFromNHSNumber"]  # fmt: skip
    release_2 = lake.filter(pl.col("Reporting Period Start Date") >= date(2024, 4, 1))
    release_1 = lake.filter(pl.col("Reporting Period Start Date") < date(2024, 4, 1))
    assert set(release_2["Client Type"]) <= {"Service user", "Unpaid carer"}
    assert set(release_1["Client Type"]) <= {"Service User", "Carer"}
    assert "Long term support: Community" in set(release_2["Service Type"])
    assert "Long term support: Community" not in set(release_1["Service Type"])
    assert lake["dmYearAndMonthOfBirth"].drop_nulls().str.contains(r"^[0-9]{4}-[0-9]{2}$").all()
    no_token = lake.filter(pl.col("Pseudo NHS Number").is_null())
    assert no_token.height > 0 and no_token["dmPracticeCodeFromNHSNumber"].is_null().all()


def test_asc_client_ids_ethnicity_and_death(ics: Path) -> None:
    asc = read(ics, "asc").unique(subset="Event_Reference", keep="last")
    links = pl.read_parquet(ics / "truth" / "asc_links.parquet")
    joined = asc.join(links, left_on="Event_Reference", right_on="event_id")
    # One client id per person per LA, never shared by two people, not the token in disguise.
    per_client = joined.group_by("LA_Code", "LA_Person_Unique_Identifier").agg(pl.col("person_id").n_unique())
    assert per_client["person_id"].max() == 1
    per_person = joined.group_by("person_id", "LA_Code").agg(pl.col("LA_Person_Unique_Identifier").n_unique())
    assert per_person["LA_Person_Unique_Identifier"].max() == 1
    assert joined["LA_Person_Unique_Identifier"].str.contains(r"^C[0-9]{7}$").all()
    # Token missingness is mostly per client: clients with every event untokened, and clients with a mix.
    by_client = joined.group_by("person_id").agg(
        events=pl.len(), missing=pl.col("Der_NHS_Number_Traced_Pseudo").is_null().sum()
    )
    all_missing = by_client.filter(pl.col("missing") == pl.col("events"), pl.col("events") > 1).height
    mixed = by_client.filter(pl.col("missing") > 0, pl.col("missing") < pl.col("events")).height
    assert all_missing > 0 and mixed > 0
    client_share = by_client.filter(pl.col("missing") == pl.col("events")).height / by_client.height
    assert 0.06 <= client_share <= 0.16  # configured 10% of clients (+ single-event clients missing per event)
    # Ethnicity: release 2 wording of NHS codes, mostly the spine's; death only before the extract end.
    spine = read(ics, "population").select(
        person_id="Pseudo_NHS_Number", spine_ethnic="Ethnic_Category", spine_death="Date_Of_Death"
    )
    both = joined.join(spine, on="person_id").with_columns(
        code=pl.col("Ethnicity").replace_strict({text: code for code, text in cld.ETHNICITY.items()})
    )
    assert set(asc["Ethnicity"].unique()) <= set(cld.ETHNICITY.values())
    agree = (both["code"] == both["spine_ethnic"]).mean()
    assert 0.75 <= agree <= 0.95  # type: ignore[operator]
    dead = both.filter(pl.col("Date_of_Death").is_not_null())
    assert dead.height > 0 and dead["Date_of_Death"].max() <= date(2025, 3, 31)  # type: ignore[operator]
    # per client, as the shift is drawn (configured 5% of clients)
    per_client = dead.group_by("person_id").agg(same=(pl.col("Date_of_Death") == pl.col("spine_death")).all())
    assert per_client["same"].mean() >= 0.8  # type: ignore[operator]
    late = dead.filter(pl.col("Event_Start_Date") > pl.col("Date_of_Death") + pl.duration(days=15))
    assert late.height == 0


def test_raw_nhs_numbers_pass_modulus_11_and_tokens_never_do(tmp_path: Path) -> None:
    generate.write(1_000, 5, tmp_path, dirt=DirtRates(raw_nhs_number=0.01))
    dirt = pl.read_parquet(tmp_path / "truth" / "dirt.parquet").filter(pl.col("kind") == "raw_nhs_number")
    assert dirt.height > 10
    opa = read(tmp_path, "opa")
    raw_ids = set(dirt.filter(pl.col("source") == "opa")["record_id"])
    raw = opa.filter(pl.col("OPA_Ident").cast(pl.String).is_in(list(raw_ids)))["Der_Pseudo_NHS_Number"]
    assert raw.len() > 0 and all(passes_modulus_11(v) for v in raw)
    tokens = opa.filter(~pl.col("OPA_Ident").cast(pl.String).is_in(list(raw_ids)))["Der_Pseudo_NHS_Number"]
    assert not any(passes_modulus_11(v) for v in tokens.unique())
    assert passes_modulus_11("9434765919") and not passes_modulus_11("9434765918")  # NHS Digital example


def test_csv_is_written_with_iso_dates_and_empty_nulls(tmp_path: Path) -> None:
    result = generate.write(500, 9, tmp_path, file_format="csv")
    assert result.stage == "synth" and result.summary["rows"]["population"] >= 500  # PDS_Person rows: versions too
    files = table_files(tmp_path, "apc", "tbl_Data_SEM_APCE", "csv")
    assert len(files) == 48
    text = files[-1].read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("APCE_Ident,Der_Pseudo_NHS_Number,Hospital_Spell_No,")
    assert re.search(r",\d{4}-\d{2}-\d{2},", text)
    procedures = table_files(tmp_path, "apc", "tbl_Data_SEM_APCE_Proc", "csv")[-1].read_text(encoding="utf-8")
    assert ",," in procedures  # empty secondary procedure positions
    person = table_files(tmp_path, "population", "PDS_Person", "csv")
    population = pl.read_csv(person[0], infer_schema_length=0)
    assert population["Pseudo NHS Number"].n_unique() >= 500
    assert population["Pseudo NHS Number"].str.contains(r"^[0-9A-F]{16}$").all()
