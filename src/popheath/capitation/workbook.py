"""The Excel workbook of the published capitation tables: a cover sheet, one sheet per table, the dictionary.

Laid out after the GSS guidance on releasing statistics in spreadsheets (a cover sheet saying what,
when and in which prices; one table per sheet starting at A1 with a single header row; shorthand
words in hidden cells, never blanks). Each table sheet holds exactly the cells of its CSV file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from popheath.errors import StageError

SHEET_NAME_LIMIT = 31  # Excel's maximum sheet name length
COVER = "cover"


def _cell(value: object) -> object:
    """A cell as Excel holds it: numbers stay numbers, missing is empty, everything else is text."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value if isinstance(value, int | float | str | bool) else str(value)


def write_workbook(path: Path, title: str, cover: Mapping[str, str], sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Write ``cover`` (label, text) as the first sheet, then one sheet per frame, named as the table."""
    from openpyxl import Workbook  # optional heavy import kept inside the function
    from openpyxl.styles import Font

    long = [name for name in sheets if len(name) > SHEET_NAME_LIMIT or name == COVER]
    if long:
        raise StageError(f"{path.name}: table name(s) unusable as a sheet name: {', '.join(long)}")
    book = Workbook()
    sheet = book.active
    sheet.title = COVER
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    for label, text in cover.items():
        sheet.append([label, text])
    sheet.append(["Contents", ", ".join(sheets)])
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 120
    for name, frame in sheets.items():
        table = book.create_sheet(name)
        table.append([str(c) for c in frame.columns])
        for cell in table[1]:
            cell.font = Font(bold=True)
        for row in frame.itertuples(index=False):
            table.append([_cell(v) for v in row])
        table.freeze_panes = "A2"
    book.save(path)
    return path
