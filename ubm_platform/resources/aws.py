"""UBM_ENV=aws: the resources behind the same assets, built from environment variables.

S3 holds the lake and the vendor's landing files, Spark runs on EMR (steps on a running cluster,
or EMR Serverless), and Redshift reads the lake through Spectrum. Every variable, with its default and
when it is required, is declared in settings.SETTINGS (docs/aws.md shows it). Values that map one-to-one onto a
resource field are passed as Dagster `EnvVar`s: they are read when the resource is used and never
appear in run config or the UI, which matters for UBM_REDSHIFT_PASSWORD. The lake and code
locations are composed from several variables, so they are plain strings (they are not secrets).

Nothing here talks to AWS: resources create their clients when they are used.
"""

from __future__ import annotations

import os
import re

from dagster import EnvVar

from ubm_platform.resources.emr import EmrServerlessSparkResource, EmrStepsSparkResource
from ubm_platform.resources.lake import LakeIOManager, LandingResource
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.redshift import CONNECTION_FACTORIES, RedshiftWarehouseResource
from ubm_platform.settings import Settings, SettingsError, is_true, required_unset
from ubm_platform.settings import value_or_default as _value  # the defaults are in settings.SETTINGS

SPARK_MODES = ("emr_steps", "emr_serverless")
REDSHIFT_DRIVERS = tuple(CONNECTION_FACTORIES)  # redshift_connector, psycopg2

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[\w.\-=/]*$")  # what can go into a Spectrum LOCATION (sql_files.render)


class AwsConfigError(SettingsError):
    """UBM_ENV=aws with variables missing or invalid; the message lists all of them."""


def _is_set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


def _flag(name: str) -> bool:
    return is_true(_value(name))


def _optional(name: str):
    """An EnvVar when the variable is set, else its default (an unset EnvVar fails when used)."""
    return EnvVar(name) if _is_set(name) else _value(name)


def environment_problems() -> tuple[list[str], list[str]]:
    """(missing variable names, invalid settings described) of UBM_ENV=aws; both empty when it can start."""
    missing, invalid = required_unset("aws"), []
    mode = _value("UBM_SPARK_MODE")
    if mode not in SPARK_MODES:
        invalid.append(f"UBM_SPARK_MODE={mode!r} (expected one of {', '.join(SPARK_MODES)})")
    for name in ("UBM_S3_BUCKET", "UBM_S3_LANDING_BUCKET"):
        if _value(name) and not _BUCKET.match(_value(name)):
            invalid.append(f"{name}={_value(name)!r} (not an S3 bucket name)")
    for name in ("UBM_S3_PREFIX", "UBM_S3_LANDING_PREFIX"):
        if not _PREFIX.match(_value(name)):
            invalid.append(f"{name}={_value(name)!r} (letters, digits and . _ - = / only)")
    for name in ("UBM_REDSHIFT_PORT", "UBM_EMR_TIMEOUT_S", "UBM_EMR_POLL_S"):
        if _value(name) and not re.fullmatch(r"\d+(\.\d+)?", _value(name)):
            invalid.append(f"{name}={_value(name)!r} (not a number)")
    archive = _value("UBM_EMR_PYTHON_ARCHIVE")
    if archive and not re.fullmatch(r"s3://[^/\s]+/\S+\.(tar\.gz|tgz|zip)", archive):
        invalid.append(f"UBM_EMR_PYTHON_ARCHIVE={archive!r} (not an s3://bucket/key.tar.gz)")
    if _value("UBM_REDSHIFT_SSLMODE") not in ("", "verify-ca", "verify-full", "require", "disable"):
        invalid.append(f"UBM_REDSHIFT_SSLMODE={_value('UBM_REDSHIFT_SSLMODE')!r}")
    driver = _value("UBM_REDSHIFT_DRIVER")
    if driver not in REDSHIFT_DRIVERS:
        invalid.append(f"UBM_REDSHIFT_DRIVER={driver!r} (expected one of {', '.join(REDSHIFT_DRIVERS)})")
    elif driver != "redshift_connector" and _flag("UBM_REDSHIFT_IAM"):
        invalid.append(f"UBM_REDSHIFT_DRIVER={driver!r} with UBM_REDSHIFT_IAM=1 (IAM auth needs redshift_connector)")
    return missing, invalid


