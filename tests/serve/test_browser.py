"""A coordinator's session in a real headless Chromium (Debian package ``chromium``) against a live server."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from popheath import config
from popheath.lists import release
from popheath.serve import create_app
from popheath.serve.audit import AuditLog
from tests.lists.listworld import tok

from .servefixtures import TOKENS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).parents[2] / "docs" / "coordinator_page.png"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(served: config.Settings) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package (apt-get install chromium)")
def test_coordinator_logs_in_filters_opens_a_person_and_downloads(
    server: str, served: config.Settings, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
            page.goto(f"{server}/pcn/PCN1")
            assert page.url.endswith("/login")
            page.fill("#token", TOKENS["alice"][1])
            page.click("button[type=submit]")
            page.wait_for_url("**/pcn/PCN1")
            assert page.locator("#list tbody tr").count() == 4
            page.screenshot(path=str(tmp_path / "list.png"), full_page=True)
            if os.environ.get("POPHEATH_UPDATE_SCREENSHOTS"):  # refresh the README's picture on request only
                shutil.copy(tmp_path / "list.png", SCREENSHOT)

            page.select_option("select[name=practice]", "A81002")
            page.click("text=Filter")
            page.wait_for_url("**practice=A81002**")
            tokens = page.locator("#list tbody tr td:nth-child(2)").all_inner_texts()
            assert tokens == [tok(2), tok(4)]

            with page.expect_download() as download_info:
                page.click("#download")
            download = download_info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            assert download.suggested_filename == "PCN1_list_filtered_2025-04-01.csv"
            body = saved.read_bytes()
            assert body.startswith(b"\xef\xbb\xbf") and body.count(b"\r\n") == 3  # header + 2 people

            page.goto(f"{server}/pcn/PCN1")
            page.click(f"text={tok(1)}")
            page.wait_for_url(f"**/person/{tok(1)}")
            assert "Emergency admission" in page.locator("#timeline").inner_text()
            assert "frailty score 12 (moderate)" in page.locator("#person").inner_text()
            page.screenshot(path=str(tmp_path / "person.png"), full_page=True)

            response = page.goto(f"{server}/pcn/PCN2")
            assert response is not None and response.status == 403
        finally:
            browser.close()
    actions = [(e["action"], e["outcome"]) for e in AuditLog(served.serve.audit_log or Path()).read()]
    assert ("download_csv", "allowed") in actions and ("view_person", "allowed") in actions
    assert actions[-1] == ("view_list", "denied")
    current = release.current_release(release.lists_root(served.paths.outputs))
    assert current is not None


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package (apt-get install chromium)")
def test_coordinator_records_an_action_and_sees_it_on_the_next_list(
    server: str, served: config.Settings, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from popheath.stages import publish
    from tests.serve.servefixtures import AS_OF

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{server}/login")
            page.fill("#token", TOKENS["alice"][1])
            page.click("button[type=submit]")
            page.wait_for_url("**/pcn/PCN1")
            page.click(f"text={tok(3)}")
            page.wait_for_url(f"**/person/{tok(3)}")
            assert "Why this segment" in page.inner_text("#person")
            page.select_option("#feedback-action", "already_on_caseload")
            page.fill("#feedback-note", "known to the community matron")
            page.click("#feedback-save")
            page.wait_for_url(f"**/person/{tok(3)}?saved=1")
            assert "Already on caseload" in page.inner_text("#feedback-history")
            page.screenshot(path=str(tmp_path / "feedback.png"), full_page=True)

            publish.run(served, AS_OF)  # the next release
            page.goto(f"{server}/pcn/PCN1")
            row = page.locator("#list tbody tr", has_text=tok(3))
            assert "on caseload since" in row.locator("td.last-action").inner_text()
        finally:
            browser.close()
    current = release.current_release(release.lists_root(served.paths.outputs))
    assert current is not None
    text = (current.path / "pcn" / "PCN1" / "list.csv").read_text(encoding="utf-8-sig")
    assert "already_on_caseload" in text and "community matron" not in text
    actions = [e["action"] for e in AuditLog(served.serve.audit_log or Path()).read()]
    assert "record_feedback" in actions
