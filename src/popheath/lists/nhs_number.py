"""Detect values that look like a real NHS number: 10 digits passing the modulus 11 check.

NHS Data Dictionary, "NHS Number": weights 10..2 on the first nine digits; check digit =
11 - (sum mod 11), 11 -> 0, 10 -> invalid. Spaces and hyphens (``943 476 5919``) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[\s-]")


def is_valid_nhs_number(value: object) -> bool:
    """Whether ``value`` is 10 digits (ignoring spaces and hyphens) with a valid modulus 11 check digit."""
    if value is None:
        return False
    text = _SEPARATORS.sub("", str(value))
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(text[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(text[9])


# Ten digits, optionally grouped 3-3-4 by a space or hyphen, not inside a longer run of digits.
_EMBEDDED = re.compile(r"(?<![0-9])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9])")


def contains_nhs_number(value: object) -> bool:
    """Whether ``value`` is, or contains inside longer text, something that passes the NHS number check."""
    if value is None:
        return False
    return any(is_valid_nhs_number(match) for match in _EMBEDDED.findall(str(value)))


def count_nhs_like(values: Iterable[object]) -> int:
    """How many of ``values`` contain an NHS-number-like value."""
    return sum(1 for value in values if contains_nhs_number(value))
