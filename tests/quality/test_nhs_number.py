import duckdb
import pytest

from popheath.quality.nhs_number import is_valid_nhs_number, mask, nhs_number_sql

# 943 476 5919 is the NHS Data Dictionary's worked example; 401 023 2137 another valid number.
VALID = ["9434765919", "4010232137", "943 476 5919", "943-476-5919"]
INVALID = ["9434765918", "943476591", "94347659190", "3F9A0C21B7D4E815", "ABCDEFGHIJ", "", None, "0000000001"]


@pytest.mark.parametrize("value", VALID)
def test_valid(value: str) -> None:
    assert is_valid_nhs_number(value)


@pytest.mark.parametrize("value", INVALID)
def test_invalid(value: str | None) -> None:
    assert not is_valid_nhs_number(value)


def test_check_digit_ten_is_invalid() -> None:
    # Prefixes whose computed check digit is 10 have no valid NHS number at all.
    prefixes = [f"{n:09d}" for n in range(200)]
    ten = [p for p in prefixes if (11 - sum(w * int(d) for w, d in zip(range(10, 1, -1), p, strict=True)) % 11) == 10]
    assert ten, "expected some prefix with check digit 10"
    assert not any(is_valid_nhs_number(p + str(d)) for p in ten for d in range(10))


def test_sql_agrees_with_python() -> None:
    con = duckdb.connect()
    values = VALID + INVALID + [f"{n:010d}" for n in range(9434765900, 9434765999)]
    got = dict(con.execute(f"SELECT v, {nhs_number_sql('v')} FROM unnest($values) t(v)", {"values": values}).fetchall())
    assert got == {v: is_valid_nhs_number(v) for v in values}
    assert con.execute(f"SELECT {nhs_number_sql('x')} FROM (SELECT 9434765919::BIGINT AS x)").fetchone() == (True,)


def test_mask() -> None:
    assert mask("9434765919") == "**********"
    assert mask("3F9A0C21B7D4E815") == "3F9A0C21B7D4E815"
    assert mask(None) is None


def test_numbers_inside_text_are_found_but_digit_runs_inside_tokens_are_not() -> None:
    from popheath.quality.nhs_number import contains_nhs_number, count_nhs_like

    assert contains_nhs_number("NHS 943 476 5919 seen")
    assert contains_nhs_number("9434765919")
    assert not contains_nhs_number("7E1502642034A8A9")  # a token holding the valid run 1502642034
    assert is_valid_nhs_number("1502642034")
    assert not contains_nhs_number("94347659190")  # eleven digits: not an NHS number
    assert not contains_nhs_number("557867.9434765919")  # decimals are numbers, not identifiers
    assert not contains_nhs_number("9434765919.5")
    assert contains_nhs_number("seen 9434765919.")  # a full stop ending a sentence
    assert count_nhs_like(["a", "9434765919", None, "x 943-476-5919"]) == 2


def test_column_rule_known_answers() -> None:
    from popheath.quality.nhs_number import MIN_TEN_DIGIT_VALUES, is_nhs_number_column

    assert MIN_TEN_DIGIT_VALUES == 10
    # Enough evidence: half or more passing is a column of NHS numbers; 1 in 11 is chance.
    assert is_nhs_number_column(1000, 1000) and is_nhs_number_column(10, 5)
    assert not is_nhs_number_column(1000, 91) and not is_nhs_number_column(10, 4)
    assert is_nhs_number_column(1000, 1000, record_key=True)  # a key of NHS numbers is still caught
    assert not is_nhs_number_column(1000, 91, record_key=True)
    # Little evidence: any passing value is quarantined, except in the record key.
    assert is_nhs_number_column(1, 1) and is_nhs_number_column(9, 1)
    assert not is_nhs_number_column(9, 1, record_key=True) and not is_nhs_number_column(3, 0)


def test_random_ten_digit_numbers_pass_about_one_in_eleven() -> None:
    import random

    rng = random.Random(1)
    numbers = [str(rng.randrange(10**9, 10**10)) for _ in range(11_000)]
    assert 900 <= sum(is_valid_nhs_number(n) for n in numbers) <= 1100


EMBEDDED = [
    "NHS 943 476 5919 seen", "ref:9434765919", "seen 9434765919.", "x 943-476-5919", "1234567890 9434765919",
    "cost,9434765919,1.5", "RXX01-9434765919", "7E1502642034A8A9", "94347659190 x", "557867.9434765919",
    "9434765919.5", "x,-12.9434765919e3", "9434765918 x", "a9434765919", "", "no number",
]  # fmt: skip


def test_embedded_sql_agrees_with_python_on_text_and_skips_bare_numbers() -> None:
    from popheath.quality.nhs_number import contains_nhs_number, embedded_nhs_number_sql, ten_digit_sql

    con = duckdb.connect()
    got = dict(
        con.execute(f"SELECT v, {embedded_nhs_number_sql('v')} FROM unnest($v) t(v)", {"v": EMBEDDED}).fetchall()
    )
    assert got == {v: contains_nhs_number(v) for v in EMBEDDED}
    assert sum(got.values()) == 7
    # A value that is only a number is left to the column rule, passing or not.
    bare = ["9434765919", " 943 476 5919 ", "9434765918"]
    query = f"SELECT {embedded_nhs_number_sql('v')}, {ten_digit_sql('v')} FROM unnest($v) t(v)"
    assert con.execute(query, {"v": bare}).fetchall() == [(False, True)] * 3


def test_mask_embedded_sql() -> None:
    from popheath.quality.nhs_number import mask_embedded_sql

    con = duckdb.connect()
    values = ["NHS 943 476 5919 seen", "call 9434765918 back", None]
    got = [r[0] for r in con.execute(f"SELECT {mask_embedded_sql('v')} FROM unnest($v) t(v)", {"v": values}).fetchall()]
    assert got == ["NHS ********** seen", "call 9434765918 back", None]
