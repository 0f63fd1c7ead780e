"""CSDS v1.6 as the synthetic ICS writes it: each monthly delivery as the tables an ICB data lake holds.

The extracts module gives one row per care contact with its national fields (after dirt); here the
contacts get their referral, team type code, CSDS person id and submission, some are resubmitted,
and each delivery is split into the tables the ``csds`` connector reads (shared reference
national_formats.md 1.4; ncl-icb-analytics/dbt-ncl-analytics CSDS sources):

- ``CYP201CareContact``: one row per contact and submission (CARE CONTACT IDENTIFIER, the unique
  identifier as provider code + local identifier, SERVICE REQUEST IDENTIFIER, PERSON ID, ...).
- ``CYP101Referral`` and ``CYP102ServiceTypeReferredTo``: one referral per person, team type and
  provider in a financial year, in every delivery with a contact of it (a monthly submission carries
  the referrals active in its month); its team type is a national SERVICE OR TEAM TYPE REFERRED TO
  (COMMUNITY CARE) code from the connector's code list (quality/mappings/csds_team_types.csv). About
  5% of referrals were also referred to a second team that rejected them (a CYP102 row with a
  REFERRAL REJECTION DATE), so a referral can carry several team types.
- ``CYP001MPI``: the person (ethnic category, LSOA, gender) per submission; ``Bridging``: PERSON ID
  to the pseudonymised NHS number, with NCL csds.Bridging's headers (``Person_ID``,
  ``Pseudo_NHS_Number``).

Resubmissions: UNIQUE SUBMISSION ID grows with the month. About 2% of a month's contacts (with
their referral and person rows) also come in an earlier submission of the same month, stacked in
the delivery with a different duration; about 1.5% are resubmitted in the next month's delivery of
the same financial year (a later delivery replaces the earlier row on load).

The simulation's team types without a code in the code list are written as the nearest coded one
(``NEAREST_CODED``): the code list holds only the codes seen in public ICB code.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from popheath.quality.mapping import load_mapping
from popheath.synth.sampling import weighted

TEAM_CODE = "SERVICE OR TEAM TYPE REFERRED TO (COMMUNITY CARE)"
PROVIDER = "ORGANISATION IDENTIFIER (CODE OF PROVIDER)"
CONTACT_DATE = "CARE CONTACT DATE"
SUBMISSION = "UNIQUE SUBMISSION ID"
TOKEN = "Pseudo_NHS_Number"
CONTACT_ID = "UNIQUE CARE CONTACT IDENTIFIER"

CYP201_COLUMNS = [
    "CARE CONTACT IDENTIFIER", CONTACT_ID, "SERVICE REQUEST IDENTIFIER", "PERSON ID", PROVIDER, CONTACT_DATE,
    "CLINICAL CONTACT DURATION OF CARE CONTACT", "ATTENDED OR DID NOT ATTEND CODE", SUBMISSION,
]  # fmt: skip
CYP101_COLUMNS = [
    "SERVICE REQUEST IDENTIFIER", "UNIQUE SERVICE REQUEST IDENTIFIER", "PERSON ID", PROVIDER,
    "REFERRAL REQUEST RECEIVED DATE", SUBMISSION,
]  # fmt: skip
CYP102_COLUMNS = [
    "SERVICE REQUEST IDENTIFIER", TEAM_CODE, "CARE PROFESSIONAL TEAM LOCAL IDENTIFIER", "REFERRAL CLOSURE DATE",
    "REFERRAL REJECTION DATE", SUBMISSION,
]  # fmt: skip
CYP001_COLUMNS = [
    "PERSON ID", "PERSON STATED GENDER CODE", "ETHNIC CATEGORY", "LOWER SUPER OUTPUT AREA (RESIDENCE)",
    "RECORD START DATE", SUBMISSION,
]  # fmt: skip

# Simulated team types with no code in csds_team_types.csv -> the coded team type they are written as.
NEAREST_CODED = {"intermediate_care": "rapid_response", "rehabilitation": "therapy", "podiatry": "therapy"}
# Shares of the codes of one team type (therapy: NCC 2023/24 adult one-to-one contacts, physiotherapy
# 3.8M, speech and language therapy 0.8M, occupational therapy 0.5M; dietetics assumed 0.4M).
CODE_SHARES = {"26": 3.8, "33": 0.8, "23": 0.5, "58": 0.4}
STACKED_SHARE = 0.02  # contacts also in an earlier submission of their month
RESUBMITTED_SHARE = 0.015  # contacts sent again in the next month's delivery
REJECTED_TEAM_SHARE = 0.05  # referrals also referred to a team that rejected them


def team_codes() -> dict[str, list[tuple[str, float]]]:
    """Canonical team type -> its national codes with their shares, from the connector's code list."""
    listed = load_mapping("csds").for_source("csds").values["team_type"]
    by_type: dict[str, list[tuple[str, float]]] = {}
    for code, team_type in sorted(listed.items()):
        by_type.setdefault(str(team_type), []).append((code, CODE_SHARES.get(code, 1.0)))
    for team_type, nearest in NEAREST_CODED.items():
        by_type[team_type] = by_type[nearest]
    return by_type


