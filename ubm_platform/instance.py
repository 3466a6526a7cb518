"""The local Dagster instance under UBM_HOME (run history, event log, schedules: SQLite)."""

from __future__ import annotations

import os
from pathlib import Path

from ubm_platform.settings import Settings

LOCAL_DAGSTER_YAML = """\
# Written by ubm_platform for the embedded default: SQLite storage in this folder.
# The repository's dagster.yaml is the PostgreSQL-backed deployment configuration.
telemetry:
  enabled: false
# One run at a time on a laptop: the DuckDB warehouse file takes one writer.
concurrency:
  runs:
    max_concurrent_runs: 1
"""


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at UBM_HOME/dagster (unless already set) and make sure it is usable."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)
    return home
