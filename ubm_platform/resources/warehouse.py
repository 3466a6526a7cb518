"""The warehouse: DuckDB locally (a file under UBM_HOME), Redshift on AWS; one interface.

Both read the lake through external tables in a schema named `spectrum` (DuckDB: views over the
Parquet partitions; Redshift: Spectrum external tables) and keep `user_behavior_metric` as a table.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from ubm_platform import sql_files
from ubm_platform.partitions import partition_window

_REGISTERED_VIEWS: set[tuple[str, str, str]] = set()
METRIC_PARTITION_CHECKS = "warehouse/user_behavior_metric_partition_checks.sql"
METRIC_COLUMNS = "warehouse/user_behavior_metric_columns.sql"
METRIC_TABLE_DDL = "warehouse/user_behavior_metric_create.sql"
METRIC_PARTITION_REPLACE = (
    "warehouse/user_behavior_metric_delete_partition.sql",
    "warehouse/user_behavior_metric_insert_partition.sql",
)


@dataclass
class MetricReplacement:
    """What replacing a partition of user_behavior_metric did: its check numbers and whether it committed."""

    stats: dict
    columns: list[tuple[str, str]]
    committed: bool

    @property
    def rows(self) -> int:
        return int(self.stats["metric_rows"])


AcceptFn = Callable[[dict, list], bool]


class WarehouseResource(ConfigurableResource):
    """What the assets need from a warehouse; DuckDB and Redshift implement it."""

    def register_partition(self, table: str, dataset_path: str, partition_key: str) -> None:
        raise NotImplementedError

    def replace_metric_partition(
        self, partition_key: str, accept: AcceptFn = lambda stats, columns: True
    ) -> MetricReplacement:
        """Replace one partition in one transaction; commit only if `accept(check numbers, columns)`."""
        raise NotImplementedError

    def query(self, name: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError


class DuckDBWarehouseResource(WarehouseResource):
    """A DuckDB file with the lake's datasets as external views and the metric table."""

    path: str = Field(description="The DuckDB database file.")
    lake_root: str = Field(description="Local lake root the external views read.")

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(self.path, read_only=read_only)
        try:
            yield conn
        finally:
            conn.close()

    def execute_file(self, conn, name: str, params: dict | None = None):
        sql = sql_files.to_paramstyle(sql_files.render(name), "dollar")
        return conn.execute(sql, params or {})

    def register_partition(self, table: str, dataset_path: str, partition_key: str) -> None:
        """Make a newly published lake partition visible (Spectrum: ALTER TABLE ... ADD PARTITION)."""
        partition_window(partition_key)  # a key of the configured granularity, or an error
        location = f"{self.lake_root.rstrip('/')}/{dataset_path}"
        if (self.path, table, location) in _REGISTERED_VIEWS:
            return  # the view reads every partition by glob: once per process is enough
        with self.connect() as conn:
            for statement in sql_files.statements(
                sql_files.render("warehouse/duckdb/external_table.sql", table=table, location=location)
            ):
                conn.execute(statement)
        _REGISTERED_VIEWS.add((self.path, table, location))

    def replace_metric_partition(
        self, partition_key: str, accept: AcceptFn = lambda stats, columns: True
    ) -> MetricReplacement:
        params = partition_window(partition_key).sql_params
        with self.connect() as conn:
            self.execute_file(conn, METRIC_TABLE_DDL)
            conn.execute("BEGIN TRANSACTION")
            try:
                for name in METRIC_PARTITION_REPLACE:
                    self.execute_file(conn, name, params)
                cursor = self.execute_file(conn, METRIC_PARTITION_CHECKS, params)
                stats = dict(zip([d[0] for d in cursor.description], cursor.fetchone()))
                columns = [tuple(r) for r in self.execute_file(conn, METRIC_COLUMNS).fetchall()]
                committed = accept(stats, columns)
                conn.execute("COMMIT" if committed else "ROLLBACK")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return MetricReplacement(stats=stats, columns=columns, committed=committed)

    def query(self, name: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a SELECT from sql/."""
        with self.connect(read_only=Path(self.path).exists() is True) as conn:
            cursor = self.execute_file(conn, name, params)
            return [d[0] for d in cursor.description], cursor.fetchall()
