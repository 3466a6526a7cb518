"""Alerts reach a webhook (a real local HTTP server); secrets never reach what a failing run emits.

The alert sensors themselves are ticked by `dagster-daemon` on the SQLite and the PostgreSQL instance in
ubm_platform_tests/ops/test_sensor_ticks.py (which reuses the `webhook` fixture)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import DagsterInstance, materialize

from ubm_platform.defs.user_purchase.assets import user_purchase_staging
from ubm_platform.resources.alerts import AlertResource
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.warehouse import DuckDBWarehouseResource

PLANTED_PASSWORD = "Planted-S3cret-9f2c"


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_alert_posts_slack_compatible_json(webhook):
    url, received = webhook
    assert AlertResource(webhook_url=url).send("title", ["line one", "line two"])
    assert received == [{"text": "*title*\nline one\nline two"}]


def test_unreachable_webhook_does_not_raise():
    assert AlertResource(webhook_url="http://127.0.0.1:9/nothing-listens", timeout_s=2).send("t", ["x"]) is False


def test_a_password_never_appears_in_what_a_failing_run_emits(tmp_path, capfd):
    """The OLTP is unreachable: the failure names the host, and the planted password is nowhere."""
    instance = DagsterInstance.ephemeral()
    dsn = f"postgresql://ubm:{PLANTED_PASSWORD}@127.0.0.1:9/pagila"
    resources = {
        "oltp": OltpPostgresResource(dsn=dsn, connect_timeout_s=2),
        "lake": LakeIOManager(root=str(tmp_path / "lake")),
        "warehouse": DuckDBWarehouseResource(path=str(tmp_path / "w.duckdb")),
    }
    result = materialize([user_purchase_staging], partition_key="2022-01-02", resources=resources,
                         instance=instance, raise_on_error=False)
    assert not result.success
    emitted = [json.dumps(e.to_dict() if hasattr(e, "to_dict") else str(e), default=str)
               for e in instance.all_logs(result.run_id)]
    emitted.append(str(instance.get_run_by_id(result.run_id)))
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures
    # the RetryPolicy tried again (with backoff) before giving up
    assert sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events) == 3
    message = failures[-1].step_failure_data.error.to_string()
    assert "127.0.0.1" in message
    captured = capfd.readouterr()
    for text in [*emitted, message, captured.out, captured.err]:
        assert PLANTED_PASSWORD not in text
