"""The lake and the landing zone on S3 (a moto server), with the same asset code as locally, and the
UBM_ENV=aws resource set built from environment variables."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import EnvVar, materialize

from ubm_platform.resources.lake import LakeIOManager, LandingResource, ParquetFileWriter
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform_tests.conftest import PROJECT_ROOT
from ubm_platform_tests.expected import valid_reviews

SCHEMA = pa.schema([("v", pa.int64())])
DAY = "2022-01-02"


def _write_partition(lake: LakeIOManager, files: dict[str, list[int]], day: str = DAY) -> str:
    partition = lake.partition_path("user_purchase_staging", day)
    with lake.staged_directory(partition) as staging:
        for name, values in files.items():
            with ParquetFileWriter(lake, f"{staging.path}/{name}", SCHEMA) as writer:
                writer.write(pa.table({"v": values}, schema=SCHEMA))
    return partition


def _read_s3_parquet(aws, key: str) -> pa.Table:
    """Read an object with boto3 + pyarrow, independently of the lake's own reader."""
    return pq.read_table(io.BytesIO(aws.get(key)))


# -- LakeIOManager on s3://bucket/prefix ----------------------------------------------------------


def test_publish_replaces_a_partition_and_leaves_no_staging_files(aws, s3_lake):
    partition = _write_partition(s3_lake, {"part-00000.parquet": [1, 2], "part-00001.parquet": [3]})
    prefix = f"lake/{partition}/"
    assert [k for k in aws.keys(prefix) if not k.endswith("/")] == [
        f"{prefix}part-00000.parquet", f"{prefix}part-00001.parquet"]

    _write_partition(s3_lake, {"part-00000.parquet": [7]})

    files = [k for k in aws.keys(prefix) if not k.endswith("/")]
    assert files == [f"{prefix}part-00000.parquet"], "the old part-00001 must be gone"
    assert _read_s3_parquet(aws, files[0]).column("v").to_pylist() == [7]
    staging = [k for k in aws.keys("lake/stage/user_purchase/_staging/") if not k.endswith("/")]
    assert staging == [], f"staged objects left behind: {staging}"
    assert s3_lake.uri(partition) == f"s3://{aws.bucket}/lake/stage/user_purchase/insert_date={DAY}"


def test_a_failed_write_keeps_the_published_partition(aws, s3_lake):
    partition = _write_partition(s3_lake, {"part-00000.parquet": [1, 2]})
    with pytest.raises(RuntimeError, match="extraction broke"):
        with s3_lake.staged_directory(partition) as staging:
            with ParquetFileWriter(s3_lake, f"{staging.path}/part-00000.parquet", SCHEMA) as writer:
                writer.write(pa.table({"v": [99]}, schema=SCHEMA))
            raise RuntimeError("extraction broke")
    assert _read_s3_parquet(aws, f"lake/{partition}/part-00000.parquet").column("v").to_pylist() == [1, 2]
    assert [k for k in aws.keys("lake/stage/user_purchase/_staging/") if not k.endswith("/")] == []


def test_list_files_open_input_file_and_text_round_trip(aws, s3_lake):
    table = pa.table({"v": list(range(1000))}, schema=SCHEMA)
    partition = s3_lake.partition_path("movie_review_raw", DAY)
    aws.put(f"lake/{partition}/part-00000.parquet", _parquet_bytes(table, row_group_size=300))
    aws.put(f"lake/{partition}/_SUCCESS", b"")

    assert s3_lake.list_files(partition) == [f"{partition}/_SUCCESS", f"{partition}/part-00000.parquet"]
    assert s3_lake.list_files(partition, ".parquet") == [f"{partition}/part-00000.parquet"]
    assert s3_lake.list_files("raw/movie_review/insert_date=2099-01-01") == []
    with s3_lake.open_input_file(f"{partition}/part-00000.parquet") as source:
        parquet = pq.ParquetFile(source)
        assert parquet.metadata.num_row_groups == 4
        assert parquet.read().equals(table)

    s3_lake.write_text("models/sentiment/current.json", json.dumps({"version": "v1"}))
    assert json.loads(aws.get("lake/models/sentiment/current.json")) == {"version": "v1"}
    assert s3_lake.exists("models/sentiment/current.json")
    assert not s3_lake.exists("models/sentiment/missing.json")
    assert json.loads(s3_lake.read_text("models/sentiment/current.json")) == {"version": "v1"}


