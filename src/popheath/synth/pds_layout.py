"""The registered population as PDS reaches an ICB through the DSCRO data lake, and the files it needs beside it.

Tables and headers: ncl-icb-analytics/dbt-ncl-analytics ``models/sources/auto_data_lake_pds.yml``
(national_formats.md 1.6; read back by ``quality/mappings/pds.yaml``). From the true spine (one row
per registered person at the extract end, :func:`popheath.synth.extracts.population`) this module
writes the effective-dated history a real extract has:

* ``PDS_Person``: one current row per person; some people also have an earlier version (a record
  updated, its gender then not known), and a merged person's superseded record.
* ``PDS_Patient_Care_Practice``: registrations with moves between the ICS's practices (the next
  starts the day after the last ended, so the registration stays continuous), removals (death,
  leaving) and earlier registrations ended by a removal before the person came back.
* ``PDS_Address``: address changes (a new LSOA) and moves into a care home (a CQC location code).
* ``PDS_Person_Merger``: pseudonyms merged into another person; activity dated before the merge
  carries the superseded pseudonym (:func:`supersede_tokens`), as a record made before PDS merged
  two records does.

The rates below shape the history; they are not published figures. Every draw comes from a generator
of this module's own, seeded from the ICS seed, so the rest of the simulation is unchanged by it.
It also writes, for the reference folder, the IMD decile of each synthetic LSOA and the practice to
PCN and place file (:func:`reference_files`), and gives APC, OPA and ECDS records the person's ethnic
category (:func:`with_ethnicity`), where the link stage finds ethnicity for a PDS spine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from popheath.synth.population import NO_DATE, Organisations, People, hex_tokens

PERSON = "Pseudo NHS Number"
# Illustrative shares of the spine (not published figures).
PERSON_VERSION_SHARE = 0.10
PRACTICE_MOVE_SHARE = 0.20
EARLIER_REMOVAL_SHARE = 0.03
ADDRESS_MOVE_SHARE = 0.15
MERGER_SHARE = 0.005
# Ethnicity on SUS records: not stated / not known on some, another code on a few (recording differs).
ETHNICITY_UNKNOWN = 0.08
ETHNICITY_OTHER = 0.02
# The column each SUS table carries it in (NHS-Transformation-Unit/NCDR_Reference, commit 09cbad9).
ETHNICITY_COLUMN = {"apc": "Ethnic_Group", "opa": "Ethnic_Category", "ecds": "Ethnic_Category"}
ETHNIC_CODES = np.array(list("ABCDEFGHJKLMNPRS"))
# GP registration removal reasons (NHAIS / PDS REASON FOR REMOVAL codes, NOT VERIFIED against the PDS
# specification; the pipeline passes them through): death, embarkation (emigrated), gone away.
DEATH, EMIGRATED, GONE_AWAY = "DEA", "EMB", "CGA"
# PDS death notification status on a dead person's row (NCL's queries read any Death Status as dead).
FORMAL_DEATH_NOTICE = "2"
MARGIN_DAYS = 30  # a move, address change or merger falls at least this far inside a registration


@dataclass(frozen=True)
class Mergers:
    """People whose earlier record PDS merged into their current one: spine index, old pseudonym, merge day."""

    person: np.ndarray
    superseded: np.ndarray
    merge_day: np.ndarray

    def frame(self, people: People) -> pl.DataFrame:
        """Surviving and superseded pseudonym with the merge date (the truth of which record is whose)."""
        return pl.DataFrame(
            {
                "person_id": people.token[self.person],
                "superseded_person_id": self.superseded,
                "merged_on": pl.Series(self.merge_day).cast(pl.Date),
            }
        )


def layout_rng(seed: int) -> np.random.Generator:
    """The generator of the PDS history and APC ethnicity, apart from the simulation's (whose draws never move)."""
    return np.random.default_rng([seed, 0x5D5])


def plan_mergers(people: People, first_day: int, extract_end: int, rng: np.random.Generator) -> Mergers:
    """Choose the merged people before any activity is written (their earlier activity carries the old pseudonym)."""
    spine = np.flatnonzero(people.in_population)
    chosen = np.sort(rng.choice(spine, size=int(round(MERGER_SHARE * spine.size)), replace=False))
    start = np.maximum(people.registration_start[chosen], first_day) + MARGIN_DAYS
    end = np.minimum(people.registration_end[chosen], extract_end) - MARGIN_DAYS
    keep = end > start
    chosen, start, end = chosen[keep], start[keep], end[keep]
    merge_day = (start + rng.random(chosen.size) * (end - start)).astype(np.int32)
    candidates = hex_tokens(rng, chosen.size + 64)
    superseded = candidates[~np.isin(candidates, people.token)][: chosen.size]
    return Mergers(chosen, superseded, merge_day)


