"""Detect raw (unpseudonymised) NHS numbers: ten digits whose tenth is the modulus-11 check digit.

The check (NHS Data Model and Dictionary, "NHS Number"): multiply the first nine digits by the
weights 10, 9, ..., 2, sum, take the remainder on division by 11 and subtract it from 11. A result
of 11 means check digit 0; a result of 10 means the number is invalid. Numbers are also accepted
in the common printed form ``943 476 5919`` (spaces or hyphens after the 3rd and 6th digit).

Pseudonymised tokens in this project are 16 upper-case hexadecimal characters
(``3F9A0C21B7D4E815``): never ten digits, so they cannot be mistaken for a raw number. A token
can contain a run of ten digits (``7E1502642034A8A9``), so the search for numbers embedded in
longer text (:func:`contains_nhs_number`) only counts a run that stands apart from letters and
digits, as a number written in a sentence does ("NHS 943 476 5919 seen").

At load, raw NHS numbers are found by column, not by cell (:func:`is_nhs_number_column`): one in
eleven random ten-digit numbers passes the check too (of the 11 possible remainders, one gives the
invalid check digit 10 and each digit 0-9 is the check digit of one), so a record key such as HES
EPIKEY, AEKEY or ATTENDKEY would lose about 9% of its rows if every passing cell were quarantined.
Per column of each file, the share of its ten-digit values that pass decides: a column of NHS
numbers passes almost always, a column of other numbers about 1 time in 11.

* At least :data:`MIN_TEN_DIGIT_VALUES` ten-digit values: the column holds NHS numbers when at
  least :data:`MIN_PASS_SHARE` of them pass (far above the 1-in-11 chance: for ten random
  numbers, five or more pass with probability below 0.1%); then every passing cell is
  quarantined, otherwise none is.
* Fewer: the evidence cannot tell the two apart. Passing cells are quarantined (a stray raw number
  among pseudonymised tokens is exactly this case), except in the source's record key column,
  which is never taken for an NHS number on so little evidence.
* Separately, every free-text or code value is searched for an NHS number embedded in longer
  text (:func:`embedded_nhs_number_sql`), whatever its column's share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NHS_LIKE = re.compile(r"\d{3}[ -]?\d{3}[ -]?\d{4}")
WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
MASK = "**********"
# The column rule (module docstring): enough ten-digit values to judge, and the share that must pass.
MIN_TEN_DIGIT_VALUES = 10
MIN_PASS_SHARE = 0.5


def is_valid_nhs_number(value: object) -> bool:
    """True when ``value`` is ten digits (optionally ``3-3-4`` spaced) passing the modulus-11 check."""
    if value is None:
        return False
    text = str(value).strip()
    if not _NHS_LIKE.fullmatch(text):
        return False
    digits = [int(character) for character in text if character.isdigit()]
    remainder = sum(weight * digit for weight, digit in zip(WEIGHTS, digits[:9], strict=True)) % 11
    check = 11 - remainder
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == digits[9]


# Ten digits, optionally grouped 3-3-4, standing apart from other letters and digits and not the
# whole or fractional part of a decimal number (557867.9978571426).
_EMBEDDED = re.compile(r"(?<![0-9A-Za-z.])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9A-Za-z]|\.[0-9])")


def contains_nhs_number(value: object) -> bool:
    """Whether ``value`` is, or contains as a separate word in longer text, a valid raw NHS number."""
    if value is None:
        return False
    return any(is_valid_nhs_number(match) for match in _EMBEDDED.findall(str(value)))


def mask_embedded(text: str) -> str:
    """``text`` with every raw NHS number in it, whole or embedded, replaced by asterisks (for error lines)."""
    return _EMBEDDED.sub(lambda match: MASK if is_valid_nhs_number(match.group(0)) else match.group(0), text)


def count_nhs_like(values: Iterable[object]) -> int:
    """How many of ``values`` contain an NHS-number-like value."""
    return sum(1 for value in values if contains_nhs_number(value))


def mask(value: object) -> str | None:
    """The value with any raw NHS number replaced by asterisks (for quarantine and logs)."""
    if value is None:
        return None
    return MASK if is_valid_nhs_number(value) else str(value)


def nhs_number_sql(expression: str) -> str:
    """A DuckDB boolean expression: true when ``expression`` (any type) is a valid raw NHS number.

    Vectorised and set-based, for quarantine at load and for "no NHS numbers in outputs" checks,
    e.g. ``SELECT count(*) FROM t WHERE {nhs_number_sql('col')}``. ``expression`` must be a column
    reference or other trusted SQL (never user input). A cheap length test runs before the regex.
    """
    text = f"trim(CAST(({expression}) AS VARCHAR))"
    digits = f"regexp_replace({text}, '[ -]', '', 'g')"
    weighted = " + ".join(
        f"{weight} * TRY_CAST(substr({digits}, {i + 1}, 1) AS INTEGER)" for i, weight in enumerate(WEIGHTS)
    )
    # 11 - remainder, with 11 -> 0; 10 stays 10 and can never equal a single digit.
    check = f"((11 - (({weighted}) % 11)) % 11)"
    # CASE (not AND) so the arithmetic only runs on values already known to be digit strings.
    return (
        f"(CASE WHEN length({text}) BETWEEN 10 AND 12 "
        f"AND regexp_full_match({text}, '[0-9]{{3}}[ -]?[0-9]{{3}}[ -]?[0-9]{{4}}') "
        f"THEN coalesce({check} = TRY_CAST(substr({digits}, 10, 1) AS INTEGER), false) ELSE false END)"
    )


def is_nhs_number_column(ten_digit: int, passing: int, record_key: bool = False) -> bool:
    """Whether a column's passing cells are quarantined, from its ten-digit and passing counts (module docstring)."""
    if ten_digit >= MIN_TEN_DIGIT_VALUES:
        return passing >= MIN_PASS_SHARE * ten_digit
    return passing > 0 and not record_key


