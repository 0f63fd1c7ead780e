"""HFRS, frailty syndromes, Charlson, Elixhauser and long-term conditions in SQL: known answers, lookback edges, and
agreement with the Python reference functions (popheath.clinical.scores) on random code sets."""

import random
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from popheath.clinical import scores
from popheath.clinical.codelists import read_codelist

from .ics_builder import Ics, build, one, rows

AS_OF = date(2024, 4, 1)
IN_WINDOW = date(2023, 10, 1)


def test_charlson_hierarchy_and_duplicates(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("severe")
    ics.person("mild")
    # Moderate/severe liver disease, diabetes with complications and metastases outrank the milder forms.
    ics.episode("severe", IN_WINDOW, IN_WINDOW, ["K703", "K721", "E119", "E112", "C180", "C787"])
    ics.episode("severe", date(2023, 11, 1), date(2023, 11, 2), ["K72.1", "E11.2", "C78X"])  # duplicates
    ics.episode("mild", IN_WINDOW, IN_WINDOW, ["K703", "E119", "C180", "C180"])
    con = build(ics, tmp_path, AS_OF)
    got = {r["person_key"]: r for r in rows(con, "SELECT * FROM asof_person_scores")}
    # Charlson 1987: moderate/severe liver 3 + diabetes with complications 2 + metastatic 6.
    assert got["severe"]["charlson_score"] == 11
    # Quan 2011: 4 + 1 + 6.
    assert got["severe"]["charlson_quan_score"] == 11
    # Mild liver 1 + diabetes without complications 1 + malignancy 2 (Charlson); 2 + 0 + 2 (Quan 2011).
    assert got["mild"]["charlson_score"] == 4
    assert got["mild"]["charlson_quan_score"] == 4
    # van Walraven: metastatic cancer 12 (solid tumour dropped), diabetes complicated 0, liver disease 11
    # (K72.1), alcohol abuse 0 (K70.3).
    assert got["severe"]["elixhauser_vw"] == 23


def test_hfrs_two_year_lookback_edges_and_codes_counted_once(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2022, 4, 1), date(2022, 4, 1), ["F001"])  # exactly 2 years before: counts (7.1)
    ics.episode("p1", date(2022, 4, 2), date(2022, 4, 3), ["F009", "F00"])  # F00 again: not twice
    ics.episode("p1", date(2022, 3, 31), date(2022, 3, 31), ["G81"])  # 2 years and a day: not counted
    ics.episode("p1", date(2024, 3, 31), date(2024, 3, 31), ["W19X"])  # day before as-of: counts (3.2)
    ics.episode("p1", date(2024, 4, 1), date(2024, 4, 2), ["W10"])  # on the as-of date: not counted
    con = build(ics, tmp_path, AS_OF)
    assert float(one(con, "SELECT hfrs FROM asof_person_scores")["hfrs"]) == pytest.approx(10.3)
    cohort = one(con, "SELECT hfrs, hfrs_band FROM asof_cohort")
    assert cohort["hfrs_band"] == "intermediate"
    assert float(one(con, "SELECT hfrs FROM asof_features")["hfrs"]) == pytest.approx(10.3)


