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