def supersede_tokens(
    frame: pl.DataFrame, token: str, date_column: str, mergers: Mergers, people: People
) -> pl.DataFrame:
    """Records of a merged person dated before the merge carry the superseded pseudonym."""
    merged = pl.DataFrame(
        {
            token: people.token[mergers.person],
            "_superseded": mergers.superseded,
            "_merged_on": pl.Series(mergers.merge_day).cast(pl.Date),
        }
    )
    joined = frame.join(merged, on=token, how="left", maintain_order="left")
    earlier = pl.col("_merged_on").is_not_null() & (pl.col(date_column) < pl.col("_merged_on"))
    return joined.with_columns(pl.when(earlier).then(pl.col("_superseded")).otherwise(pl.col(token)).alias(token)).drop(
        "_superseded", "_merged_on"
    )


def with_ethnicity(
    frame: pl.DataFrame, id_column: str, column: str, people: People, rng: np.random.Generator
) -> pl.DataFrame:
    """Activity records with the person's ethnic category in ``column``: on some Z / 99 or another code.

    Drawn once per record (``id_column``), so a duplicated row keeps its record's code.
    """
    records = frame.select(id_column, "Der_Pseudo_NHS_Number").unique(id_column, keep="first", maintain_order=True)
    known = pl.DataFrame({"Der_Pseudo_NHS_Number": people.token, "_ethnic": people.ethnic})
    records = records.join(known, on="Der_Pseudo_NHS_Number", how="left", maintain_order="left")
    draw = rng.random(records.height)
    other = ETHNIC_CODES[rng.integers(0, ETHNIC_CODES.size, records.height)]
    unknown = np.where(rng.random(records.height) < 0.5, "Z", "99")
    recorded = records["_ethnic"].fill_null("").to_numpy()
    code = np.where(
        draw < ETHNICITY_UNKNOWN, unknown, np.where(draw < ETHNICITY_UNKNOWN + ETHNICITY_OTHER, other, recorded)
    )
    coded = records.select(id_column, pl.Series(column, code).replace("", None))
    return frame.join(coded, on=id_column, how="left", maintain_order="left")


def _dates(days: np.ndarray) -> pl.Series:
    days = np.asarray(days, dtype=np.int64)
    return pl.Series(days).cast(pl.Int32).cast(pl.Date).set(pl.Series(days == NO_DATE), None)


