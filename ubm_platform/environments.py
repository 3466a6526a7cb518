"""The environment switch, in one place: which resources back the assets.

The assets are the same everywhere; only this dictionary differs between the embedded default
(`UBM_ENV=local`) and AWS (`UBM_ENV=aws`).
"""

from __future__ import annotations

import os

from dagster import EnvVar, in_process_executor, multiprocess_executor

from ubm_platform.resources.alerts import AlertResource
from ubm_platform.resources.lake import LakeIOManager, LandingResource
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.spark import SparkSubmitResource
from ubm_platform.resources.warehouse import DuckDBWarehouseResource, dbt_cli
from ubm_platform.settings import Settings


def _oltp(settings: Settings) -> OltpPostgresResource:
    # The DSN carries a password: pass it as an EnvVar so it never lands in run config or the UI.
    if settings.oltp_dsn_set:
        return OltpPostgresResource(dsn=EnvVar("UBM_OLTP_DSN"))
    return OltpPostgresResource(embedded_data_dir=str(settings.embedded_pg_dir))


def _alerts() -> AlertResource:
    # A webhook URL embeds its secret token: an EnvVar too.
    if os.environ.get("UBM_ALERT_WEBHOOK_URL"):
        return AlertResource(webhook_url=EnvVar("UBM_ALERT_WEBHOOK_URL"))
    return AlertResource()


def local_resources(settings: Settings) -> dict:
    return {
        "oltp": _oltp(settings),
        "landing": LandingResource(root=settings.landing),
        "lake": LakeIOManager(root=str(settings.lake_root)),
        "spark": SparkSubmitResource(),
        "warehouse": DuckDBWarehouseResource(path=str(settings.warehouse_build_path),
                                             published_path=str(settings.warehouse_path)),
        "dbt": dbt_cli(),
        "alerts": _alerts(),
    }


def aws_resources(settings: Settings) -> dict:
    from ubm_platform.resources.aws import aws_resources as build

    return {**build(settings, oltp=_oltp(settings)), "dbt": dbt_cli(), "alerts": _alerts()}


RESOURCES_BY_ENV = {"local": local_resources, "aws": aws_resources}
# One JVM and one warehouse writer per run locally; separate processes per step on AWS, where the
# heavy work runs remotely anyway.
EXECUTOR_BY_ENV = {"local": in_process_executor, "aws": multiprocess_executor}


def resources_for(settings: Settings) -> dict:
    return RESOURCES_BY_ENV[settings.env](settings)
