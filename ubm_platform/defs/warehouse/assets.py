"""The warehouse, built by the dbt project in sql/dbt through dagster-dbt: three assets definitions.

- `star_schema_dimensions` (unpartitioned, tag `dimension`): dim_date, dim_film with its bridges to
  categories and actors, and dim_customer, slowly changing (type 2) through the dbt snapshot
  customer_history; rebuilt whole at each run.
- `warehouse_partitions` (the platform's partitions, tag `partitioned`): fact_rental, fact_payment,
  fact_review and user_behavior_metric, one `dbt build` per run's window, each table's window replaced;
- `analyst_marts` (unpartitioned, tags `question` and `dashboard`): the three questions over a window of the
  facts and the dashboard's series, rebuilt whole.

user_behavior_metric is write-audit-publish: the window's rows are built into
ubm_audit.user_behavior_metric_audit, where analysts do not read, its tests run on them (one reconciles it
with fact_payment and fact_review), and the model `user_behavior_metric` publishes them only if every test
passed: dbt skips a model whose parent failed a test. In Dagster it is ONE asset: the audited window carries
its key, so the dbt tests are its (blocking) checks, and the publishing model's success is its
materialization. Every dbt test is a check of the asset its model is: keys are errors (blocking), a fact's
references into its dimensions are warnings that count the orphans.
"""


import contextlib
import io
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource, DbtProject, dbt_assets

from ubm_platform.defs import quality
from ubm_platform.defs.metadata import markdown_table
from ubm_platform.partitions import FRESHNESS, GRANULARITY, HOURLY, partition_window, partitions_def
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.warehouse import DBT_DIR, WarehouseResource, dbt_cli
from ubm_platform.settings import load_settings

DBT_PROJECT = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
METRIC = AssetKey("user_behavior_metric")
AUDIT_MODEL = "user_behavior_metric_audit"  # builds and tests the window where analysts do not read
PUBLISH_MODEL = "user_behavior_metric"  # the dbt model that publishes the audited window
RECONCILIATION_TEST = "user_behavior_metric_reconciles"
RECONCILED_FACTS = {AssetKey("fact_payment"), AssetKey("fact_review")}
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
COUNTS_SQL = "warehouse/partition_counts.sql"


def dbt_manifest() -> Path:
    """The project's manifest (what @dbt_assets is defined from), parsed again when a project file is newer.

    A parse takes about 2.5 s; it writes to a folder of its own and the manifest is moved into place, so
    processes loading the definitions at the same time never read a half-written one."""
    manifest = DBT_PROJECT.manifest_path
    sources = [DBT_DIR / "dbt_project.yml", *(p for d in ("models", "macros", "tests", "analyses", "snapshots")
                                             for p in (DBT_DIR / d).rglob("*") if p.is_file())]
    if manifest.exists() and manifest.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=manifest.parent) as parsed:
        dbt_cli().cli(["parse", "--quiet"], target_path=Path(parsed)).wait()
        os.replace(Path(parsed) / "manifest.json", manifest)
    return manifest


STAR_SCHEMA_GROUP = "star_schema"
ANALYTICS_GROUP = "analytics"
ANALYTICS_TAGS = {"question", "dashboard"}


class WarehouseTranslator(DagsterDbtTranslator):
    """The dbt nodes as the platform's assets: the lake's sources are the upstream assets (their dbt meta
    names them); the star schema's tables form one group; the metric keeps the group, freshness and
    column types it always had."""

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if node.get("resource_type") == "source":
            return spec
        spec = spec.replace_attributes(
            owners=["team:data-platform"],
            kinds={"dbt", "duckdb" if load_settings().env == "local" else "redshift"},
            group_name=ANALYTICS_GROUP if ANALYTICS_TAGS & set(node.get("tags", [])) else STAR_SCHEMA_GROUP,
        )
        if spec.key != METRIC:
            return spec
        return spec.replace_attributes(
            deps=[dep for dep in spec.deps if dep.asset_key != METRIC],  # the publishing model reads the audit
            group_name="warehouse",
            freshness_policy=FRESHNESS,
            # what analysts query (the audit table the dbt node builds is not)
            metadata={**spec.metadata, "dagster/column_schema": METRIC_COLUMNS,
                      "dagster/table_name": "user_behavior_metric"},
        )