def _identifier(prefix: str, *columns: str) -> pl.Expr:
    """A stable identifier derived from ``columns`` (the same values give the same identifier in every year)."""
    return pl.lit(prefix) + pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator="|").hash(
        seed=20
    ).cast(pl.String)


def prepare(frame: pl.DataFrame, rng: np.random.Generator, year_label: str) -> pl.DataFrame:
    """One financial year's contacts with referral, team code, person id, submission and resubmissions.

    ``frame`` has the contact fields of :data:`CYP201_COLUMNS` except the referral, person id and
    submission, plus ``Pseudo_NHS_Number``, the MPI fields and ``_team`` (the canonical team type).
    The result has a ``_delivery`` column (``YYYY-MM``).
    """
    codes = team_codes()
    frame = frame.with_columns(
        _identifier("P", TOKEN).alias("PERSON ID"),
        pl.col(CONTACT_DATE).dt.strftime("%Y-%m").alias("_delivery"),
        pl.lit(year_label).alias("_year"),
    ).with_columns(_identifier("SR", "PERSON ID", "_team", PROVIDER, "_year").alias("SERVICE REQUEST IDENTIFIER"))
    referrals = frame.group_by("SERVICE REQUEST IDENTIFIER", maintain_order=True).agg(
        pl.col("_team").first(), pl.col(CONTACT_DATE).min().alias("_first")
    )
    n = referrals.height
    team = referrals["_team"].to_numpy()
    code = np.empty(n, dtype=object)
    for team_type in np.unique(team):
        rows = team == team_type
        code[rows] = weighted(rng, tuple(codes[str(team_type)]), int(rows.sum()))
    rejected = rng.random(n) < REJECTED_TEAM_SHARE
    other = np.array([c for c, _ in codes["district_nursing"] + codes["therapy"]], dtype=object)
    second = other[rng.integers(0, other.size, n)]
    second = np.where(second == code, codes["other"][0][0], second)
    referrals = referrals.select(
        "SERVICE REQUEST IDENTIFIER",
        pl.Series(TEAM_CODE, code.astype(str)),
        pl.Series("_rejected_code", second.astype(str)).set(pl.Series(~rejected), None),
        (pl.col("_first") - pl.duration(days=pl.lit(pl.Series(rng.integers(0, 15, n))))).alias(
            "REFERRAL REQUEST RECEIVED DATE"
        ),
    )
    frame = frame.join(referrals, on="SERVICE REQUEST IDENTIFIER", how="left", maintain_order="left")
    frame = frame.with_columns(_submission(pl.col("_delivery"), pl.col(PROVIDER), final=True))
    return _resubmit(frame, rng)


