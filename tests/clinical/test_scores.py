import pandas as pd
import polars as pl
import pytest

from popheath.clinical import scores


def frame(rows: dict[str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(person, code) for person, codes in rows.items() for code in codes],
        schema={"person": pl.Utf8, "code": pl.Utf8},
        orient="row",
    )


def by_person(result: pl.DataFrame, column: str) -> dict[str, object]:
    return dict(zip(result["person"].to_list(), result[column].to_list(), strict=True))


# ---------------------------------------------------------------- HFRS (Gilbert et al. 2018)


def test_hfrs_hand_computed_person() -> None:
    # Dementia in Alzheimer's F00 7.1 + R29 3.6 + fall W19 3.2 + head injury S00 3.2 + UTI N39 3.2 = 20.3.
    result = scores.hfrs(frame({"p": ["F00.1", "R29.6", "W19X", "S00.0", "N39.0"]}))
    assert result.to_dicts() == [{"person": "p", "hfrs": 20.3, "hfrs_band": "high"}]


def test_hfrs_counts_each_code_once_and_normalises() -> None:
    # F00 appears four ways, G81 twice: 7.1 + 4.4 = 11.5; invalid and unlisted codes add nothing.
    result = scores.hfrs(frame({"p": ["F00.1", "f001", "F00X", "F009", "G81.1", "G819", "", "I10", "ZZZ"]}))
    assert by_person(result, "hfrs") == {"p": 11.5}


@pytest.mark.parametrize(
    ("codes", "score", "band"),
    [
        (["G81", "Z91"], 4.9, "low"),  # 4.4 + 0.5
        (["G81", "Z73"], 5.0, "intermediate"),  # 4.4 + 0.6: exactly 5 is intermediate
        (["F00", "G30", "R29", "R11"], 15.0, "intermediate"),  # 7.1 + 4.0 + 3.6 + 0.3: exactly 15
        (["F00", "G30", "R29", "R11", "R50"], 15.1, "high"),  # + 0.1
        ([], 0.0, "low"),
    ],
)
def test_hfrs_band_edges(codes: list[str], score: float, band: str) -> None:
    rows = frame({"p": codes or ["I10"]})
    result = scores.hfrs(rows)
    assert by_person(result, "hfrs") == {"p": score}
    assert by_person(result, "hfrs_band") == {"p": band}


def test_hfrs_keeps_people_without_frailty_codes_and_accepts_pandas() -> None:
    data = pd.DataFrame({"patient": ["a", "b", "b"], "icd": ["I10", "R54X", None]})
    result = scores.hfrs(data, person="patient", code="icd")
    assert result.rows() == [("a", 0.0, "low"), ("b", 2.2, "low")]


def test_all_109_codes_sum_to_173_2() -> None:
    codes = scores.read_codelist("ref_hfrs")["code"].to_list()
    assert len(codes) == 109
    assert by_person(scores.hfrs(frame({"p": codes})), "hfrs") == {"p": 173.2}


# ---------------------------------------------------------------- Charlson (Quan 2005 coding)


def test_charlson_liver_hierarchy() -> None:
    result = scores.charlson(frame({"mild": ["K70.0"], "both": ["K70.0", "K70.4"], "severe": ["K72.1"]}))
    assert by_person(result, "score") == {"both": 3, "mild": 1, "severe": 3}  # Charlson 1987: mild 1, severe 3
    quan = scores.charlson(frame({"mild": ["K70.0"], "both": ["K70.0", "K70.4"], "severe": ["K72.1"]}), "quan")
    assert by_person(quan, "score") == {"both": 4, "mild": 2, "severe": 4}  # Quan 2011: mild 2, severe 4
    # The flags still show both conditions were coded.
    assert by_person(result, "mild_liver_disease")["both"] is True
    assert by_person(result, "moderate_severe_liver_disease")["both"] is True


def test_charlson_diabetes_hierarchy() -> None:
    rows = frame({"without": ["E11.9"], "with": ["E11.2"], "both": ["E11.9", "E10.4"]})
    assert by_person(scores.charlson(rows), "score") == {"both": 2, "with": 2, "without": 1}
    assert by_person(scores.charlson(rows, "quan"), "score") == {"both": 1, "with": 1, "without": 0}