def pds_tables(
    spine: pl.DataFrame,
    people: People,
    orgs: Organisations,
    care_home_start: np.ndarray,
    mergers: Mergers,
    extract_end: int,
    rng: np.random.Generator,
) -> dict[str, pl.DataFrame]:
    """The PDS tables of one extract from the spine (``extracts.population``: one row per spine person, in order).

    ``spine``'s Registration_End_Date may carry sentinel dirt; the open registration's To date is then
    that sentinel, as delivered.
    """
    index = np.flatnonzero(people.in_population)
    n = index.size
    token = spine["Pseudo_NHS_Number"].to_numpy()
    start = spine["Registration_Start_Date"].cast(pl.Int32).to_numpy().astype(np.int64)
    died = spine["Date_Of_Death"].is_not_null().to_numpy()
    written_end = spine["Registration_End_Date"]
    end = written_end.cast(pl.Int32).fill_null(NO_DATE).to_numpy().astype(np.int64)
    true_end = np.where(end < start, NO_DATE, end)  # a sentinel (1800, 1801) end is an open registration
    span = np.minimum(true_end, extract_end) - start

    def inside(share: float) -> tuple[np.ndarray, np.ndarray]:
        """Who (of ``share`` of the spine, with room) changes, and a day inside their registration."""
        room = span > 2 * MARGIN_DAYS
        chosen = (rng.random(n) < share) & room
        offset = rng.random(n) * np.maximum(span - 2 * MARGIN_DAYS, 1)
        return chosen, (start + MARGIN_DAYS + offset).astype(np.int64)

    practice = spine["GP_Practice_Code"].to_numpy()
    birth = people.birth_day[index].astype(np.int64)
    yearmonth = pl.Series(birth).cast(pl.Int32).cast(pl.Date).dt.strftime("%Y%m").to_numpy()
    gender = spine["Gender"].to_numpy()
    everyone = np.ones(n, dtype=bool)
    no_end = np.full(n, NO_DATE, dtype=np.int64)

    # PDS_Person: an earlier version for some (its gender then not known for half), the current row for all.
    versioned, version_day = inside(PERSON_VERSION_SHARE)
    current_from = np.where(versioned, version_day, start)
    row_of = np.searchsorted(index, mergers.person)
    current_from[row_of] = np.maximum(current_from[row_of], mergers.merge_day)
    earlier_gender = np.where(rng.random(n) < 0.5, "0", gender)
    death = spine["Date_Of_Death"]
    persons = [
        _person(token, yearmonth, gender, death, current_from, no_end, everyone),
        _person(token, yearmonth, earlier_gender, None, start, version_day - 1, versioned),
        _person(mergers.superseded, yearmonth[row_of], gender[row_of], None, start[row_of],
                mergers.merge_day.astype(np.int64) - 1, np.ones(row_of.size, dtype=bool)),
    ]  # fmt: skip

    # PDS_Patient_Care_Practice: the current or last registration; before it, for some, another
    # practice of the ICS until the day before the move; for a few, an earlier registration ended by a
    # removal before the person came back.
    moved, move_day = inside(PRACTICE_MOVE_SHARE)
    shift = rng.integers(1, orgs.practice_codes.size, n)
    position = np.searchsorted(orgs.practice_codes, practice)
    previous = orgs.practice_codes[(position + shift) % orgs.practice_codes.size]
    left = np.where(rng.random(n) < 0.5, EMIGRATED, GONE_AWAY)
    reason = np.where(true_end == NO_DATE, "", np.where(died, DEATH, left))
    away = rng.integers(90, 720, n)
    earlier_start = start - away - rng.integers(365, 3650, n)
    returned = (rng.random(n) < EARLIER_REMOVAL_SHARE) & (earlier_start > birth)
    registrations = [
        _registration(token, practice, np.where(moved, move_day, start), written_end, reason, everyone),
        _registration(token, previous, start, _dates(move_day - 1), np.full(n, ""), moved),
        _registration(token, practice, earlier_start, _dates(start - away), np.full(n, GONE_AWAY), returned),
    ]

    # PDS_Address: the current address (a care home's CQC location code for residents), and before it
    # the address the person moved from: into the care home, or an address change for some.
    in_home = spine["Care_Home_Flag"].to_numpy() == "Y"
    home_day = np.maximum(care_home_start[index].astype(np.int64), start)
    changed, change_day = inside(ADDRESS_MOVE_SHARE)
    changed = np.where(in_home, home_day > start, changed)
    change_day = np.where(in_home, home_day, change_day)
    cqc = np.char.add("1-", rng.integers(100_000_000, 999_999_999, n).astype(str))
    addresses = [
        _address(token, spine["LSOA_2021"].to_numpy(), np.where(in_home, cqc, ""), np.where(changed, change_day, start),
                 no_end, everyone),
        _address(token, orgs.lsoa_codes[rng.integers(0, orgs.lsoa_codes.size, n)], np.full(n, ""), start,
                 change_day - 1, changed),
    ]  # fmt: skip
    merger = pl.DataFrame(
        {
            PERSON: token[row_of],
            "Pseudo Superseded NHS Number": mergers.superseded,
            "Person Merger Business Effective From Date": _dates(mergers.merge_day.astype(np.int64)),
            "Person Merger Business Effective To Date": pl.Series([None] * row_of.size, dtype=pl.Date),
        }
    )
    return {
        "PDS_Person": _numbered(pl.concat(persons)),
        "PDS_Patient_Care_Practice": _numbered(pl.concat(registrations)),
        "PDS_Address": _numbered(pl.concat(addresses)),
        "PDS_Person_Merger": _numbered(merger),
    }


def _rows(columns: dict[str, Any], keep: np.ndarray) -> pl.DataFrame:
    """The rows of one table where ``keep``; an empty string in a text column is an empty field."""
    frame = pl.DataFrame(columns)
    blank = [pl.col(c).replace("", None) for c, kind in frame.schema.items() if kind == pl.String]
    return frame.with_columns(blank).filter(pl.Series(keep))