def test_frailty_syndromes_count_distinct_syndromes_in_two_years(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.person("p2")
    # Dementia and delirium are one syndrome; a fall's external cause and a history of falling another.
    ics.episode("p1", IN_WINDOW, IN_WINDOW, ["S720", "W19X", "F03", "F059", "Z9181"])
    ics.episode("p1", date(2023, 11, 1), date(2023, 11, 2), ["N390", "R32", "L892"])  # UTI is not a syndrome
    ics.episode("p1", date(2022, 3, 31), date(2022, 3, 31), ["G20"])  # 2 years and a day: not counted
    ics.episode("p2", IN_WINDOW, IN_WINDOW, ["I500", "N183"])  # no frailty syndrome
    con = build(ics, tmp_path, AS_OF)
    got = {r["person_key"]: r["frailty_syndromes"] for r in rows(con, "SELECT * FROM asof_features")}
    # cognitive impairment, falls, incontinence, pressure ulcer
    assert got == {"p1": 4, "p2": 0}


def _codes_summing_to(target: float) -> list[str]:
    table = read_codelist("ref_hfrs")
    tenths = {code: round(weight * 10) for code, weight in zip(table["code"], table["weight"], strict=True)}
    # Subset sum over the weights in tenths: reachable total -> the codes reaching it.
    reachable: dict[int, list[str]] = {0: []}
    for code in sorted(tenths):
        for total, codes in list(reachable.items()):
            reachable.setdefault(total + tenths[code], [*codes, code])
    found = reachable.get(round(target * 10))
    assert found, f"no HFRS codes sum to {target}"
    return found


@pytest.mark.parametrize(
    ("target", "band"), [(4.9, "low"), (5.0, "intermediate"), (15.0, "intermediate"), (15.1, "high")]
)
def test_hfrs_band_edges(tmp_path: Path, target: float, band: str) -> None:
    ics = Ics()
    ics.person("p1")
    codes = _codes_summing_to(target)
    ics.episode("p1", IN_WINDOW, IN_WINDOW, codes)
    con = build(ics, tmp_path, AS_OF)
    cohort = one(con, "SELECT hfrs, hfrs_band, is_frail FROM asof_cohort")
    assert float(cohort["hfrs"]) == pytest.approx(target)
    assert cohort["hfrs_band"] == band
    assert cohort["is_frail"] is (target >= 5)  # 83 years old: frail by HFRS >= 5 alone


def _random_code_sets(seed: int, people: int) -> list[tuple[str, str]]:
    """(person, raw code) pairs: listed codes, extended, dotted, X-padded, lower case, and unlisted codes."""
    rng = random.Random(seed)
    listed = sorted(
        set(read_codelist("ref_hfrs")["code"])
        | set(read_codelist("ref_charlson")["code"])
        | set(read_codelist("ref_elixhauser")["code"])
        | set(read_codelist("ref_long_term_conditions")["code"])
    )
    unlisted = ["R69", "Z000", "L989", "H269", "M796"]
    pairs = []
    for index in range(people):
        for _ in range(rng.randint(0, 14)):
            code = rng.choice(listed) if rng.random() < 0.85 else rng.choice(unlisted)
            if len(code) < 5 and rng.random() < 0.4:
                code += str(rng.randint(0, 9))
            style = rng.random()
            if style < 0.2 and len(code) > 3:
                code = f"{code[:3]}.{code[3:]}"
            elif style < 0.3 and len(code) == 3:
                code += "X"
            elif style < 0.4:
                code = code.lower()
            pairs.append((f"p{index:03d}", code))
        pairs.append((f"p{index:03d}", "R69"))  # everyone has at least one code
    return pairs


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_scores_equal_python_reference_on_random_code_sets(tmp_path: Path, seed: int) -> None:
    pairs = _random_code_sets(seed, people=60)
    ics = Ics()
    people = sorted({person for person, _ in pairs})
    for person in people:
        ics.person(person)
        codes = [code for p, code in pairs if p == person]
        # Spread the codes over two episodes, so "once per person" spans episodes.
        ics.episode(person, IN_WINDOW, IN_WINDOW, codes[::2], admission_method="11")
        ics.episode(person, date(2023, 12, 1), date(2023, 12, 2), codes[1::2] or ["R69"], admission_method="11")
    con = build(ics, tmp_path, AS_OF)
    got = pl.DataFrame(
        rows(
            con,
            "SELECT person_key AS person, CAST(hfrs AS DOUBLE) AS hfrs, charlson_score, charlson_quan_score, "
            "elixhauser_vw, long_term_conditions FROM asof_person_scores ORDER BY person_key",
        )
    )
    frame = pl.DataFrame({"person": [p for p, _ in pairs], "code": [c for _, c in pairs]})
    expected = (
        scores.hfrs(frame)
        .select("person", "hfrs")
        .join(scores.charlson(frame, "charlson").select("person", pl.col("score").alias("charlson_score")), on="person")
        .join(
            scores.charlson(frame, "quan").select("person", pl.col("score").alias("charlson_quan_score")), on="person"
        )
        .join(scores.elixhauser(frame).select("person", pl.col("score").alias("elixhauser_vw")), on="person")
        .join(scores.long_term_conditions(frame), on="person")
        .sort("person")
    )
    assert got["person"].to_list() == expected["person"].to_list()
    assert got["hfrs"].to_list() == pytest.approx(expected["hfrs"].to_list())
    for column in ("charlson_score", "charlson_quan_score", "elixhauser_vw", "long_term_conditions"):
        assert got[column].to_list() == expected[column].to_list(), column
    # The random sets are not trivial: scores vary and the hierarchies are exercised.
    assert expected["charlson_score"].n_unique() > 5 and expected["hfrs"].max() >= 5
    flags = scores.charlson(frame)
    exercised = flags.filter(
        (pl.col("mild_liver_disease") & pl.col("moderate_severe_liver_disease"))
        | (pl.col("diabetes_without_complications") & pl.col("diabetes_with_complications"))
        | (pl.col("any_malignancy") & pl.col("metastatic_solid_tumour"))
    )
    assert exercised.height >= 3
