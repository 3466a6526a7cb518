"""The warehouse: DuckDB locally (a file under UBM_HOME), Redshift on AWS; one interface.

Both read the lake through external tables in a schema named `spectrum` (DuckDB: views over the
Parquet partitions; Redshift: Spectrum external tables) and keep `user_behavior_metric` as a table.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterator

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
# Once per run: the range's metric rows and the lake's per-partition totals, in temporary tables.
METRIC_RANGE_SETUP = (
    ("warehouse/user_behavior_metric_range_create.sql", False),
    ("warehouse/user_behavior_metric_range_fill.sql", True),
    ("warehouse/user_behavior_metric_range_sources_create.sql", False),
    ("warehouse/user_behavior_metric_range_sources_fill.sql", True),
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


class SqlSession:
    """One open warehouse connection, as MetricRange uses it: run a sql/ file, end a transaction."""

    def execute(self, name: str, params: dict | None = None):
        """Run sql/<name>; returns a cursor (description, fetchone, fetchall)."""
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError


class MetricRange:
    """user_behavior_metric for a run's partitions over ONE connection.

    The lake is read once for the whole range (METRIC_RANGE_SETUP: the metric rows and the lake's
    per-partition totals, in temporary tables, for the range's whole days); each partition is then
    replaced in its own transaction, with its check numbers read inside it, from those tables and the
    metric table only.
    """

    def __init__(self, session: SqlSession, partition_keys: list[str]):
        self._session = session
        self.windows = {key: partition_window(key) for key in partition_keys}
        if not self.windows:
            raise ValueError("a metric range needs at least one partition")
        first, last = min(w.insert_date for w in self.windows.values()), max(w.insert_date for w in self.windows.values())
        session.begin()
        session.execute(METRIC_TABLE_DDL)
        for name, takes_range in METRIC_RANGE_SETUP:
            session.execute(name, {"date_from": first, "date_to": last} if takes_range else None)
        # Read once: the table's columns do not change during a run.
        self.columns = [tuple(r) for r in session.execute(METRIC_COLUMNS).fetchall()]
        session.commit()

    def replace(self, partition_key: str, accept: AcceptFn = lambda stats, columns: True) -> MetricReplacement:
        """Replace one partition in one transaction; commit only if `accept(check numbers, columns)`."""
        if partition_key not in self.windows:
            raise ValueError(f"{partition_key} is not in this metric range ({', '.join(sorted(self.windows))})")
        params = self.windows[partition_key].sql_params
        self._session.begin()
        try:
            for name in METRIC_PARTITION_REPLACE:
                self._session.execute(name, params)
            cursor = self._session.execute(METRIC_PARTITION_CHECKS, params)
            stats = dict(zip([d[0] for d in cursor.description], cursor.fetchone()))
            committed = bool(accept(stats, self.columns))
            self._session.commit() if committed else self._session.rollback()
        except BaseException:
            self._session.rollback()
            raise
        return MetricReplacement(stats=stats, columns=self.columns, committed=committed)

    def query(self, name: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a SELECT from sql/, on the range's connection."""
        cursor = self._session.execute(name, params)
        return [d[0] for d in cursor.description], [tuple(r) for r in cursor.fetchall()]


class WarehouseResource(ConfigurableResource):
    """What the assets need from a warehouse; DuckDB and Redshift implement it."""

    def partition_registry(self, table: str, dataset_path: str) -> ContextManager[Callable[[str], None]]:
        """`register(partition_key)` for a run's partitions of one dataset: the external table is made
        sure of once and one connection serves the whole range."""
        raise NotImplementedError

    def register_partition(self, table: str, dataset_path: str, partition_key: str) -> None:
        """Make a newly published lake partition visible (Spectrum: ALTER TABLE ... ADD PARTITION)."""
        with self.partition_registry(table, dataset_path) as register:
            register(partition_key)

    def metric_range(self, partition_keys: list[str]) -> ContextManager[MetricRange]:
        """A MetricRange for the partitions on one connection, closed when the block ends."""
        raise NotImplementedError

    def replace_metric_partition(
        self, partition_key: str, accept: AcceptFn = lambda stats, columns: True
    ) -> MetricReplacement:
        """Replace one partition in one transaction; commit only if `accept(check numbers, columns)`."""
        with self.metric_range([partition_key]) as metric:
            return metric.replace(partition_key, accept)

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

    @contextmanager
    def partition_registry(self, table: str, dataset_path: str) -> Iterator[Callable[[str], None]]:
        location = f"{self.lake_root.rstrip('/')}/{dataset_path}"

        def register(partition_key: str) -> None:
            partition_window(partition_key)  # a key of the configured granularity, or an error
            # The view reads every partition by glob: created once per process, at the first published
            # partition (DuckDB binds the glob when the view is created).
            if (self.path, table, location) in _REGISTERED_VIEWS:
                return
            with self.connect() as conn:
                for statement in sql_files.statements(
                    sql_files.render("warehouse/duckdb/external_table.sql", table=table, location=location)
                ):
                    conn.execute(statement)
            _REGISTERED_VIEWS.add((self.path, table, location))

        yield register

    @contextmanager
    def metric_range(self, partition_keys: list[str]) -> Iterator[MetricRange]:
        with self.connect() as conn:
            yield MetricRange(_DuckDBSession(self, conn), partition_keys)

    def query(self, name: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a SELECT from sql/."""
        with self.connect(read_only=Path(self.path).exists() is True) as conn:
            cursor = self.execute_file(conn, name, params)
            return [d[0] for d in cursor.description], cursor.fetchall()


class _DuckDBSession(SqlSession):
    def __init__(self, resource: DuckDBWarehouseResource, conn: duckdb.DuckDBPyConnection):
        self._resource, self._conn = resource, conn

    def execute(self, name: str, params: dict | None = None):
        return self._resource.execute_file(self._conn, name, params)

    def begin(self) -> None:
        self._conn.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        self._conn.execute("ROLLBACK")

