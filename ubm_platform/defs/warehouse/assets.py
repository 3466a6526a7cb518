"""user_behavior_metric: the analysts' table, built in the warehouse by the dbt project in sql/dbt.

Write-audit-publish, in one `dbt build` per run (a range of partitions is one window, one invocation):
the window's rows are built into ubm_audit.user_behavior_metric_audit, where analysts do not read, the
project's tests run on them, and the model `user_behavior_metric` publishes them (a delete and an insert of
the window in one transaction) only if every test passed: dbt skips a model whose parent failed a test.

In Dagster this is ONE asset, `user_behavior_metric`: the audited window carries its key, so the dbt tests
are its (blocking) checks, and the publishing model's success is its materialization.
"""


import contextlib
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ubm_platform.defs import quality
from ubm_platform.defs.metadata import markdown_table
from ubm_platform.partitions import FRESHNESS, GRANULARITY, HOURLY, partition_window, partitions_def
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.warehouse import DBT_DIR, WarehouseResource, dbt_cli
from ubm_platform.settings import load_settings

DBT_PROJECT = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
METRIC = AssetKey("user_behavior_metric")
PUBLISH_MODEL = "user_behavior_metric"  # the dbt model that publishes the audited window
METRIC_COLUMNS = TableSchema(
    columns=[
        TableColumn("customerid", "bigint", description="Customer id (OLTP customer.customer_id, vendor cid)."),
        TableColumn("amount_spent", "decimal(18,5)", description="Sum of the customer's payments in the partition."),
        TableColumn("purchase_count", "bigint", description="Number of the customer's payments in the partition."),
        TableColumn("review_score", "bigint", description="Number of the customer's positive reviews in the partition."),
        TableColumn("review_count", "bigint", description="Number of the customer's reviews in the partition."),
        TableColumn("insert_date", "date", description="The partition's UTC day."),
        *([TableColumn("insert_hour", "smallint", description="The partition's UTC hour (0-23).")]
          if GRANULARITY is HOURLY else []),
    ]
)
PREVIEW_SQL = "warehouse/user_behavior_metric_partition_preview.sql"
COUNTS_SQL = "warehouse/user_behavior_metric_partition_counts.sql"


def dbt_manifest() -> Path:
    """The project's manifest (what @dbt_assets is defined from), parsed again when a project file is newer.

    A parse takes about 2.5 s; it writes to a folder of its own and the manifest is moved into place, so
    processes loading the definitions at the same time never read a half-written one."""
    manifest = DBT_PROJECT.manifest_path
    sources = [DBT_DIR / "dbt_project.yml", *(p for d in ("models", "macros", "tests", "analyses")
                                             for p in (DBT_DIR / d).rglob("*") if p.is_file())]
    if manifest.exists() and manifest.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=manifest.parent) as parsed:
        dbt_cli().cli(["parse", "--quiet"], target_path=Path(parsed)).wait()
        os.replace(Path(parsed) / "manifest.json", manifest)
    return manifest


class MetricTranslator(DagsterDbtTranslator):
    """The dbt nodes as the platform's asset: the lake's sources are the upstream assets (their dbt meta
    names them), and the metric keeps the group, owners, freshness and column types it always had."""

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.key != METRIC:
            return spec
        return spec.replace_attributes(
            deps=[dep for dep in spec.deps if dep.asset_key != METRIC],  # the publishing model reads the audit
            group_name="warehouse",
            owners=["team:data-platform"],
            kinds={"dbt", "duckdb" if load_settings().env == "local" else "redshift"},
            freshness_policy=FRESHNESS,
            # what analysts query (the audit table the dbt node builds is not)
            metadata={**spec.metadata, "dagster/column_schema": METRIC_COLUMNS,
                      "dagster/table_name": "user_behavior_metric"},
        )


TRANSLATOR = MetricTranslator()
MANIFEST = dbt_manifest()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ while dbt's process starts (DbtCliResource passes the environment on)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    name="user_behavior_metric",
    exclude=PUBLISH_MODEL,  # not an asset of its own: its success is the metric's materialization
    partitions_def=partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
)
def user_behavior_metric(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                         lake: LakeIOManager):
    keys = context.partition_keys
    window = context.partition_time_window
    window_vars = {"window_start": window.start.isoformat(), "window_end": window.end.isoformat()}
    # DuckDB reads the lake's Parquet as the project's sources (Redshift: through Spectrum)
    with _environment({**warehouse.dbt_env(), "UBM_LAKE_ROOT": lake.uri(""), "UBM_PARTITION": GRANULARITY.name}):
        # Without the context, dbt builds the whole project whatever Dagster selected: the publishing model
        # must never run without the audit and its tests before it.
        build = dbt.cli(["build", "--vars", json.dumps(window_vars)], raise_on_error=False,
                        manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR)
    checks, published = [], None
    # dagster-dbt echoes every dbt line to stdout: they go to the run's log instead, one message, so that
    # `ubm run` keeps to its one line per partition and asset.
    with contextlib.redirect_stdout(io.StringIO()) as dbt_output:
        for event in build.stream():
            if isinstance(event, AssetCheckEvaluation) and event.asset_check_key in context.selected_asset_check_keys:
                checks.append(AssetCheckResult(asset_key=METRIC, check_name=event.check_name, passed=event.passed,
                                               severity=event.severity, metadata=event.metadata))
            elif isinstance(event, AssetMaterialization) and event.metadata["unique_id"].value.endswith(
                    f".{PUBLISH_MODEL}"):
                published = event.metadata
    what = f"user_behavior_metric {keys[0]}" + (f"...{keys[-1]}" if len(keys) > 1 else "")
    succeeded = build.is_successful() and published is not None
    (context.log.debug if succeeded else context.log.error)(f"dbt build:\n{dbt_output.getvalue()}")
    if not succeeded:
        yield from checks
        failed = quality.blocking_failures(checks)
        if failed:
            raise quality.refuse(what, failed)
        raise Failure(description=f"{what}: dbt build failed: {build.get_error()}")

    # dbt has exited: the warehouse (a DuckDB file takes one writer) can be read.
    rows = _rows_by_partition(warehouse, keys)
    columns, preview = warehouse.query(PREVIEW_SQL, partition_window(keys[-1]).sql_params)
    for key in keys:  # each partition recorded with its own row count
        context.add_asset_metadata(
            {**published, "dagster/row_count": rows[key], "dagster/column_schema": METRIC_COLUMNS,
             **({"preview": MetadataValue.md(markdown_table(columns, preview))} if key == keys[-1] else {})},
            asset_key=METRIC, partition_key=key,
        )
    yield MaterializeResult(asset_key=METRIC, check_results=checks)


def _rows_by_partition(warehouse: WarehouseResource, keys: list[str]) -> dict[str, int]:
    windows = {key: partition_window(key) for key in keys}
    _, counted = warehouse.query(COUNTS_SQL, {"date_from": windows[keys[0]].insert_date,
                                              "date_to": windows[keys[-1]].insert_date})
    by_values = {tuple(str(v) for v in row[:-1]): int(row[-1]) for row in counted}
    return {key: by_values.get(tuple(str(v) for v in w.sql_params.values()), 0) for key, w in windows.items()}