TRANSLATOR = WarehouseTranslator()
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


def _dbt_environment(warehouse: WarehouseResource, lake: LakeIOManager, **extra: str):
    # DuckDB reads the lake's Parquet as the project's sources (Redshift: through Spectrum)
    return _environment({**warehouse.dbt_env(), "UBM_LAKE_ROOT": lake.uri(""), "UBM_PARTITION": GRANULARITY.name,
                         **extra})


def _keep_parse(build: DbtCliInvocation) -> None:
    """Leave the finished invocation's parse where dagster-dbt hands the next one its starting point (the
    project's target/): the next run, in the same environment, parses nothing again (3 - 4 s a run). The
    parse made when the definitions load cannot serve: it has no warehouse in the profile."""
    parsed = build.target_path / "partial_parse.msgpack"
    if parsed.exists():
        target = DBT_PROJECT.manifest_path.parent
        kept = target / f"partial_parse.msgpack.{os.getpid()}"
        shutil.copyfile(parsed, kept)
        os.replace(kept, target / "partial_parse.msgpack")


def _build_whole(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                 lake: LakeIOManager, **env: str) -> Iterator:
    """`dbt build` of an unpartitioned assets definition, as Dagster selected it. Cautious selection: only
    the tests whose every parent is built here (the facts' references run when the facts are built)."""
    with _dbt_environment(warehouse, lake, DBT_INDIRECT_SELECTION="cautious", **env):
        build = dbt.cli(["build"], context=context)
    with contextlib.redirect_stdout(io.StringIO()) as dbt_output:
        yield from build.stream()
    context.log.debug(f"dbt build:\n{dbt_output.getvalue()}")
    _keep_parse(build)
    _publish(context, warehouse)


def _publish(context: AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """After a successful dbt build, analysts see it: whole, never a table or a window half built."""
    published = warehouse.publish()
    if published:
        context.log.info(f"warehouse published to {published}")


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    name="star_schema_dimensions",
    select="tag:dimension",
    backfill_policy=BackfillPolicy.single_run(),  # in a backfill of partitions, built once, in the range's run
    dagster_dbt_translator=TRANSLATOR,
)
def star_schema_dimensions(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                           lake: LakeIOManager):
    """The calendar, the films with their bridges and the customers' history, rebuilt whole."""
    yield from _build_whole(context, dbt, warehouse, lake)


