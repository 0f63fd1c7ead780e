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
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NHS_LIKE = re.compile(r"\d{3}[ -]?\d{3}[ -]?\d{4}")
WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
MASK = "**********"


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
