"""Every HTML page the run writes opens offline: no stylesheet, script, image or frame from the network.

NHS networks often block CDNs; a page that pulls Bootstrap or jQuery from one shows blank. The
check reads every .html and .css file under the full run's outputs (run report, Data Docs,
link-quality charts, capitation report) with its own pattern, independent of the code that strips them.
"""

from __future__ import annotations

import re

from tests.drills.workspace import Run

# A tag that loads a resource from another host, or a CSS url() that does.
EXTERNAL = re.compile(
    r"<(link|script|img|iframe|source|embed|object)\b[^>]*\b(href|src|data)\s*=\s*[\"']?\s*(https?:)?//"
    r"|url\(\s*[\"']?\s*(https?:)?//|@import\s+[\"'](https?:)?//",
    re.IGNORECASE,
)


def test_no_output_page_loads_anything_from_the_network(ics: Run) -> None:
    outputs = ics.workspace / "outputs"
    pages = sorted(p for p in outputs.rglob("*") if p.suffix in {".html", ".css"})
    written = {str(p.relative_to(outputs)).split("/")[0] for p in pages}
    assert {"reports", "data_docs", "link", "capitation"} <= written
    offenders = {
        str(page.relative_to(outputs)): [m.group(0) for m in EXTERNAL.finditer(page.read_text(encoding="utf-8"))]
        for page in pages
    }
    assert {page: found for page, found in offenders.items() if found} == {}