class QuestionWindow(Config):
    """The window the analysts' questions look at (ISO dates, both included); by default all the history
    in the facts."""

    question_from: Optional[str] = None
    question_to: Optional[str] = None


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    name="analyst_marts",
    select=" ".join(f"tag:{tag}" for tag in sorted(ANALYTICS_TAGS)),
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
)
def analyst_marts(context: AssetExecutionContext, config: QuestionWindow, dbt: DbtCliResource,
                  warehouse: WarehouseResource, lake: LakeIOManager):
    """The three questions the platform exists to answer (docs/analytics.md), as small tables over a window
    of the facts, and the dashboard's series over all of them; rebuilt whole."""
    window = {f"UBM_{name.upper()}": value for name, value in
              (("question_from", config.question_from), ("question_to", config.question_to)) if value}
    yield from _build_whole(context, dbt, warehouse, lake, **window)


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    name="warehouse_partitions",
    select="tag:partitioned",
    exclude=PUBLISH_MODEL,  # not an asset of its own: its success is the metric's materialization
    partitions_def=partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
)
def warehouse_partitions(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                         lake: LakeIOManager):
    """The facts and user_behavior_metric for the run's window: one `dbt build` replaces the window in
    each selected table, each after its tests passed (the metric: write-audit-publish)."""
    keys = context.partition_keys
    window = context.partition_time_window
    selected = context.selected_asset_keys
    # The metric is two dbt models: without both (and the tests between them) it is never published.
    models = [key.path[-1] for key in selected if key != METRIC] + ([AUDIT_MODEL, PUBLISH_MODEL] if METRIC in selected else [])
    # The metric is built from the lake; its reconciliation with the facts needs the facts of the same window.
    without = ["--exclude", RECONCILIATION_TEST] if METRIC in selected and not RECONCILED_FACTS <= selected else []
    # The window goes in the environment, not in --vars: new vars make dbt parse the whole project again.
    with _dbt_environment(warehouse, lake, DBT_INDIRECT_SELECTION="buildable",
                          UBM_WINDOW_START=window.start.isoformat(), UBM_WINDOW_END=window.end.isoformat()):
        build = dbt.cli(["build", "--select", " ".join(models), *without], raise_on_error=False,
                        manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR)
    checks: dict[AssetKey, list[AssetCheckResult]] = {key: [] for key in selected}
    built: dict[AssetKey, dict] = {}
    # dagster-dbt echoes every dbt line to stdout: they go to the run's log instead, one message, so that
    # `ubm run` keeps to its one line per partition and asset.
    with contextlib.redirect_stdout(io.StringIO()) as dbt_output:
        for event in build.stream():
            if isinstance(event, AssetCheckEvaluation) and event.asset_check_key in context.selected_asset_check_keys:
                checks[event.asset_key].append(AssetCheckResult(
                    asset_key=event.asset_key, check_name=event.check_name, passed=event.passed,
                    severity=event.severity, metadata=event.metadata))
            elif isinstance(event, AssetMaterialization) and event.asset_key in selected:
                if event.asset_key != METRIC or event.metadata["unique_id"].value.endswith(f".{PUBLISH_MODEL}"):
                    built[event.asset_key] = event.metadata
    _keep_parse(build)
    what = f"{keys[0]}" + (f"...{keys[-1]}" if len(keys) > 1 else "")
    succeeded = build.is_successful() and set(built) == selected
    (context.log.debug if succeeded else context.log.error)(f"dbt build:\n{dbt_output.getvalue()}")
    if not succeeded:
        for results in checks.values():
            yield from results
        failed = quality.blocking_failures([c for results in checks.values() for c in results])
        if failed:
            raise quality.refuse(f"warehouse {what}", failed)
        raise Failure(description=f"warehouse {what}: dbt build failed: {build.get_error()}")

    # dbt has exited: the warehouse (a DuckDB file takes one writer) can be read, and published.
    _publish(context, warehouse)
    for key in sorted(selected, key=lambda k: k.to_user_string()):
        table = key.path[-1]
        rows = _rows_by_partition(warehouse, table, keys)
        extra = {"dagster/column_schema": METRIC_COLUMNS} if key == METRIC else {}
        for partition_key in keys:  # each partition recorded with its own row count
            context.add_asset_metadata({**built[key], **extra, "dagster/row_count": rows[partition_key]},
                                       asset_key=key, partition_key=partition_key)
        if key == METRIC:
            columns, preview = warehouse.query(PREVIEW_SQL, partition_window(keys[-1]).sql_params)
            context.add_asset_metadata({"preview": MetadataValue.md(markdown_table(columns, preview))},
                                       asset_key=key, partition_key=keys[-1])
        yield MaterializeResult(asset_key=key, check_results=checks[key])


def _rows_by_partition(warehouse: WarehouseResource, table: str, keys: list[str]) -> dict[str, int]:
    windows = {key: partition_window(key) for key in keys}
    _, counted = warehouse.query(COUNTS_SQL, {"date_from": windows[keys[0]].insert_date,
                                              "date_to": windows[keys[-1]].insert_date}, table=table)
    by_values = {tuple(str(v) for v in row[:-1]): int(row[-1]) for row in counted}
    return {key: by_values.get(tuple(str(v) for v in w.sql_params.values()), 0) for key, w in windows.items()}

