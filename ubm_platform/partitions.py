"""The platform's partitioning: one partition per UTC day (the default) or per UTC hour.

`UBM_PARTITION=daily|hourly` picks the granularity. Everything that depends on it is derived here
from a partition key, so the assets never parse keys themselves:
- the key's time window (what extraction selects),
- its lake path, Hive style: `insert_date=<YYYY-MM-DD>` or `insert_date=<YYYY-MM-DD>/insert_hour=<HH>`,
- the vendor file it expects: `movie_review/<YYYY-MM-DD>/movie_review.csv` or `.../<HH>/movie_review.csv`,
- the partition columns of the warehouse SQL (`{{partition_*}}` fragments, see sql_files.render):
  `insert_date DATE`, plus `insert_hour SMALLINT` when hourly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta

from dagster import DailyPartitionsDefinition, FreshnessPolicy, HourlyPartitionsDefinition

from ubm_platform.settings import SettingsError, load_settings

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Granularity:
    name: str
    step: timedelta
    key_format: str  # Dagster's partition key format
    columns: tuple[tuple[str, str], ...]  # (partition column, SQL type), outermost first

    def definition(self, start: str):
        if self.name == "hourly":
            return HourlyPartitionsDefinition(start_date=f"{start}-00:00", timezone="UTC", fmt=self.key_format)
        return DailyPartitionsDefinition(start_date=start, timezone="UTC", fmt=self.key_format)

    def window(self, key: str) -> "PartitionWindow":
        """The window of a partition key; a key of the other granularity (or any other text) is refused."""
        try:
            start = dt.datetime.strptime(key, self.key_format).replace(tzinfo=UTC)
        except (TypeError, ValueError):
            example = dt.datetime(2022, 1, 1, 5).strftime(self.key_format)
            raise SettingsError(
                f"partition key {key!r} is not a {self.name} key like {example!r} (UBM_PARTITION={self.name})"
            ) from None
        return PartitionWindow(key, start, start + self.step, self)

    def keys_between(self, first_day: dt.date, last_day: dt.date) -> list[str]:
        """Every partition key of the days first_day..last_day (both included)."""
        start = dt.datetime.combine(first_day, dt.time(), tzinfo=UTC)
        end = dt.datetime.combine(last_day + timedelta(days=1), dt.time(), tzinfo=UTC)
        count = int((end - start) / self.step)
        return [(start + i * self.step).strftime(self.key_format) for i in range(count)]

    def key_for_landing_folder(self, folder: str) -> str | None:
        """The partition key whose vendor file goes in `folder` (2022-01-01, or 2022-01-01/05 hourly), else None."""
        parts = folder.split("/")
        if len(parts) != len(self.columns):
            return None
        try:
            start = dt.datetime.strptime(" ".join(parts), " ".join(["%Y-%m-%d", "%H"][: len(parts)]))
        except ValueError:
            return None
        key = start.strftime(self.key_format)
        return key if self.window(key).landing_folder == folder else None  # "2022-1-1" is not a vendor folder

    def sql_fragments(self) -> dict[str, str]:
        """The `{{partition_*}}` fragments the warehouse SQL files are rendered with.

        Built from the fixed column list above, never from data; values always travel as bound
        parameters named like the columns (`:insert_date`, `:insert_hour`)."""
        return {
            "partition_columns": ", ".join(name for name, _ in self.columns),
            "partition_columns_ddl": ", ".join(f"{name} {sql_type} NOT NULL" for name, sql_type in self.columns),
            "partition_columns_typed": ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns),
            "partition_values": ", ".join(f"CAST(:{name} AS {sql_type})" for name, sql_type in self.columns),
            "partition_filter": " AND ".join(f"{name} = CAST(:{name} AS {sql_type})" for name, sql_type in self.columns),
            "partition_glob": self.path_glob,
        }

    @property
    def path_glob(self) -> str:
        """Every partition's directory under a dataset: insert_date=*[/insert_hour=*]."""
        return "/".join(f"{name}=*" for name, _ in self.columns)


DAILY = Granularity("daily", timedelta(days=1), "%Y-%m-%d", (("insert_date", "DATE"),))
HOURLY = Granularity(
    "hourly", timedelta(hours=1), "%Y-%m-%d-%H:%M", (("insert_date", "DATE"), ("insert_hour", "SMALLINT"))
)
GRANULARITIES = {g.name: g for g in (DAILY, HOURLY)}
# The run tags of one partition's run and of a single-run backfill's range, as Dagster's UI and CLI set
# them (dagster exports no public constant for them).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class PartitionWindow:
    """One partition: its Dagster key and the UTC window [start, end) it covers."""

    key: str
    start: dt.datetime
    end: dt.datetime
    granularity: Granularity

    @property
    def insert_date(self) -> str:
        return self.start.date().isoformat()

    @property
    def values(self) -> dict[str, str]:
        """Partition column -> its value as written in paths: {'insert_date': '2022-01-01', 'insert_hour': '05'}."""
        values = {"insert_date": self.insert_date, "insert_hour": f"{self.start.hour:02d}"}
        return {name: values[name] for name, _ in self.granularity.columns}

    @property
    def path(self) -> str:
        """The partition's directory under a dataset: insert_date=2022-01-01[/insert_hour=05]."""
        return "/".join(f"{name}={value}" for name, value in self.values.items())

    @property
    def sql_params(self) -> dict:
        """Bound parameters of the warehouse SQL for this partition (see Granularity.sql_fragments)."""
        return {name: (int(value) if name == "insert_hour" else value) for name, value in self.values.items()}

    @property
    def spectrum_partition_spec(self) -> str:
        """`insert_date='2022-01-01', insert_hour='05'`: ALTER TABLE ... ADD PARTITION takes literals only."""
        return ", ".join(f"{name}='{value}'" for name, value in self.values.items())

    @property
    def landing_folder(self) -> str:
        """Where the vendor drops this partition's file, under movie_review/: 2022-01-01[/05]."""
        return "/".join(self.values.values())


# The configured granularity (UBM_PARTITION), read once, when the code location loads: the partitions
# definition, the lake paths, the SQL and the vendor folders all follow this one value.
GRANULARITY = GRANULARITIES[load_settings().partition]


def granularity() -> Granularity:
    """The configured granularity (the value read when the code location loaded)."""
    return GRANULARITY


def partition_window(key: str) -> PartitionWindow:
    return granularity().window(key)


partitions_def = GRANULARITY.definition(load_settings().partition_start)

# Daily assets are expected by 06:00 UTC with the previous day's data; hourly ones 30 minutes past
# the hour with the previous hour's.
FRESHNESS = (
    FreshnessPolicy.cron(deadline_cron="30 * * * *", lower_bound_delta=timedelta(hours=1))
    if GRANULARITY is HOURLY
    else FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24))
)
