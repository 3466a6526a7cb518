"""Platform settings read from the environment, in one place.

Every knob is an environment variable (documented in README.md). Defaults make the embedded
default work on a laptop with nothing configured.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
SPARK_JOBS_DIR = PROJECT_ROOT / "spark_jobs"

DEFAULT_PARTITION_START = "2022-01-01"


class SettingsError(ValueError):
    """A setting has a value the platform cannot use."""


def parse_day(value: str, what: str = "date") -> dt.date:
    """Parse a YYYY-MM-DD day; partition keys go through this before reaching SQL or paths."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be a date as YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    landing: str
    partition: str  # daily | hourly (UBM_PARTITION)
    partition_start: str
    oltp_dsn_set: bool
    training_data: str | None

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.home / "oltp-pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def load_settings() -> Settings:
    env = os.environ.get("UBM_ENV", "local").strip() or "local"
    if env not in ("local", "aws"):
        raise SettingsError(f"UBM_ENV must be 'local' or 'aws', got {env!r}")
    home = Path(os.environ.get("UBM_HOME") or PROJECT_ROOT / ".ubm").expanduser().resolve()
    landing = os.environ.get("UBM_LANDING") or str(home / "landing")
    start = os.environ.get("UBM_PARTITION_START") or DEFAULT_PARTITION_START
    parse_day(start, "UBM_PARTITION_START")
    partition = (os.environ.get("UBM_PARTITION") or "daily").strip().lower()
    if partition not in ("daily", "hourly"):
        raise SettingsError(f"UBM_PARTITION must be 'daily' or 'hourly', got {partition!r}")
    return Settings(
        env=env,
        home=home,
        landing=landing,
        partition=partition,
        partition_start=start,
        oltp_dsn_set=bool(os.environ.get("UBM_OLTP_DSN")),
        training_data=os.environ.get("UBM_TRAINING_DATA") or None,
    )
