"""Real-world dirt injected into clean extracts at configurable rates; every injection is logged.

Kinds (``truth/dirt.parquet`` column ``kind``): ``sentinel_date`` (1800-01-01 / 1801-01-01 in an end
date), ``dotted_code`` (J44.1), ``trailing_x`` (X after 3-character codes, '-' after 4-character
ones), ``lower_case``, ``unknown_code`` (a secondary diagnosis that is not ICD-10; never the primary,
so outcomes are unchanged), ``duplicate_row`` (exact copy appended), ``raw_nhs_number`` (a 10-digit
NHS number passing modulus 11 in place of the token), and for ASC-CLD records ``missing_token_client``
(every event of the client), ``missing_token`` (one event), ``moved_lsoa`` (per client),
``ethnicity_unknown``, ``ethnicity_differs``, ``death_missing``, ``death_date_shift`` (per client),
``birth_month_typo``, ``birth_year_typo``, ``transposed_year_digits``, ``sex_missing`` (per event).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

from popheath.synth.codes import UNKNOWN_CODES
from popheath.synth.params import DirtRates, LinkageNoise

SENTINELS = (date(1800, 1, 1), date(1801, 1, 1))
_SENTINEL_DAYS = np.array([(d - date(1970, 1, 1)).days for d in SENTINELS], dtype=np.int32)


def _sentinel_series(rng: np.random.Generator, height: int) -> pl.Series:
    return pl.Series(_SENTINEL_DAYS[rng.integers(0, 2, height)]).cast(pl.Date)


DIRT_SCHEMA = {"source": pl.String, "record_id": pl.String, "kind": pl.String, "column": pl.String}


def nhs_numbers(rng: np.random.Generator, count: int) -> np.ndarray:
    """Valid 10-digit NHS numbers (modulus 11 check digit; 9 digits whose check would be 10 are redrawn)."""
    found: list[np.ndarray] = []
    total = 0
    while total < count:
        digits = rng.integers(0, 10, size=(2 * count + 8, 9))
        digits[:, 0] = rng.integers(4, 8, size=digits.shape[0])  # issued numbers start 4-7 in England
        check = 11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11
        check = np.where(check == 11, 0, check)
        ok = check != 10
        numbers = np.column_stack([digits[ok], check[ok]])
        found.append(numbers)
        total += numbers.shape[0]
    stacked = np.concatenate(found)[:count]
    return np.array(["".join(map(str, row)) for row in stacked]) if count else np.array([], dtype=str)


def passes_modulus_11(value: str) -> bool:
    """NHS number check: ten digits whose weighted sum gives the check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(value[9])


def log_dirt(source: str, ids: pl.Series, kind: str, column: str) -> pl.DataFrame:
    """The truth log rows for dirt of one kind on the records ``ids``."""
    return pl.DataFrame(
        {"source": source, "record_id": ids.cast(pl.String), "kind": kind, "column": column}, schema=DIRT_SCHEMA
    )


def _pick(rng: np.random.Generator, height: int, rate: float) -> np.ndarray:
    return rng.random(height) < rate