def test_publish_copies_nested_directories_like_a_saved_model(aws, s3_lake):
    with s3_lake.staged_directory("models/sentiment/unversioned") as staging:
        s3_lake.write_text(f"{staging.path}/ubm_model.json", "{}")
        s3_lake.write_text(f"{staging.path}/pipeline/metadata/part-00000", "meta")
        s3_lake.write_text(f"{staging.path}/pipeline/stages/0_tok/metadata/part-00000", "stage")
        staging.final = "models/sentiment/v1"
    files = [k for k in aws.keys("lake/models/sentiment/") if not k.endswith("/")]
    assert files == [
        "lake/models/sentiment/v1/pipeline/metadata/part-00000",
        "lake/models/sentiment/v1/pipeline/stages/0_tok/metadata/part-00000",
        "lake/models/sentiment/v1/ubm_model.json",
    ]


def _parquet_bytes(table: pa.Table, row_group_size: int) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    return buffer.getvalue()


# -- the assets on S3: landing -> movie_review_raw, OLTP -> user_purchase_staging --------------------

SEED_FROM, SEED_TO = dt.date(2022, 1, 1), dt.date(2022, 1, 4)


@pytest.fixture(scope="module")
def seeded(pg_server, tmp_path_factory):
    """A seeded OLTP database (scale 0.05) and the vendor's review files, as `ubm seed` makes them."""
    from ubm_platform.seed.generator import seed

    name = f"aws_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_server.get_uri(database=name)
    landing = tmp_path_factory.mktemp("landing")
    with psycopg.connect(dsn) as conn:
        seed(conn, landing, SEED_FROM, SEED_TO, scale=0.05)
    return dsn, landing


def _payments(dsn: str, day: str) -> dict[int, Decimal]:
    """payment_id -> amount of the day's payments, straight from PostgreSQL (not the platform's query)."""
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(
            "SELECT payment_id, amount FROM payment WHERE (payment_date AT TIME ZONE 'UTC')::date = %s::date",
            (day,),
        ).fetchall())


@pytest.mark.parametrize("sent_as", ["utf-8", "utf-16", "header-only"])
def test_movie_review_raw_reads_the_vendor_file_from_s3_landing(aws, s3_lake, seeded, sent_as):
    from ubm_platform.defs.movie_review.assets import movie_review_raw

    dsn, landing_dir = seeded
    source = landing_dir / "movie_review" / DAY / "movie_review.csv"
    text = source.read_text(encoding="utf-8")
    if sent_as == "header-only":
        text = text.splitlines(keepends=True)[0]
    aws.put(f"vendor/movie_review/{DAY}/movie_review.csv", text.encode(sent_as if sent_as == "utf-16" else "utf-8"))
    landing = LandingResource(root=f"s3://{aws.bucket}/vendor", endpoint_url=aws.endpoint, region=aws.region)
    expected = set() if sent_as == "header-only" else {(row["review_id"], int(row["cid"])) for row in valid_reviews(source)}
    assert expected or sent_as == "header-only", "the seeded day has reviews"

    result = materialize(
        [movie_review_raw], partition_key=DAY,
        resources={"landing": landing, "lake": s3_lake, "oltp": OltpPostgresResource(dsn=dsn)},
    )

    assert result.success
    keys = [k for k in aws.keys(f"lake/raw/movie_review/insert_date={DAY}/") if k.endswith(".parquet")]
    landed = pa.concat_tables([_read_s3_parquet(aws, k) for k in keys])
    assert {(r["review_id"], r["cid"]) for r in landed.select(["review_id", "cid"]).to_pylist()} == expected
    assert landed.num_rows == len(expected)
    metadata = result.asset_materializations_for_node("movie_review_raw")[0].metadata
    assert metadata["location"].path == f"s3://{aws.bucket}/lake/raw/movie_review/insert_date={DAY}"
    assert metadata["encoding"].value == ("UTF-16 LE" if sent_as == "utf-16" else "UTF-8")
    has_reviews = next(e for e in result.get_asset_check_evaluations() if e.check_name == "has_reviews")
    assert has_reviews.passed == (sent_as != "header-only")  # a warning: the quiet day is landed all the same


def test_movie_review_raw_names_the_missing_s3_file(aws, s3_lake, seeded):
    from ubm_platform.defs.movie_review.assets import movie_review_raw

    landing = LandingResource(root=f"s3://{aws.bucket}/vendor", endpoint_url=aws.endpoint, region=aws.region)
    result = materialize(
        [movie_review_raw], partition_key="2022-01-03", raise_on_error=False,
        resources={"landing": landing, "lake": s3_lake, "oltp": OltpPostgresResource(dsn=seeded[0])},
    )
    assert not result.success
    failure = result.failure_data_for_node("movie_review_raw")
    assert f"s3://{aws.bucket}/vendor/movie_review/2022-01-03/movie_review.csv" in str(failure.error)


