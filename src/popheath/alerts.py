"""Failure alerts: one message per failed task to the hook in settings ``[alerts]`` (a webhook, email, or both).

The DAGs' failure callback (:func:`popheath.orchestration.on_failure`) calls :func:`send`. A hook
that cannot be reached is logged and reported back, never raised: the task has already failed,
and the run-status file and the task log still say why.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage

from popheath.config import AlertSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """What failed: the DAG, its run, the task, the run's as-of date and the error's one line."""

    dag_id: str
    run_id: str
    task_id: str | None
    as_of: str | None
    message: str

    @property
    def subject(self) -> str:
        """The email subject and the webhook's ``text``."""
        return f"popheath: {self.dag_id} failed at {self.task_id or 'an unknown task'}" + (
            f" (as of {self.as_of})" if self.as_of else ""
        )


def _post(url: str, alert: Alert, timeout: float) -> None:
    body = json.dumps({"text": f"{alert.subject}: {alert.message}", **asdict(alert)}).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured hook
        response.read()


def _email(settings: AlertSettings, alert: Alert) -> None:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message.set_content(
        f"{alert.message}\n\nDAG {alert.dag_id}, run {alert.run_id}, task {alert.task_id}, as of {alert.as_of}.\n"
    )
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        password = os.environ.get(settings.smtp_password_env, "")
        if settings.smtp_username:
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)


def send(settings: AlertSettings, alert: Alert) -> list[str]:
    """Send ``alert`` to every configured hook; returns the ones that took it (``webhook``, ``email``)."""
    delivered = []
    if settings.webhook_url:
        try:
            _post(settings.webhook_url, alert, settings.timeout_seconds)
            delivered.append("webhook")
        except OSError as error:
            log.error("alert webhook %s failed: %s", settings.webhook_url, error)
    if settings.smtp_host and settings.email_to:
        try:
            _email(settings, alert)
            delivered.append("email")
        except (OSError, smtplib.SMTPException) as error:
            log.error("alert email via %s:%s failed: %s", settings.smtp_host, settings.smtp_port, error)
    return delivered
