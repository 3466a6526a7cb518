"""The warehouse: DuckDB locally (a file under UBM_HOME), Redshift on AWS; one interface.

Both show the lake through external tables in a schema named `spectrum` (DuckDB: views over the
Parquet partitions; Redshift: Spectrum external tables). `user_behavior_metric` is built by the dbt
project in sql/dbt (defs/warehouse/assets.py), which reads its target and connection from `dbt_env()`.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from ubm_platform import sql_files
from ubm_platform.partitions import partition_window
from ubm_platform.settings import SQL_DIR

if TYPE_CHECKING:
    from dagster_dbt import DbtCliResource

_REGISTERED_VIEWS: set[tuple[str, str, str]] = set()
DBT_DIR = SQL_DIR / "dbt"


def dbt_cli() -> DbtCliResource:
    """The dbt project of both warehouses (its target and connection: WarehouseResource.dbt_env), run by
    the dbt installed beside this Python (`make` and `ubm` do not put the virtual environment on PATH),
    through `ubm-dbt`, which answers dagster-dbt's `dbt --version` at once (resources/dbt_launcher.py)."""
    from dagster_dbt import DbtCliResource  # 1.4 s to import: not for `ubm sql` and the like

    launcher = Path(sys.executable).with_name("ubm-dbt")
    return DbtCliResource(project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR),
                          dbt_executable=str(launcher if launcher.exists() else launcher.with_name("dbt")))


class WarehouseResource(ConfigurableResource):
    """What the assets need from a warehouse; DuckDB and Redshift implement it."""

    def partition_registry(self, table: str, location: str) -> ContextManager[Callable[[str], None]]:
        """`register(partition_key)` for a run's partitions of one lake dataset (at `location`, as the lake
        I/O manager hands it out): the external table is made sure of once and one connection serves the
        whole range."""
        raise NotImplementedError

    def register_partition(self, table: str, location: str, partition_key: str) -> None:
        """Make a newly published lake partition visible (Spectrum: ALTER TABLE ... ADD PARTITION)."""
        with self.partition_registry(table, location) as register:
            register(partition_key)

    def register_table(self, table: str, location: str) -> None:
        """Make an unpartitioned lake dataset (a snapshot replaced whole) visible as spectrum.<table>."""
        raise NotImplementedError

    def dbt_env(self) -> dict[str, str]:
        """The environment the dbt project (sql/dbt) reads its target and connection from (profiles.yml)."""
        raise NotImplementedError

    def publish(self) -> str | None:
        """Make what the run has built so far visible to analysts, whole (called after each dbt build); where,
        when it is somewhere else than where runs write."""
        raise NotImplementedError

    def for_analysts(self) -> "WarehouseResource":
        """The warehouse as analysts read it (the CLI's `show`, `sql`, `summary`): what was last published."""
        return self

    def query(self, name: str, params: dict | None = None, **literals: str) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a SELECT from sql/; `literals` fill its `{{slot}}`s (a table name)."""
        raise NotImplementedError


def open_duckdb(path: Path, root: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to a warehouse file whose views find the lake's files from `root` (their paths are
    relative to it, so the warehouse can be moved with UBM_HOME)."""
    conn = duckdb.connect(str(path), read_only=read_only)
    conn.execute("SET file_search_path = $root", {"root": str(root)})
    return conn


class DuckDBWarehouseResource(WarehouseResource):
    """A DuckDB file with the lake's datasets as external views, the star schema, the metric and the marts.

    DuckDB takes one writing process and, while it writes, no reader from another process. So runs build
    `path`, and after each dbt build the file is copied whole to `published_path`, which analysts read:
    a reader never holds up a run (the copy replaces the published file by a rename; an open reader keeps
    the file it opened) and never sees half of a build."""

    path: str = Field(description="The DuckDB file runs build.")
    published_path: str = Field(default="", description="The copy analysts read, replaced after each dbt build "
                                                         "('' = none: read `path`).")

    @property
    def root(self) -> Path:
        """Where relative paths in the warehouse's views start: the published file's folder (UBM_HOME)."""
        return Path(self.published_path or self.path).parent

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = open_duckdb(Path(self.path), self.root, read_only)
        try:
            yield conn
        finally:
            conn.close()

    def publish(self) -> str | None:
        if not self.published_path:
            return None
        copy = f"{self.published_path}.{os.getpid()}.tmp"
        with self.connect() as conn:  # holding the file: no other run writes it while it is copied
            conn.execute("CHECKPOINT")  # everything in the file itself, none in a write-ahead log
            shutil.copyfile(self.path, copy)
        os.replace(copy, self.published_path)
        return self.published_path

    def for_analysts(self) -> WarehouseResource:
        return DuckDBWarehouseResource(path=self.published_path) if self.published_path else self

    def execute_file(self, conn, name: str, params: dict | None = None, **literals: str):
        sql = sql_files.to_paramstyle(sql_files.render(name, **literals), "dollar")
        return conn.execute(sql, params or {})

    @contextmanager
    def partition_registry(self, table: str, location: str) -> Iterator[Callable[[str], None]]:
        def register(partition_key: str) -> None:
            partition_window(partition_key)  # a key of the configured granularity, or an error
            # The view reads every partition by glob: created at the first published partition (DuckDB
            # binds the glob when the view is created).
            self._create_view("warehouse/duckdb/external_table.sql", table, location)

        yield register

    def register_table(self, table: str, location: str) -> None:
        self._create_view("warehouse/duckdb/external_snapshot.sql", table, location)

    def _create_view(self, ddl: str, table: str, location: str) -> None:
        """spectrum.<table> over the lake dataset at `location`, created once per process."""
        if (self.path, table, location) in _REGISTERED_VIEWS:
            return
        inside = Path(location).is_relative_to(self.root)
        relative = Path(location).relative_to(self.root).as_posix() if inside else location
        with self.connect() as conn:
            for statement in sql_files.statements(sql_files.render(ddl, table=table, location=relative)):
                conn.execute(statement)
        _REGISTERED_VIEWS.add((self.path, table, location))

    def dbt_env(self) -> dict[str, str]:
        return {"UBM_DBT_TARGET": "duckdb", "UBM_WAREHOUSE_PATH": self.path}

    def query(self, name: str, params: dict | None = None, **literals: str) -> tuple[list[str], list[tuple]]:
        with self.connect(read_only=Path(self.path).exists() is True) as conn:
            cursor = self.execute_file(conn, name, params, **literals)
            return [d[0] for d in cursor.description], cursor.fetchall()