def test_user_purchase_staging_extracts_to_s3_and_registers_the_spectrum_partition(aws, s3_lake, seeded, fake_redshift):
    from ubm_platform.defs.user_purchase.assets import user_purchase_staging

    dsn, _landing = seeded
    state, make_warehouse = fake_redshift
    expected = _payments(dsn, DAY)
    assert len(expected) >= 2, "the seeded day has payments"

    result = materialize(
        [user_purchase_staging], partition_key=DAY,
        resources={"oltp": OltpPostgresResource(dsn=dsn), "lake": s3_lake,
                   "warehouse": make_warehouse()},
    )

    assert result.success
    prefix = f"lake/stage/user_purchase/insert_date={DAY}/"
    keys = [k for k in aws.keys(prefix) if not k.endswith("/")]
    assert keys == [f"{prefix}part-00000.parquet"]
    table = _read_s3_parquet(aws, keys[0])
    from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA

    assert table.schema.equals(USER_PURCHASE_SCHEMA, check_metadata=False)
    assert dict(zip(table.column("payment_id").to_pylist(), table.column("amount").to_pylist())) == expected
    # Spectrum now points at exactly the prefix the data was published to.
    assert state.partitions == {("user_purchase_staging", DAY): f"s3://{aws.bucket}/{prefix}"}


def test_extraction_streams_to_s3_in_bounded_row_groups(aws, s3_lake, seeded):
    from ubm_platform.defs.oltp_extract import extract_partition
    from ubm_platform.defs.user_purchase.extract import USER_PURCHASE

    dsn, _landing = seeded
    days = [(SEED_FROM + dt.timedelta(days=i)).isoformat() for i in range((SEED_TO - SEED_FROM).days + 1)]
    busiest = max(((d, len(_payments(dsn, d))) for d in days), key=lambda item: item[1])
    day, payments = busiest
    assert payments >= 4
    relative = f"{s3_lake.partition_path('user_purchase_staging', day)}/part-00000.parquet"
    with OltpPostgresResource(dsn=dsn).connect_arrow() as conn, s3_lake.open_output(relative) as sink:
        rows = extract_partition(conn, USER_PURCHASE, day, sink, batch_bytes=256).rows  # a couple of rows per batch

    assert rows == payments
    with s3_lake.open_input_file(relative) as source:
        metadata = pq.ParquetFile(source).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sum(sizes) == payments
    assert len(sizes) >= 2 and max(sizes) <= 3, f"one row group per batch expected, got {sizes}"


# -- UBM_ENV=aws: the resource set from environment variables ----------------------------------------

AWS_ENV = {
    "AWS_REGION": "eu-west-1",
    "UBM_S3_BUCKET": "ubm-lake",
    "UBM_S3_PREFIX": "prod",
    "UBM_OLTP_DSN": "postgresql://ubm:oltp-secret@oltp.internal:5432/pagila",
    "UBM_SPARK_MODE": "emr_steps",
    "UBM_EMR_CLUSTER_ID": "j-ABC123",
    "UBM_REDSHIFT_HOST": "ubm.abc.eu-west-1.redshift.amazonaws.com",
    "UBM_REDSHIFT_DATABASE": "dev",
    "UBM_REDSHIFT_USER": "ubm_loader",
    "UBM_REDSHIFT_PASSWORD": "redshift-secret",
    "UBM_SPECTRUM_IAM_ROLE_ARN": "arn:aws:iam::123456789012:role/ubm-spectrum",
}


@pytest.fixture
def aws_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("UBM_") or name == "AWS_REGION":
            monkeypatch.delenv(name)

    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return apply


def test_missing_variables_are_reported_together(aws_env):
    from ubm_platform.resources.aws import AwsConfigError, aws_resources
    from ubm_platform.settings import load_settings

    aws_env(UBM_SPARK_MODE="emr_serverless", UBM_S3_BUCKET="Not_A_Bucket", UBM_EMR_PYTHON_ARCHIVE="/tmp/env.tar.gz")
    with pytest.raises(AwsConfigError) as error:
        aws_resources(load_settings(), oltp=OltpPostgresResource(dsn="postgresql://x"))
    message = str(error.value)
    for name in ("AWS_REGION", "UBM_OLTP_DSN", "UBM_REDSHIFT_DATABASE", "UBM_REDSHIFT_USER",
                 "UBM_SPECTRUM_IAM_ROLE_ARN", "UBM_EMR_SERVERLESS_APP_ID", "UBM_EMR_EXECUTION_ROLE_ARN",
                 "UBM_REDSHIFT_HOST", "UBM_REDSHIFT_PASSWORD"):
        assert name in message
    assert "UBM_EMR_CLUSTER_ID" not in message, "not needed in emr_serverless mode"
    assert "UBM_S3_BUCKET='Not_A_Bucket'" in message
    assert "UBM_EMR_PYTHON_ARCHIVE='/tmp/env.tar.gz' (not an s3://bucket/key.tar.gz)" in message
    assert "docs/aws.md" in message


