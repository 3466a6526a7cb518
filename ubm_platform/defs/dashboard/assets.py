"""The analysts' dashboard: one self-contained HTML page of plotly charts over the warehouse's marts and
the latest runs' checks, rebuilt after the marts (the asset graph shows what it is made of), written to the
lake at dashboard/index.html and served by `ubm dashboard`.

Plotly renders each chart from the marts' rows into the page with plotly.js inlined: it opens offline, from
a file or any web server (S3 included), and holds no connection to the warehouse, so an analyst looking
at it never holds up a run.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ubm_platform.defs.alerting import run_partitions
from ubm_platform.defs.dashboard import charts
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.warehouse import WarehouseResource

DASHBOARD_PATH = "dashboard/index.html"
MART_SQL = "dashboard/mart.sql"
# what the charts read, all built by dbt in the asset analyst_marts
MARTS = ("dashboard_daily", "metric_distribution", "genre_affinity", "genre_transition", "similarity_by_activity",
         "similarity_by_activity_summary", "review_rental_effect", "review_rental_effect_comparison")
CHECK_RUNS = 10  # the checks of this many latest runs


@dataclass(frozen=True)
class CheckState:
    check: str  # asset.check_name
    partitions: str  # the partition, or the range a run covered
    status: str  # passed | warning | failed
    run_id: str


def check_status(passed: bool, severity: AssetCheckSeverity) -> str:
    if passed:
        return "passed"
    return "failed" if severity == AssetCheckSeverity.ERROR else "warning"


def latest_check_states(instance: DagsterInstance, runs: int = CHECK_RUNS) -> list[CheckState]:
    """Every check evaluation of the latest `runs` runs, oldest run first. Read run by run: the local
    instance keeps one event database per run, so a query across runs is not available everywhere."""
    states = []
    for run in reversed(instance.get_runs(limit=runs)):
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
        for record in records:
            evaluation = record.event_log_entry.dagster_event.event_specific_data
            states.append(CheckState(
                check=f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}",
                partitions=evaluation.partition or run_partitions(run),
                status=check_status(evaluation.passed, evaluation.severity),
                run_id=run.run_id,
            ))
    return states


def _plain(value):
    """A warehouse value as JSON takes it (plotly embeds the numbers in the page)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def read_marts(warehouse: WarehouseResource) -> dict[str, list[dict]]:
    marts = {}
    for name in MARTS:
        columns, rows = warehouse.query(MART_SQL, table=name)
        marts[name] = [dict(zip(columns, map(_plain, row))) for row in rows]
    return marts


@asset(
    key="analyst_dashboard",
    group_name="analytics",
    deps=[AssetKey(mart) for mart in MARTS],
    kinds={"plotly", "html"},
    owners=["team:data-platform"],
    backfill_policy=BackfillPolicy.single_run(),  # in a range's run, built once, after the marts
)
def analyst_dashboard(context: AssetExecutionContext, warehouse: WarehouseResource,
                      lake: LakeIOManager) -> MaterializeResult:
    """The analysts' dashboard (`ubm dashboard` serves it): spend and reviews over time, the metric's
    distribution, the genre transitions, similarity by activity, the review effect with its interval, and
    the latest runs' checks, in one page that opens offline."""
    marts = read_marts(warehouse)
    checks = latest_check_states(context.instance)
    page = charts.dashboard_page(marts, checks, built_at=dt.datetime.now(dt.timezone.utc))
    lake.write_text(DASHBOARD_PATH, page.html)
    return MaterializeResult(metadata={
        "location": MetadataValue.path(lake.uri(DASHBOARD_PATH)),
        "charts": MetadataValue.int(len(page.charts)),
        "days": MetadataValue.int(len(marts["dashboard_daily"])),
        "checks shown": MetadataValue.int(len(checks)),
        "open": MetadataValue.text("ubm dashboard (or make dashboard), then http://127.0.0.1:8050"),
    })
