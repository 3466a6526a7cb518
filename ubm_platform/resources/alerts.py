"""Alerts: always to the log, and to a Slack-compatible webhook when UBM_ALERT_WEBHOOK_URL is set."""

from __future__ import annotations

import json
import logging
import urllib.request

from dagster import ConfigurableResource
from pydantic import Field

logger = logging.getLogger("ubm_platform.alerts")


class AlertResource(ConfigurableResource):
    webhook_url: str = Field(default="", description="Slack-compatible incoming webhook; empty: log only.")
    timeout_s: float = 10.0

    def send(self, title: str, lines: list[str]) -> bool:
        """Log the alert and post it to the webhook; True when the webhook accepted it."""
        text = "\n".join([f"*{title}*", *lines])
        logger.error(text)
        if not self.webhook_url:
            return False
        body = json.dumps({"text": text}).encode("utf-8")
        request = urllib.request.Request(
            self.webhook_url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return 200 <= response.status < 300
        except OSError as exc:  # an alert that cannot be delivered must not fail the run it reports
            logger.error(f"alert webhook unreachable: {type(exc).__name__}")
            return False