def test_aws_resources_use_env_vars_for_settings_and_secrets(aws_env):
    from ubm_platform.environments import aws_resources, local_resources
    from ubm_platform.resources.emr import EmrStepsSparkResource
    from ubm_platform.resources.redshift import RedshiftWarehouseResource
    from ubm_platform.settings import load_settings

    aws_env(**AWS_ENV, UBM_EMR_PYTHON_ARCHIVE="s3://ubm-lake/prod/python/ubm-jobs-py311.tar.gz")
    settings = load_settings()
    resources = aws_resources(settings)  # environments.py: resources/aws.py's set plus the shared ones

    assert set(resources) == set(local_resources(settings))
    lake, landing, spark, warehouse = (resources[k] for k in ("lake", "landing", "spark", "warehouse"))
    assert lake.root == "s3://ubm-lake/prod" and landing.root == "s3://ubm-lake/prod/landing"
    assert isinstance(spark, EmrStepsSparkResource) and isinstance(warehouse, RedshiftWarehouseResource)
    assert spark.code_uri == "s3://ubm-lake/prod/code"
    # Secrets stay environment-variable references until the resource is used.
    assert isinstance(warehouse.password, EnvVar) and warehouse.password.env_var_name == "UBM_REDSHIFT_PASSWORD"
    assert "redshift-secret" not in repr(resources) and "oltp-secret" not in repr(resources)
    assert isinstance(spark.cluster_id, EnvVar)
    assert warehouse.process_config_and_initialize().password == "redshift-secret"
    assert spark.process_config_and_initialize().cluster_id == "j-ABC123"
    assert spark.process_config_and_initialize().python_archive_uri == "s3://ubm-lake/prod/python/ubm-jobs-py311.tar.gz"


def test_iam_mode_needs_no_password(aws_env):
    from ubm_platform.resources.aws import aws_resources
    from ubm_platform.settings import load_settings

    env = {k: v for k, v in AWS_ENV.items() if k not in ("UBM_REDSHIFT_PASSWORD", "UBM_REDSHIFT_HOST")}
    env.update(UBM_REDSHIFT_IAM="1", UBM_REDSHIFT_CLUSTER_ID="ubm", UBM_SPARK_MODE="emr_serverless",
               UBM_EMR_SERVERLESS_APP_ID="00abc", UBM_EMR_EXECUTION_ROLE_ARN="arn:aws:iam::123456789012:role/job")
    aws_env(**env)
    resources = aws_resources(load_settings(), oltp=OltpPostgresResource(dsn="postgresql://x"))
    warehouse = resources["warehouse"].process_config_and_initialize()
    assert warehouse.iam and warehouse.password == "" and warehouse.cluster_identifier == "ubm"
    assert type(resources["spark"]).__name__ == "EmrServerlessSparkResource"


def test_definitions_load_with_ubm_env_aws_without_touching_aws(tmp_path):
    """The same assets, the AWS resources: `dagster` loads the code location with UBM_ENV=aws."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UBM_", "AWS_", "DAGSTER_"))}
    env.update(AWS_ENV, UBM_ENV="aws", UBM_HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true")
    code = (
        "from ubm_platform.definitions import defs\n"
        "repo = defs.get_repository_def()\n"
        "print(sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()))\n"
        "print({k: type(v).__name__ for k, v in sorted(defs.resources.items())})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "user_behavior_metric" in out.stdout
    assert "'spark': 'EmrStepsSparkResource'" in out.stdout
    assert "'warehouse': 'RedshiftWarehouseResource'" in out.stdout
    assert "'lake': 'LakeIOManager'" in out.stdout


def test_every_variable_is_documented_and_every_iam_policy_is_valid():
    import re

    from ubm_platform.settings import SETTINGS

    declared = {s.name for s in SETTINGS if "aws" in s.environments}
    source = (PROJECT_ROOT / "ubm_platform/resources/aws.py").read_text()
    read = set(re.findall(r'"((?:UBM|AWS)_[A-Z0-9_]+)"', source))  # every variable name aws.py spells out
    assert read <= declared, f"read but not declared for aws in settings.SETTINGS: {read - declared}"
    doc = (PROJECT_ROOT / "docs/aws.md").read_text()
    assert [name for name in sorted(declared) if f"| `{name}` |" not in doc] == []
    policies = sorted((PROJECT_ROOT / "docs/iam").glob("*.json"))
    assert len(policies) >= 5
    for path in policies:
        policy = json.loads(path.read_text())
        assert policy["Version"] == "2012-10-17" and policy["Statement"], path.name
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow" and statement["Action"], path.name
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            assert "*" not in resources and all(r.startswith(("arn:aws:", "${")) for r in resources), path.name
