"""Failure alerts: the DAGs' failure callback reaches a webhook and an SMTP server (both local receivers here)."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from popheath import alerts, orchestration
from popheath.config import AlertSettings


class _Webhook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT) to accept one message."""

    messages: list[tuple[str, list[str], bytes]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 sink ESMTP\r\n")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 sink\r\n")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip("<> ")
                self.wfile.write(b"250 OK\r\n")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip("<> "))
                self.wfile.write(b"250 OK\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 end with .\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.messages.append((sender, recipients, data))
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def receivers() -> Iterator[tuple[str, int]]:
    """A webhook URL and an SMTP port, both served from this process."""
    _Webhook.received, _SmtpSink.messages = [], []
    web = HTTPServer(("127.0.0.1", 0), _Webhook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (web, smtp)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{web.server_address[1]}/hook", smtp.server_address[1]
    finally:
        for server in (web, smtp):
            server.shutdown()
            server.server_close()


def _context(config_path: Path) -> dict[str, Any]:
    """What Airflow hands a failure callback, as far as the callback reads it."""
    task = SimpleNamespace(task_id="freshness", dag_id="popheath_nightly")
    return {
        "task_instance": task,
        "dag": SimpleNamespace(dag_id="popheath_nightly"),
        "run_id": "scheduled__2026-12-03T02:00:00+00:00",
        "logical_date": datetime(2026, 12, 3, 2, 0),
        "params": {},
        "exception": RuntimeError("stale data as of 2026-12-03: apc: no data since 2025-03-31 (612 days, limit 45)"),
        "var": {"value": {orchestration.CONFIG_VARIABLE: str(config_path)}},
    }


def test_a_failed_task_alerts_the_webhook_and_by_email(tmp_path: Path, receivers: tuple[str, int]) -> None:
    url, port = receivers
    config = tmp_path / "popheath.toml"
    config.write_text(
        f'[paths]\noutputs = "out"\n[alerts]\nwebhook_url = "{url}"\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
        'email_from = "popheath@ics.nhs.uk"\nemail_to = ["data.team@ics.nhs.uk", "on.call@ics.nhs.uk"]\n',
        encoding="utf-8",
    )
    orchestration.on_failure(_context(config))

    [(content_type, body)] = _Webhook.received
    assert content_type == "application/json"
    assert body == {
        "text": "popheath: popheath_nightly failed at freshness (as of 2026-12-03): freshness failed: stale data as "
        "of 2026-12-03: apc: no data since 2025-03-31 (612 days, limit 45)",
        "dag_id": "popheath_nightly",
        "run_id": "scheduled__2026-12-03T02:00:00+00:00",
        "task_id": "freshness",
        "as_of": "2026-12-03",
        "message": "freshness failed: stale data as of 2026-12-03: apc: no data since 2025-03-31 (612 days, limit 45)",
    }
    [(sender, recipients, data)] = _SmtpSink.messages
    assert (sender, recipients) == ("popheath@ics.nhs.uk", ["data.team@ics.nhs.uk", "on.call@ics.nhs.uk"])
    message = email.message_from_bytes(data)
    assert message["Subject"] == "popheath: popheath_nightly failed at freshness (as of 2026-12-03)"
    assert "apc: no data since 2025-03-31" in message.get_payload()
    status = json.loads((tmp_path / "out" / "run_status.json").read_text())["popheath_nightly"]
    assert (status["state"], status["task_id"]) == ("failed", "freshness")


def test_an_unreachable_hook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
    settings = AlertSettings(webhook_url="http://127.0.0.1:9/hook", smtp_host="127.0.0.1", smtp_port=9,
                             email_to=("a@b.c",), timeout_seconds=2)  # fmt: skip
    alert = alerts.Alert("popheath_nightly", "run", "link", None, "link failed: boom")
    assert alerts.send(settings, alert) == []
    assert "alert webhook http://127.0.0.1:9/hook failed" in caplog.text
    assert "alert email via 127.0.0.1:9 failed" in caplog.text


def test_nothing_is_sent_without_a_hook(receivers: tuple[str, int]) -> None:
    assert alerts.send(AlertSettings(), alerts.Alert("d", "r", "t", None, "m")) == []
    assert _Webhook.received == [] and _SmtpSink.messages == []


def test_a_failed_side_task_keeps_the_run_marked_failed(tmp_path: Path) -> None:
    config = tmp_path / "popheath.toml"
    config.write_text('[paths]\noutputs = "out"\n', encoding="utf-8")
    context = _context(config) | {"task_instance": SimpleNamespace(task_id="data_docs", dag_id="popheath_nightly")}
    orchestration.on_failure(context)
    orchestration.finish_run("popheath_nightly", context)
    status = json.loads((tmp_path / "out" / "run_status.json").read_text())["popheath_nightly"]
    assert (status["state"], status["task_id"]) == ("failed", "data_docs")