def test_charlson_cancer_hierarchy() -> None:
    rows = frame({"cancer": ["C34.1"], "both": ["C34.1", "C78.0"], "lymphoma": ["C83.3"]})
    assert by_person(scores.charlson(rows), "score") == {"both": 6, "cancer": 2, "lymphoma": 2}
    assert by_person(scores.charlson(rows, "quan"), "score") == {"both": 6, "cancer": 2, "lymphoma": 2}


def test_charlson_totals_for_a_hand_made_person() -> None:
    # MI I21, CHF I50, diabetes with (E11.2) and without (E11.9) complications, lung cancer C34 with
    # metastasis C78, liver K70.0 + K70.4, HIV B20, dementia F03, COPD J44.
    codes = ["I21.9", "I50.0", "E11.2", "E11.9", "C34.9", "C78.0", "K70.0", "K70.4", "B20", "F03X", "J44.9"]
    # Charlson 1987: MI 1 + CHF 1 + diab-compl 2 + metastatic 6 + severe liver 3 + AIDS 6 + dementia 1 + CPD 1 = 21
    assert by_person(scores.charlson(frame({"p": codes})), "score") == {"p": 21}
    # Quan 2011: MI 0 + CHF 2 + diab-compl 1 + metastatic 6 + severe liver 4 + AIDS 4 + dementia 2 + CPD 1 = 20
    assert by_person(scores.charlson(frame({"p": codes}), "quan"), "score") == {"p": 20}


def test_quan_2011_maximum_is_24() -> None:
    # Quan et al. 2011: the updated index ranges 0-24.
    every_code = scores.read_codelist("ref_charlson")["code"].to_list()
    assert by_person(scores.charlson(frame({"p": every_code}), "quan"), "score") == {"p": 24}
    # Charlson 1987 with the hierarchy: 8 x 1 (minus mild liver, diabetes w/o) ... = 29
    assert by_person(scores.charlson(frame({"p": every_code})), "score") == {"p": 29}


def test_charlson_rejects_unknown_weights() -> None:
    with pytest.raises(ValueError, match="weights"):
        scores.charlson(frame({"p": ["I21"]}), weights="shmi")  # type: ignore[arg-type]


# ---------------------------------------------------------------- Elixhauser / van Walraven 2009


def test_van_walraven_known_sums() -> None:
    rows = frame(
        {
            # I11.0 flags CHF (7) and complicated hypertension (0); I10 uncomplicated (0, and dropped);
            # C78 metastatic (12) drops C34 solid tumour (4); obesity E66 -4; depression F32 -3 -> 12
            "a": ["I11.0", "I10X", "C78.0", "C34.9", "E66.9", "F32.1"],
            # K70.3 flags liver disease (11) and alcohol abuse (0); F11 drug abuse -7 -> 4
            "b": ["K70.3", "F11.2"],
            # solid tumour alone 4; diabetes complicated and uncomplicated 0; weight loss 6 -> 10
            "c": ["C18.7", "E11.9", "E11.5", "R64X"],
            "d": ["Z00.0"],
        }
    )
    result = scores.elixhauser(rows)
    assert by_person(result, "score") == {"a": 12, "b": 4, "c": 10, "d": 0}
    flags = result.filter(pl.col("person") == "a").to_dicts()[0]
    assert (
        flags["congestive_heart_failure"] and flags["hypertension_complicated"] and flags["hypertension_uncomplicated"]
    )
    assert len([c for c in result.columns if c not in ("person", "score")]) == 31


def test_long_term_conditions_counts_distinct_conditions() -> None:
    rows = frame({"p": ["I10", "I11.0", "E11.9", "E10.2", "F03", "J44.9", "J45"], "q": ["S72.0"]})
    # hypertension (I10, I11.0), heart failure (I11.0), diabetes (E11.9, E10.2), dementia, chronic pulmonary
    assert by_person(scores.long_term_conditions(rows), "long_term_conditions") == {"p": 5, "q": 0}


# ---------------------------------------------------------------- ACSC and falls rules