def ten_digit_sql(expression: str) -> str:
    """A DuckDB boolean expression: ``expression`` is ten digits (optionally ``3-3-4`` spaced), pass or fail."""
    text = f"trim(CAST(({expression}) AS VARCHAR))"
    return (
        f"(length({text}) BETWEEN 10 AND 12 AND regexp_full_match({text}, '[0-9]{{3}}[ -]?[0-9]{{3}}[ -]?[0-9]{{4}}'))"
    )


def embedded_nhs_number_sql(expression: str) -> str:
    """A DuckDB boolean expression: text that holds a valid NHS number inside longer text.

    The SQL twin of :func:`contains_nhs_number` for values that are more than the number itself
    (a value that is only a number is judged by its column instead): the number stands apart from
    letters and digits (``NHS 943 476 5919 seen``, ``ref:9434765919``) and is not part of a
    decimal. RE2 has no look-around: each candidate consumes the character before it and captures
    a disqualifying character after it (a letter, digit or decimal fraction), which then fails the
    full-match check; a plain separator after it is left for the next candidate.
    """
    text = f"CAST(({expression}) AS VARCHAR)"
    candidates = (
        f"regexp_extract_all({text}, "
        "'(?:^|[^0-9A-Za-z.])([0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?:[.][0-9]|[0-9A-Za-z])?)', 1)"
    )
    found = f"len(list_filter({candidates}, lambda m: {nhs_number_sql('m')})) > 0"
    # Cheap tests first: ten digits somewhere, and more than a bare number.
    return (
        f"(CASE WHEN regexp_matches({text}, '[0-9]{{3}}[ -]?[0-9]{{3}}[ -]?[0-9]{{4}}') "
        f"AND NOT {ten_digit_sql(text)} THEN {found} ELSE false END)"
    )


def mask_embedded_sql(expression: str) -> str:
    """``expression`` as text with every ten-digit run masked when it holds an embedded NHS number."""
    text = f"CAST(({expression}) AS VARCHAR)"
    return (
        f"(CASE WHEN {embedded_nhs_number_sql(text)} "
        f"THEN regexp_replace({text}, '[0-9]{{3}}[ -]?[0-9]{{3}}[ -]?[0-9]{{4}}', '{MASK}', 'g') ELSE {text} END)"
    )


def mask_sql(expression: str) -> str:
    """``expression`` as text with any raw NHS number masked: the whole value, or each one inside longer text."""
    return f"(CASE WHEN {nhs_number_sql(expression)} THEN '{MASK}' ELSE {mask_embedded_sql(expression)} END)"