def inject(
    frame: pl.DataFrame,
    source: str,
    id_column: str,
    token_column: str,
    code_columns: Sequence[str],
    unknown_column: str | None,
    sentinel_column: str | None,
    rates: DirtRates,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply code, date, token and duplicate dirt to one extract; return it and the log of what was done."""
    logs: list[pl.DataFrame] = []
    height = frame.height
    ids = frame[id_column]

    def mark(kind: str, rate: float, column: str) -> pl.Series:
        chosen = _pick(rng, height, rate)
        logs.append(log_dirt(source, ids.filter(pl.Series(chosen)), kind, column))
        return pl.Series(chosen)

    if code_columns:
        dotted = mark("dotted_code", rates.dotted_code, ",".join(code_columns))
        trailing = mark("trailing_x", rates.trailing_x, ",".join(code_columns))
        lower = mark("lower_case", rates.lower_case, ",".join(code_columns))
        updates = []
        for column in code_columns:
            code = pl.col(column)
            code = (
                pl.when(dotted & (code.str.len_chars() > 3))
                .then(code.str.slice(0, 3) + "." + code.str.slice(3))
                .otherwise(code)
            )
            code = (
                pl.when(trailing)
                .then(pl.when(code.str.len_chars() == 3).then(code + "X").otherwise(code + "-"))
                .otherwise(code)
            )
            code = pl.when(lower).then(code.str.to_lowercase()).otherwise(code)
            updates.append(code.alias(column))
        frame = frame.with_columns(updates)
    if unknown_column is not None:
        unknown = mark("unknown_code", rates.unknown_code, unknown_column)
        values = pl.Series(np.asarray(UNKNOWN_CODES)[rng.integers(0, len(UNKNOWN_CODES), height)])
        frame = frame.with_columns(
            pl.when(unknown).then(values).otherwise(pl.col(unknown_column)).alias(unknown_column)
        )
    if sentinel_column is not None:
        sentinel = mark("sentinel_date", rates.sentinel_date, sentinel_column)
        values = _sentinel_series(rng, height)
        frame = frame.with_columns(
            pl.when(sentinel).then(values).otherwise(pl.col(sentinel_column)).alias(sentinel_column)
        )
    raw = _pick(rng, height, rates.raw_nhs_number)
    if raw.any():
        logs.append(log_dirt(source, ids.filter(pl.Series(raw)), "raw_nhs_number", token_column))
        numbers = np.full(height, "0000000000", dtype="U10")
        numbers[raw] = nhs_numbers(rng, int(raw.sum()))
        frame = frame.with_columns(
            pl.when(pl.Series(raw)).then(pl.Series(numbers)).otherwise(pl.col(token_column)).alias(token_column)
        )
    duplicate = _pick(rng, height, rates.duplicate_row)
    if duplicate.any():
        copies = frame.filter(pl.Series(duplicate))
        logs.append(log_dirt(source, copies[id_column], "duplicate_row", "*"))
        frame = pl.concat([frame, copies])
    return frame, pl.concat(logs) if logs else pl.DataFrame(schema=DIRT_SCHEMA)


def skip_retired_ecds_code_draws(rng: np.random.Generator, height: int) -> None:
    """Advance ``rng`` as code dirt on the retired ``Der_EC_Diagnosis_ICD10`` field of ECDS did.

    ECDS has no ICD-10 field (national_formats.md 1.2), so no ECDS code dirt is injected; drawing
    what it drew (dotted, trailing X, lower case and unknown-code rows, then the unknown codes)
    keeps every later draw of the shared generator where it was, so a seed still gives the same
    simulation, and the shipped models, trained on it, stay valid.
    """
    rng.random((4, height))
    rng.integers(0, len(UNKNOWN_CODES), height)


def population_sentinels(
    frame: pl.DataFrame, rates: DirtRates, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Open registrations written with a sentinel end date instead of an empty one."""
    chosen = pl.Series(_pick(rng, frame.height, rates.sentinel_date)) & frame["Registration_End_Date"].is_null()
    values = _sentinel_series(rng, frame.height)
    log = log_dirt("population", frame["Pseudo_NHS_Number"].filter(chosen), "sentinel_date", "Registration_End_Date")
    frame = frame.with_columns(
        Registration_End_Date=pl.when(chosen).then(values).otherwise(pl.col("Registration_End_Date"))
    )
    return frame, log


def asc_noise(
    frame: pl.DataFrame,
    person: np.ndarray,
    previous_lsoa: np.ndarray,
    noise: LinkageNoise,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop tokens and perturb quasi-identifiers of ASC-CLD records (moves, typos, transpositions).

    ``person`` is the true person of each row: per-client noise (a client never traced to an NHS
    number, an LA address that differs from the GP's, the LA's ethnicity and death records) is drawn
    once per person and applies to all their events; keying errors are drawn per event.
    ``previous_lsoa`` (per person, '' for none) is the person's earlier PDS address: an LA address that
    differs from the GP's is a move the council's record lags, so it is that earlier address. Such
    clients are drawn among those PDS gives an earlier address, at the rate that keeps
    ``noise.moved_lsoa`` the share of all clients affected.
    """
    height = frame.height
    ids = frame["Event_Reference"]
    logs = []
    people = int(person.max()) + 1 if height else 0

    def log_rows(kind: str, chosen: pl.Series, column: str) -> pl.Series:
        logs.append(log_dirt("asc", ids.filter(chosen), kind, column))
        return chosen

    def mark(kind: str, rate: float, column: str) -> pl.Series:
        return log_rows(kind, pl.Series(_pick(rng, height, rate)), column)

    def client_draw(rate: float) -> pl.Series:
        return pl.Series(_pick(rng, people, rate)[person])

    def mark_client(kind: str, rate: float, column: str) -> pl.Series:
        return log_rows(kind, client_draw(rate), column)

    client_missing = mark_client("missing_token_client", noise.client_token_missing, "Der_NHS_Number_Traced_Pseudo")
    event_missing = pl.Series(_pick(rng, height, noise.event_token_missing)) & ~client_missing
    log_rows("missing_token", event_missing, "Der_NHS_Number_Traced_Pseudo")
    earlier_lsoa = previous_lsoa[:people]
    has_earlier = earlier_lsoa != ""
    clients = np.unique(person)
    share_earlier = float(has_earlier[clients].mean()) if clients.size else 0.0
    moved_rate = min(1.0, noise.moved_lsoa / share_earlier) if share_earlier > 0 else 0.0
    moved = log_rows("moved_lsoa", client_draw(moved_rate) & pl.Series(has_earlier[person]), "Der_Postcode_LSOA_Code")
    month = mark("birth_month_typo", noise.birth_month_typo, "Der_Birth_Month")
    year = mark("birth_year_typo", noise.birth_year_typo, "Der_Birth_Year")
    year_digits = pl.col("Der_Birth_Year")
    swap = mark("transposed_year_digits", noise.transposed_year_digits, "Der_Birth_Year")
    sex = mark("sex_missing", noise.sex_missing, "Gender")
    unknown_ethnicity = mark_client("ethnicity_unknown", noise.ethnicity_unknown, "Ethnicity")
    other_ethnicity = mark_client("ethnicity_differs", noise.ethnicity_differs, "Ethnicity") & ~unknown_ethnicity
    died = frame["Date_of_Death"].is_not_null()
    death_missing = log_rows("death_missing", client_draw(noise.death_missing) & died, "Date_of_Death")
    death_shift = log_rows(
        "death_date_shift",
        client_draw(noise.death_date_shift) & died & ~death_missing,
        "Date_of_Death",
    )
    new_lsoa = pl.Series(earlier_lsoa[person])
    new_month = pl.Series(rng.integers(1, 12, height)).cast(pl.Int32)
    year_step = pl.Series(np.where(rng.random(height) < 0.5, -1, 1)).cast(pl.Int32)
    swapped = (year_digits // 100) * 100 + (year_digits % 10) * 10 + (year_digits % 100) // 10
    unknown_code = pl.Series(np.where(rng.random(people) < 0.5, "Z", "99")[person])
    other_code = pl.Series(ETHNIC_CODES_FOR_NOISE[rng.integers(0, len(ETHNIC_CODES_FOR_NOISE), people)][person])
    shift_days = pl.Series(rng.integers(1, 15, people)[person]).cast(pl.Int32)
    frame = frame.with_columns(
        Der_NHS_Number_Traced_Pseudo=pl.when(client_missing | event_missing)
        .then(None)
        .otherwise(pl.col("Der_NHS_Number_Traced_Pseudo")),
        Der_Postcode_LSOA_Code=pl.when(moved).then(new_lsoa).otherwise(pl.col("Der_Postcode_LSOA_Code")),
        # another month: add 1..11 months modulo 12
        Der_Birth_Month=pl.when(month)
        .then((pl.col("Der_Birth_Month") - 1 + new_month) % 12 + 1)
        .otherwise(pl.col("Der_Birth_Month")),
        Der_Birth_Year=pl.when(year)
        .then(year_digits + year_step)
        .when(swap & (swapped <= 2025))
        .then(swapped)
        .otherwise(year_digits),
        Gender=pl.when(sex).then(pl.lit("0")).otherwise(pl.col("Gender")),
        Ethnicity=pl.when(unknown_ethnicity)
        .then(unknown_code)
        .when(other_ethnicity & (other_code != pl.col("Ethnicity")))
        .then(other_code)
        .otherwise(pl.col("Ethnicity")),
        Date_of_Death=pl.when(death_missing)
        .then(None)
        .when(death_shift)
        .then(pl.col("Date_of_Death") + pl.duration(days=pl.lit(shift_days)))
        .otherwise(pl.col("Date_of_Death")),
    )
    return frame, pl.concat(logs)


# Stated NHS 2001 ethnic categories an LA might record instead of the GP's (ETHNIC CATEGORY, NHS Data Dictionary).
ETHNIC_CODES_FOR_NOISE = np.array(list("ABCDEFGHJKLMNPRS"))
