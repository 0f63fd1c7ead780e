"""ICD-10 code normalisation, identical in Python and in DuckDB SQL.

Canonical form (docs/data_model.md): upper case, no dot, no whitespace, no trailing filler ``X`` or
``-`` (HES pads three-character codes as ``I10X`` or ``I10-``), e.g. ``j44.1`` -> ``J441``,
``I10X`` -> ``I10``. Anything that is then not a letter, two digits and up to four more letters or
digits is invalid and becomes ``None`` / ``NULL``.
"""

from __future__ import annotations

import re

# Trailing fillers are stripped only after the three-character category, so "X59" stays "X59".
# Dagger/asterisk markers ("*", "+") that some extracts append are treated as fillers too.
_STRIP_PATTERN = r"^([A-Z][0-9]{2}[0-9A-Z]*?)[-X*+]*$"
_VALID_PATTERN = r"[A-Z][0-9]{2}[0-9A-Z]{0,4}"
_REMOVE_PATTERN = r"[\s.]"

_REMOVE = re.compile(_REMOVE_PATTERN)
_STRIP = re.compile(_STRIP_PATTERN)
_VALID = re.compile(_VALID_PATTERN)

#: DuckDB macro with the same rules; ``popheath.clinical.codelists.load_into`` creates it.
NORMALISE_ICD10_MACRO = f"""
CREATE OR REPLACE MACRO normalise_icd10(code) AS (
    CASE
        WHEN regexp_full_match(
            regexp_replace(upper(regexp_replace(code, '{_REMOVE_PATTERN}', '', 'g')), '{_STRIP_PATTERN}', '\\1'),
            '{_VALID_PATTERN}')
        THEN regexp_replace(upper(regexp_replace(code, '{_REMOVE_PATTERN}', '', 'g')), '{_STRIP_PATTERN}', '\\1')
    END
)
"""


def normalise_icd10(code: str | None) -> str | None:
    """Return the canonical ICD-10 code, or ``None`` for empty or invalid input."""
    if code is None:
        return None
    cleaned = _REMOVE.sub("", code).upper()
    cleaned = _STRIP.sub(r"\1", cleaned)
    return cleaned if _VALID.fullmatch(cleaned) else None


def normalise_icd10_sql(expression: str) -> str:
    """SQL expression normalising ``expression``; needs the macro (created by ``load_into``)."""
    return f"normalise_icd10({expression})"
