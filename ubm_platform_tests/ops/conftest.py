"""Fixtures of the operations tests: a small OLTP database, a vendor file for one day, the webserver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from ubm_platform import sql_files
from ubm_platform_tests.conftest import PROJECT_ROOT, free_port

DAY = "2022-01-02"
CUSTOMERS = [11, 12, 13]
REVIEWS = [
    ("r-1", 11, "A wonderful film, I loved every minute of it."),
    ("r-2", 12, "Boring and far too long."),
    ("r-3", 11, "The acting was fine, the plot less so."),
    ("r-4", 13, "Great soundtrack, great cast, would rent again!"),
]


@pytest.fixture
def oltp_dsn(pg_database):
    """An OLTP database in the platform's schema with the customers the reviews name (UBM_OLTP_DSN)."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql_files.load("seed/pagila_subset_schema.sql"))
        for cid in CUSTOMERS:
            conn.execute(
                "INSERT INTO customer (customer_id, store_id, first_name, last_name, address_id, active) "
                "VALUES (%s, 1, 'TEST', 'CUSTOMER', 1, 1)",
                (cid,),
            )
    return pg_database


def write_vendor_file(home, day: str = DAY, rows=REVIEWS) -> None:
    """The vendor's file for `day` under $UBM_HOME/landing, as it arrives."""
    landing = home / "landing" / "movie_review" / day
    landing.mkdir(parents=True, exist_ok=True)
    lines = ["review_id,cid,review_str"] + [f'{rid},{cid},"{text}"' for rid, cid, text in rows]
    (landing / "movie_review.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


class DagsterService:
    """A Dagster command-line service (`dagster-webserver`, `dagster-daemon run`) in its own process group,
    so that the code server and the run workers it starts stop with it; its output goes to log_path."""

    def __init__(self, env: dict, log_path: Path, executable: str, *arguments: str):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / executable), *arguments],
            cwd=PROJECT_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


class Webserver(DagsterService):
    """`dagster-webserver` on `code` (["-w", "workspace.yaml"] or ["-m", module]), on 127.0.0.1."""

    def __init__(self, env: dict, log_path: Path, code: list[str]):
        self.base = f"http://127.0.0.1:{free_port()}"
        super().__init__(env, log_path, "dagster-webserver", *code, "-h", "127.0.0.1", "-p", self.base.rsplit(":", 1)[1])

    def wait_until_up(self, timeout_s: float = 120) -> None:
        """Until the webserver answers and every code location has loaded (a request before that can fail)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self._locations_loaded():
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dagster-webserver did not come up:\n{self.log_path.read_text()[-4000:]}")
            time.sleep(0.3)

    def _locations_loaded(self) -> bool:
        query = ("{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
                 "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
        request = urllib.request.Request(f"{self.base}/graphql", data=json.dumps({"query": query}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            entries = json.loads(response.read())["data"]["workspaceOrError"].get("locationEntries") or []
        for entry in entries:  # loaded, but with an error instead of the definitions
            if entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]["__typename"] == "PythonError":
                raise AssertionError(f"the code location did not load: {entry['locationOrLoadError']['message']}\n"
                                     f"{self.log_path.read_text()[-4000:]}")
        return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)


class Daemon(DagsterService):
    """`dagster-daemon run` on the repository's workspace."""

    def __init__(self, env: dict, log_path: Path):
        super().__init__(env, log_path, "dagster-daemon", "run", "-w", "workspace.yaml")