def test_acsc_rules() -> None:
    # NHS OF 2.3.i v1.15 Data Filter 1, each exclusion in the scope the specification states.
    angina = scores.AcscMatch("I20", "chronic", "angina", "exclude_if_procedure")
    assert scores.acsc_admission("I20.9") == (angina,)
    assert scores.acsc_admission("I20.9", procedure_codes=["K40.1"]) == ()  # primary procedure: CABG
    assert scores.acsc_admission("I20.9", procedure_codes=["U05.1", "K40.1"]) == ()  # any position (f)
    assert scores.acsc_admission("I20.9", procedure_codes=["U05.1", "Y98.1"]) == (angina,)  # U and Y not listed
    assert scores.acsc_admission("I50.0", procedure_codes=["U05.1", "K60.1"]) == ()  # any position for CHF (c)
    assert scores.acsc_admission("I10", procedure_codes=["K74.1"]) == ()  # K74 (h), valid from April 2017
    assert scores.acsc_admission("L03.1", procedure_codes=["S47.1"]) == ()  # cellulitis with skin operation
    assert scores.acsc_admission("L03.1", procedure_codes=["S06.1"]) != ()  # minor skin procedure allowed
    assert scores.acsc_admission("J20.9", ["J44.9"]) != ()  # acute bronchitis with COPD (e)
    assert scores.acsc_admission("J20.9", ["I10"]) == ()
    assert scores.acsc_admission("J18.1", ["D57.1"]) == ()  # sickle-cell exclusion (NHS Institute)
    assert scores.acsc_admission("J18.1", ["I10"]) == (
        scores.AcscMatch("J181", "vaccine_preventable", "influenza_pneumonia", "exclude_if_diagnosis"),
    )
    assert scores.acsc_admission("N39.0") == (scores.AcscMatch("N390", "acute", "pyelonephritis_kidney_uti", ""),)
    assert scores.acsc_admission("C34.1") == ()


def test_acsc_multi_group_codes() -> None:
    hepatitis_chronic = scores.AcscMatch("B181", "chronic", "chronic_viral_hepatitis_b", "exclude_if_diagnosis")
    hepatitis_vaccine = scores.AcscMatch("B181", "vaccine_preventable", "other_vaccine_preventable", "")
    assert scores.acsc_admission("B18.1") == (hepatitis_chronic, hepatitis_vaccine)
    # (a): D57 anywhere excludes the chronic group only; the vaccine-preventable group still matches.
    assert scores.acsc_admission("B18.1", ["D57.0"]) == (hepatitis_vaccine,)
    assert [m.acsc_group for m in scores.acsc_admission("G40.9")] == ["acute", "chronic"]


def test_fall_admission() -> None:
    assert scores.fall_admission("S72.00", ["I10", "W19X"]) is True
    assert scores.fall_admission("T14.0", ["W01"]) is True
    assert scores.fall_admission("S72.0", ["V43"]) is False  # transport accident, not a fall
    assert scores.fall_admission("I10", ["W19"]) is False  # primary diagnosis not an injury
    assert scores.fall_admission(None, ["W19"]) is False


def test_empty_input_gives_empty_results() -> None:
    empty = pl.DataFrame(schema={"person": pl.Utf8, "code": pl.Utf8})
    assert scores.hfrs(empty).height == 0
    assert scores.charlson(empty).columns[:2] == ["person", "score"]
    assert scores.elixhauser(empty).height == 0


def test_sql_prefix_sum_over_ref_hfrs_agrees_and_is_exact_at_band_edges() -> None:
    import duckdb

    from popheath.clinical import codelists

    con = duckdb.connect()
    codelists.load_into(con)
    rows = {"edge5": ["G81.1", "Z73.0"], "edge15": ["F00.1", "G30.9", "R29.6", "R11X"], "p": ["F00.1", "F001", "I10"]}
    data = frame(rows)
    con.register("person_codes", data.to_arrow())
    got = con.execute(
        """
        SELECT person, sum(weight)::VARCHAR
        FROM (SELECT DISTINCT c.person, h.code, h.weight
              FROM person_codes AS c JOIN ref_hfrs AS h ON starts_with(normalise_icd10(c.code), h.code))
        GROUP BY person ORDER BY person
        """
    ).fetchall()
    assert got == [("edge15", "15.0"), ("edge5", "5.0"), ("p", "7.1")]
    assert by_person(scores.hfrs(data), "hfrs") == {"edge15": 15.0, "edge5": 5.0, "p": 7.1}