def _person(
    token: np.ndarray,
    yearmonth: np.ndarray,
    gender: np.ndarray,
    death: pl.Series | None,
    effective_from: np.ndarray,
    effective_to: np.ndarray,
    keep: np.ndarray,
) -> pl.DataFrame:
    died = death if death is not None else pl.Series([None] * token.size, dtype=pl.Date)
    status = np.where(died.is_not_null().to_numpy(), FORMAL_DEATH_NOTICE, "")
    columns = {
        PERSON: token, "YearMonth_Of_Birth": yearmonth, "Gender": gender, "Date of Death": died,
        "Death Status": status, "Person Business Effective From Date": _dates(effective_from),
        "Person Business Effective To Date": _dates(effective_to),
    }  # fmt: skip
    return _rows(columns, keep)


def _registration(
    token: np.ndarray, practice: np.ndarray, effective_from: np.ndarray, effective_to: pl.Series, reason: np.ndarray,
    keep: np.ndarray,
) -> pl.DataFrame:  # fmt: skip
    columns = {
        PERSON: token, "Primary Care Provider": practice,
        "Primary Care Provider Business Effective From Date": _dates(effective_from),
        "Primary Care Provider Business Effective To Date": effective_to, "Reason for Removal": reason,
    }  # fmt: skip
    return _rows(columns, keep)


def previous_lsoa(addresses: pl.DataFrame, people: People) -> np.ndarray:
    """Per person index, the LSOA of their latest ended PDS_Address row ('' when PDS holds no earlier address)."""
    ended = (
        addresses.filter(pl.col("Usual Address Business Effective To Date").is_not_null())
        .sort("Usual Address Business Effective To Date")
        .unique(PERSON, keep="last")
        .select(PERSON, "derCurrentyr2021LSOAofResidence_FromPostcode")
    )
    joined = pl.DataFrame({PERSON: people.token}).join(ended, on=PERSON, how="left", maintain_order="left")
    return joined["derCurrentyr2021LSOAofResidence_FromPostcode"].fill_null("").to_numpy().astype(str)


def _address(
    token: np.ndarray, lsoa: np.ndarray, care_home: np.ndarray, effective_from: np.ndarray, effective_to: np.ndarray,
    keep: np.ndarray,
) -> pl.DataFrame:  # fmt: skip
    columns = {
        PERSON: token, "derCurrentyr2021LSOAofResidence_FromPostcode": lsoa, "derCqcCareHomeCode": care_home,
        "Usual Address Business Effective From Date": _dates(effective_from),
        "Usual Address Business Effective To Date": _dates(effective_to),
    }  # fmt: skip
    return _rows(columns, keep)


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    """The table ordered by person and date, with the data lake's RowID."""
    ordered = frame.sort(PERSON, frame.columns[-2], maintain_order=True)
    return ordered.with_row_index("RowID", offset=1).with_columns(pl.col("RowID").cast(pl.Int64))


def reference_files(orgs: Organisations) -> dict[str, pl.DataFrame]:
    """The ICS's reference folder: the IMD decile of each synthetic LSOA and its practices' PCN and place.

    The LSOA codes are synthetic, so the published IMD table (clinical/codelists/imd_lsoa.csv) does not
    describe them: this file replaces it, as an ICS's own file would. The practice file has the ePCN
    "PCN Core Partner Details" columns plus Place.
    """
    pcn = orgs.practice_pcn
    return {
        "imd_lsoa.csv": pl.DataFrame({"lsoa_code": orgs.lsoa_codes, "imd_decile": orgs.lsoa_imd.astype(np.int32)}),
        "epcn_core_partner_details.csv": pl.DataFrame(
            {
                "Partner Organisation Code": orgs.practice_codes,
                "PCN Code": orgs.pcn_codes[pcn],
                "PCN Name": np.char.add(
                    np.char.add(orgs.place_names[orgs.pcn_place[pcn]], " PCN "), orgs.pcn_codes[pcn]
                ),
                "Practice to PCN Relationship Start Date": date(2019, 7, 1).isoformat(),
                "Practice to PCN Relationship End Date": pl.Series([None] * pcn.size, dtype=pl.String),
                "Place": orgs.place_names[orgs.pcn_place[pcn]],
            }
        ),
    }
