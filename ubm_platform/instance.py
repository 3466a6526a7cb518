"""The local Dagster instance under UBM_HOME (run history, event log, schedules: SQLite).

Its dagster.yaml is the repository's dagster.yaml with a header: one file says how the embedded
default's instance is configured, whether Dagster reads it from the repository (`dagster dev` there
with no DAGSTER_HOME) or from $UBM_HOME/dagster.
"""

from __future__ import annotations

import os
from pathlib import Path

from ubm_platform.settings import PROJECT_ROOT, Settings

INSTANCE_CONFIG = PROJECT_ROOT / "dagster.yaml"
# Every version of the platform began the file it wrote with this, so it knows the file is its own.
GENERATED_HEADER = "# Written by ubm_platform"
LOCAL_DAGSTER_YAML = (
    f"{GENERATED_HEADER} from the repository's dagster.yaml; replaced at the next `ubm seed`, `ubm run` or `ubm dev`.\n"
    + INSTANCE_CONFIG.read_text()
)


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at UBM_HOME/dagster (unless already set) and make sure it is usable.

    A dagster.yaml the platform wrote (this or an older version's text) is brought up to date; one
    written by someone else is theirs and left alone."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith(GENERATED_HEADER) and current != LOCAL_DAGSTER_YAML):
        config.write_text(LOCAL_DAGSTER_YAML)
    return home