def check_environment() -> None:
    """Raise AwsConfigError listing every missing or invalid variable at once."""
    missing, invalid = environment_problems()
    if missing or invalid:
        lines = ["UBM_ENV=aws cannot start (every variable is described in docs/aws.md):"]
        if missing:
            lines.append(f"  missing: {', '.join(missing)}")
        if invalid:
            lines.append(f"  invalid: {'; '.join(invalid)}")
        raise AwsConfigError("\n".join(lines))


def s3_layout() -> dict[str, str]:
    """The s3:// roots the resources use, from UBM_S3_* (call after check_environment)."""
    bucket = _value("UBM_S3_BUCKET")
    prefix = _value("UBM_S3_PREFIX").strip("/")
    landing_bucket = _value("UBM_S3_LANDING_BUCKET", bucket)
    landing_prefix = _value("UBM_S3_LANDING_PREFIX", f"{prefix}/landing" if prefix else "landing").strip("/")
    base = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return {
        "lake": base,
        "landing": f"s3://{landing_bucket}/{landing_prefix}" if landing_prefix else f"s3://{landing_bucket}",
        "code": f"{base}/code",
        "runs": f"{base}/spark-runs",
    }


def aws_resources(settings: Settings, oltp: OltpPostgresResource) -> dict:
    """The resource dict for UBM_ENV=aws (same keys as environments.local_resources)."""
    check_environment()
    roots = s3_layout()
    region = EnvVar("AWS_REGION")
    s3_endpoint = _optional("UBM_S3_ENDPOINT_URL")

    common_spark = dict(
        code_uri=roots["code"],
        runs_uri=roots["runs"],
        region=region,
        s3_endpoint_url=s3_endpoint,
        emr_endpoint_url=_optional("UBM_EMR_ENDPOINT_URL"),
        timeout_s=float(_value("UBM_EMR_TIMEOUT_S")),
        poll_interval_s=float(_value("UBM_EMR_POLL_S")),
        python_archive_uri=_optional("UBM_EMR_PYTHON_ARCHIVE"),
    )
    if _value("UBM_SPARK_MODE") == "emr_steps":
        spark = EmrStepsSparkResource(cluster_id=EnvVar("UBM_EMR_CLUSTER_ID"), **common_spark)
    else:
        spark = EmrServerlessSparkResource(
            application_id=EnvVar("UBM_EMR_SERVERLESS_APP_ID"),
            execution_role_arn=EnvVar("UBM_EMR_EXECUTION_ROLE_ARN"),
            **common_spark,
        )

    iam = _flag("UBM_REDSHIFT_IAM")
    warehouse = RedshiftWarehouseResource(
        host=_optional("UBM_REDSHIFT_HOST"),
        port=EnvVar.int("UBM_REDSHIFT_PORT") if _is_set("UBM_REDSHIFT_PORT") else int(_value("UBM_REDSHIFT_PORT")),
        database=EnvVar("UBM_REDSHIFT_DATABASE"),
        user=EnvVar("UBM_REDSHIFT_USER"),
        password="" if iam else EnvVar("UBM_REDSHIFT_PASSWORD"),
        iam=iam,
        cluster_identifier=_optional("UBM_REDSHIFT_CLUSTER_ID"),
        region=region,
        sslmode=_optional("UBM_REDSHIFT_SSLMODE"),
        driver=_value("UBM_REDSHIFT_DRIVER"),
        spectrum_iam_role_arn=EnvVar("UBM_SPECTRUM_IAM_ROLE_ARN"),
        glue_database=_optional("UBM_GLUE_DATABASE"),
    )
    return {
        "oltp": oltp,
        "landing": LandingResource(root=roots["landing"], endpoint_url=s3_endpoint, region=region),
        "lake": LakeIOManager(root=roots["lake"], endpoint_url=s3_endpoint, region=region),
        "spark": spark,
        "warehouse": warehouse,
    }
