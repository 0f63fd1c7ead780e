"""How a spreadsheet reads the list CSV's person tokens: LibreOffice Calc, headless, as a coordinator would open it.

Known answers from LibreOffice 7.4 (Debian 12): a plain ``0000000000000063`` cell becomes the
number 63 and ``12345E67`` becomes 1.2345E+71, quoted or not; ``="0000000000000063"`` stays the
text 0000000000000063. Skipped where LibreOffice is not installed (apt-get install libreoffice-calc).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from popheath.lists import files

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (apt-get install libreoffice-calc)"),
]
TOKENS = ["0000000000000063", "12345E67", "00000000001E5000", "ABCDEF0123456789"]


def _convert(path: Path, to: str, folder: Path) -> Path:
    # CSV filter options: comma, double quote, UTF-8 (76), start at row 1 (what the Open dialog offers).
    subprocess.run(
        [str(SOFFICE), "--headless", f"-env:UserInstallation=file://{folder}/profile", "--infilter=CSV:44,34,76,1",
         "--convert-to", to, "--outdir", str(folder / to), str(path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return folder / to / path.with_suffix(f".{to}").name


def _cells(xlsx: Path) -> dict[str, tuple[str, str]]:
    """Cell reference -> (type, value) of the first sheet (t="str": formula text, "n": number, "s": shared string)."""
    with zipfile.ZipFile(xlsx) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    found = re.findall(r'<c r="([A-Z]+\d+)"[^>]*?t="(\w+)"[^>]*>(?:<f[^>]*>.*?</f>)?<v>([^<]*)</v>', sheet)
    return {ref: (kind, value) for ref, kind, value in found}


def test_spreadsheets_keep_tokens_as_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"person_token": TOKENS, "rank": [1, 2, 3, 4]})
    columns = (files.Column("person_token", "token", "t"), files.Column("rank", "int", "r"))
    safe, plain = tmp_path / "safe.csv", tmp_path / "plain.csv"
    files.write_csv(files.csv_frame(frame, columns), safe)
    files.write_csv(frame.astype(str), plain)

    cells = _cells(_convert(safe, "xlsx", tmp_path))
    assert [cells[f"A{row}"] for row in range(2, 6)] == [("str", token) for token in TOKENS]
    assert cells["B2"] == ("n", "1")  # numbers stay numbers
    unsafe = _cells(_convert(plain, "xlsx", tmp_path))
    assert unsafe["A2"] == ("n", "63") and unsafe["A3"][0] == "n"  # what the wrapping prevents

    # Saved back to CSV by the spreadsheet: plain tokens, which read_csv reads the same.
    back = _convert(tmp_path / "xlsx" / "safe.xlsx", "csv", tmp_path)
    text = back.read_bytes().decode("utf-8-sig")
    assert "0000000000000063" in text and '="' not in text
    reread = pd.read_csv(back, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert [files.unwrap_text(cell) for cell in reread["person_token"]] == TOKENS