def _submission(delivery: pl.Expr, provider: pl.Expr, final: bool) -> pl.Expr:
    """UNIQUE SUBMISSION ID: month, provider, and 1 for the final submission of the month (0 an earlier one)."""
    month = delivery.str.replace("-", "").cast(pl.Int64)
    provider_number = (provider.hash(seed=3) % 100).cast(pl.Int64)
    return (month * 1000 + provider_number * 10 + int(final)).alias(SUBMISSION)


def _resubmit(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Stacked earlier submissions within a month, and contacts sent again in the next month."""
    stacked = frame.filter(pl.Series(rng.random(frame.height) < STACKED_SHARE)).with_columns(
        _submission(pl.col("_delivery"), pl.col(PROVIDER), final=False),
        (pl.col("CLINICAL CONTACT DURATION OF CARE CONTACT") + 15).alias("CLINICAL CONTACT DURATION OF CARE CONTACT"),
    )
    months = sorted(frame["_delivery"].unique().to_list())
    following = dict(zip(months[:-1], months[1:], strict=True))
    chosen = pl.Series(rng.random(frame.height) < RESUBMITTED_SHARE) & frame["_delivery"].is_in(months[:-1])
    again = (
        frame.filter(chosen)
        .with_columns(pl.col("_delivery").replace_strict(following, default=None))
        .filter(pl.col("_delivery").is_not_null())
        .with_columns(_submission(pl.col("_delivery"), pl.col(PROVIDER), final=True))
    )
    return pl.concat([frame, stacked, again], how="vertical_relaxed")


def tables(part: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The files of one CSDS delivery: table name -> rows."""
    referral = part.unique(subset=["SERVICE REQUEST IDENTIFIER", SUBMISSION], keep="first", maintain_order=True)
    team_id = pl.col(PROVIDER) + pl.lit("-") + pl.col(TEAM_CODE)
    teams = referral.select(
        "SERVICE REQUEST IDENTIFIER",
        TEAM_CODE,
        team_id.alias("CARE PROFESSIONAL TEAM LOCAL IDENTIFIER"),
        pl.lit(None, dtype=pl.Date).alias("REFERRAL CLOSURE DATE"),
        pl.lit(None, dtype=pl.Date).alias("REFERRAL REJECTION DATE"),
        SUBMISSION,
    )
    rejected = referral.filter(pl.col("_rejected_code").is_not_null()).select(
        "SERVICE REQUEST IDENTIFIER",
        pl.col("_rejected_code").alias(TEAM_CODE),
        (pl.col(PROVIDER) + pl.lit("-") + pl.col("_rejected_code")).alias("CARE PROFESSIONAL TEAM LOCAL IDENTIFIER"),
        pl.lit(None, dtype=pl.Date).alias("REFERRAL CLOSURE DATE"),
        pl.col("REFERRAL REQUEST RECEIVED DATE").alias("REFERRAL REJECTION DATE"),
        SUBMISSION,
    )
    person = part.unique(subset=["PERSON ID", SUBMISSION], keep="first", maintain_order=True).with_columns(
        pl.col(CONTACT_DATE).dt.month_start().alias("RECORD START DATE")
    )
    return {
        "CYP201CareContact": part.select(CYP201_COLUMNS),
        "CYP101Referral": referral.with_columns(
            (pl.col(PROVIDER) + pl.col("SERVICE REQUEST IDENTIFIER")).alias("UNIQUE SERVICE REQUEST IDENTIFIER")
        ).select(CYP101_COLUMNS),
        "CYP102ServiceTypeReferredTo": pl.concat([teams, rejected]),
        "CYP001MPI": person.select(CYP001_COLUMNS),
        "Bridging": part.unique(subset="PERSON ID", keep="first", maintain_order=True).select(
            pl.col("PERSON ID").alias("Person_ID"), TOKEN
        ),
    }
