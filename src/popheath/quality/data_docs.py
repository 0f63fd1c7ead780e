"""The Data Docs step's parts: read a kept sample, check GX against the SQL, and make the site work offline.

``popheath data-docs`` (:mod:`popheath.stages.data_docs`) validates each source's sample with
:class:`~popheath.quality.gx_suites.GxRunner` and renders the site. GX's pages load Bootstrap,
jQuery and fonts from CDNs and its index draws its table with that JavaScript, so offline (an NHS
network often blocks CDNs) the index is blank. After rendering, every external stylesheet, script
and image reference is removed (GX's logo is pointed at its local copy in ``static/``), a local
stylesheet is linked instead, and the index is replaced by a plain page listing each source's
validation with its counts and links.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from popheath.quality.contracts import Contract
from popheath.quality.gx_suites import ExpectationOutcome, SuiteOutcome

# Expectations over several rows have no row-level twin in the compiled SQL's ``_rules``.
NOT_ROW_RULES = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
EXTERNAL_TAG = re.compile(
    r"<(?:link|script|img|iframe|source)\b[^>]*?\b(?:href|src)\s*=\s*[\"']?(?:https?:)?//[^>]*>(?:\s*</script>)?",
    re.IGNORECASE,
)
EXTERNAL_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)
GX_LOGO = re.compile(r"<img\b[^>]*?\bsrc=\"https?://[^\"]*/logo-long\.png[^\"]*\"", re.IGNORECASE)
OFFLINE_CSS = "popheath_offline.css"
STYLE = """body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #212b32; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #d8dde0; padding: .2rem .5rem; }
th { background: #f0f4f5; text-align: left; } .cooltip .top, .d-none { display: none; }
.text-danger, .failed { color: #d5281b; } .text-success, .ok { color: #007f3b; } img { max-height: 50px; }
"""


def read_sample(
    path: Path, contract: Contract, limit: int, seed: int
) -> tuple[pd.DataFrame, dict[str, int], bool, str]:
    """A kept sample as GX's frame, the SQL's failing-row count per rule on the same rows, whether sampled, run id.

    A full reservoir (``limit`` rows) means phase A sampled; a file merged from several partitions
    is cut to ``limit`` again with the same seed. DATE columns become ``datetime.date`` values: GX
    1.x validates a date parameter such as ``max_date`` into a ``datetime.date``, and pandas
    refuses to compare its ``Timestamp`` values with one ("Cannot compare Timestamp with
    datetime.date"), so every no-future-dates expectation would crash.
    """
    con = duckdb.connect()
    try:
        source = f"read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
        total = int(con.execute(f"SELECT count(*) FROM {source}").fetchone()[0])  # type: ignore[index]
        rows = f"(SELECT * FROM {source} USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE ({int(seed)}))"
        con.execute(f"CREATE TEMP TABLE frame AS SELECT * FROM {rows if total > limit else source}")
        counts = dict(
            con.execute(
                "SELECT r, count(*) FROM (SELECT unnest(list_distinct(_rules)) AS r FROM frame) GROUP BY r"
            ).fetchall()
        )
        found = con.execute("SELECT max(_run_id) FROM frame").fetchone()
        columns = ", ".join(f'"{name}"' for name in contract.column_names)
        frame = con.execute(f"SELECT {columns} FROM frame").df()
    finally:
        con.close()
    for column in contract.columns:
        if column.type == "DATE" and column.name in frame:
            frame[column.name] = frame[column.name].dt.date.where(frame[column.name].notna(), None)
    return frame, {str(k): int(v) for k, v in counts.items()}, total >= limit, str(found[0] if found else "")


def cross_check(outcome: SuiteOutcome, sql_counts: dict[str, int]) -> list[str]:
    """GX's unexpected counts against the load's SQL on the same rows (row rules GX evaluated)."""
    warnings = []
    for item in outcome.expectations:
        if item.unexpected_count is None or item.error is not None or item.expectation_type in NOT_ROW_RULES:
            continue
        if int(item.unexpected_count) != int(sql_counts.get(item.rule, 0)):
            warnings.append(
                f"{outcome.source}: GX counts {item.unexpected_count} rows failing {item.rule}, the load's SQL "
                f"{sql_counts.get(item.rule, 0)} (check the suite's compiled form)"
            )
    return warnings


def _rows(count: int | None) -> str:
    return "rows not counted" if count is None else f"{count:,} row{'s' if count != 1 else ''}"


def describe(outcome: SuiteOutcome) -> str:
    """One line per source: rows validated, expectations met, not met (rule and rows) and not evaluated."""
    failed, crashed = outcome.failed, outcome.crashed
    met = len(outcome.expectations) - len(failed) - len(crashed)
    line = (
        f"GX {outcome.source}: validated {outcome.rows_validated:,} rows{' (a sample)' if outcome.sampled else ''}: "
        f"{met} of {len(outcome.expectations)} expectations met"
    )
    if failed:
        line += "; not met: " + ", ".join(f"{item.rule} ({_rows(item.unexpected_count)})" for item in failed)
    if crashed:
        line += f"; {len(crashed)} could not be evaluated: " + ", ".join(item.rule for item in crashed)
    return line


def crash_lines(outcome: SuiteOutcome) -> list[str]:
    """One error line per expectation GX could not evaluate."""
    return [_crash_line(outcome.source, item) for item in outcome.crashed]


def _crash_line(source: str, item: ExpectationOutcome) -> str:
    where = f" on {item.column}" if item.column else ""
    return f"{source}: expectation {item.expectation_type}{where} ({item.rule}) could not be evaluated: {item.error}"


def validation_page(site: Path, source: str) -> Path | None:
    """The newest validation page GX rendered for ``source``'s suite."""
    pages = sorted((site / "validations" / source).rglob("*.html"))
    return pages[-1] if pages else None


def make_offline(site: Path) -> list[str]:
    """Strip external stylesheet, script, image and CSS ``url()`` references from the site.

    Returns what is still external afterwards (``page: reference``), which should be nothing.
    """
    styles = site / "static" / "styles"
    styles.mkdir(parents=True, exist_ok=True)
    (styles / OFFLINE_CSS).write_text(STYLE, encoding="utf-8")
    for sheet in sorted(site.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8")
        if EXTERNAL_URL.search(text):
            sheet.write_text(EXTERNAL_URL.sub("none", text), encoding="utf-8")
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        static = Path(os.path.relpath(site / "static", page.parent)).as_posix()
        offline = GX_LOGO.sub(f'<img src="{static}/images/logo-long.png"', text)
        offline = EXTERNAL_URL.sub("none", EXTERNAL_TAG.sub("", offline))
        stylesheet = f'<link rel="stylesheet" href="{static}/styles/{OFFLINE_CSS}">'
        if stylesheet not in offline:
            offline = offline.replace("</head>", f"{stylesheet}\n</head>", 1)
        if offline != text:
            page.write_text(offline, encoding="utf-8")
    return [
        f"{path.relative_to(site)}: {reference}"
        for path in sorted(site.rglob("*"))
        if path.suffix in {".html", ".css"}
        for reference in external_references(path.read_text(encoding="utf-8"))
    ]


def write_index(site: Path, outcomes: list[SuiteOutcome], run_ids: dict[str, str]) -> Path:
    """Replace GX's script-drawn index with a plain page: per source its counts and links to GX's pages."""
    rows = []
    for outcome in outcomes:
        page = validation_page(site, outcome.source)
        suite = site / "expectations" / f"{outcome.source}.html"
        rows.append(
            {
                "outcome": outcome,
                "summary": describe(outcome),
                "crashes": crash_lines(outcome),
                "run_id": run_ids.get(outcome.source, ""),
                "validation": page.relative_to(site).as_posix() if page else None,
                "suite": suite.relative_to(site).as_posix() if suite.exists() else None,
            }
        )
    environment = Environment(loader=PackageLoader("popheath", "templates"), autoescape=select_autoescape())
    text = environment.get_template("data_docs_index.html").render(
        rows=rows, written=f"{datetime.now():%Y-%m-%d %H:%M}"
    )
    index = site / "index.html"
    index.write_text(text, encoding="utf-8")
    return index


def external_references(text: str) -> list[str]:
    """Every external resource an HTML page or stylesheet would load (tags and CSS ``url()``): none offline."""
    return [match.group(0)[:120] for pattern in (EXTERNAL_TAG, EXTERNAL_URL) for match in pattern.finditer(text)]
