"""The Spark jobs where the driver and the executors are different JVMs: a Spark standalone cluster.

The cluster is a master and two workers started from pyspark's own `bin/spark-class`, each its own JVM with
its own work directory, bound to 127.0.0.1. The platform's assets train and classify on it through
`SparkSubmitResource(master="spark://...")`: spark-submit with the command line, jar, py-files and lake
paths every environment uses (the EMR steps' too: test_entry_point.py). What they give is compared with
local mode, and the event log shows which executors did the work.

UBM_SPARK_TEST_MASTER=spark://host:port runs this test against an existing cluster instead (the pre-flight
check before EMR, docs/aws.md); UBM_SPARK_TEST_WORK_DIR must then name a folder that this machine and every
executor read and write at the same path (a shared mount), because the lake is there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ubm_platform.defs.movie_review.assets import classified_movie_review
from ubm_platform.defs.movie_review.validation import RAW_REVIEW_SCHEMA
from ubm_platform.defs.sentiment.assets import sentiment_model
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.spark import ENTRY_POINT, SparkSubmitResource, jvm_udfs_jar, load_spark_job
from ubm_platform.resources.warehouse import DuckDBWarehouseResource
from ubm_platform.seed.reviews import make_reviews
from ubm_platform_tests.conftest import SMALL_TRAINING_PARAMS, free_port, lake_upstream, write_labelled_reviews

MASTER_VARIABLE, WORK_DIR_VARIABLE = "UBM_SPARK_TEST_MASTER", "UBM_SPARK_TEST_WORK_DIR"
DAYS = {"2022-03-01": 140, "2022-03-02": 90}
TRAINING_ROWS, EVALUATION_ROWS = 900, 600


@dataclass
class Cluster:
    master_url: str
    work_dir: Path  # seen at this path by this machine and every executor
    worker_uis: set[str] = field(default_factory=set)  # host:port of each worker's web UI (ours only)
    worker_dirs: list[Path] = field(default_factory=list)


@contextmanager
def _daemon(command: list[str], log: Path):
    """A JVM daemon in its own process group, stopped (TERM, then KILL) however the test ends."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"})
    try:
        yield process
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def _master_state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return json.load(response)


@contextmanager
def _local_cluster(root: Path, workers: int = 2):
    import pyspark

    spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    master_url = f"spark://127.0.0.1:{port}"
    cluster = Cluster(master_url, root / "shared")
    cluster.work_dir.mkdir(parents=True)
    with ExitStack() as stack:
        stack.enter_context(_daemon([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                     "--port", str(port), "--webui-port", str(ui_port)], root / "master.log"))
        for i in range(workers):
            worker_ui, work = free_port(), root / f"worker-{i}"
            work.mkdir()
            cluster.worker_uis.add(f"127.0.0.1:{worker_ui}")
            cluster.worker_dirs.append(work)
            stack.enter_context(_daemon([spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                         "--cores", "1", "--memory", "1536m", "--work-dir", str(work),
                                         "--webui-port", str(worker_ui), master_url], root / f"worker-{i}.log"))
        deadline = time.monotonic() + 90
        while True:
            try:
                alive = [w for w in _master_state(ui_port)["workers"] if w["state"] == "ALIVE"]
                if len(alive) == workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(f"{p.name}: {p.read_text()[-1500:]}" for p in sorted(root.glob("*.log")))
                raise TimeoutError(f"the standalone cluster did not come up with {workers} workers:\n{logs}")
            time.sleep(0.5)
        yield cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.environ.get(MASTER_VARIABLE):
        work_dir = os.environ.get(WORK_DIR_VARIABLE)
        if not work_dir:
            pytest.fail(f"{MASTER_VARIABLE} is set: {WORK_DIR_VARIABLE} must name a folder every executor sees")
        yield Cluster(os.environ[MASTER_VARIABLE], Path(work_dir) / f"ubm-cluster-test-{os.getpid()}")
        return
    with _local_cluster(tmp_path_factory.mktemp("standalone")) as started:
        yield started


def _reviews(seed: int, n: int) -> tuple[list[str], list[int]]:
    texts, scores = make_reviews(np.random.default_rng(seed), [f"film {i}" for i in range(n)], n)
    return texts, [int(s) for s in scores]


def _event_logs(folder: Path) -> dict[str, list[dict]]:
    """Each application's event log (one JSON event a line, uncompressed), by the application's name: a file,
    or a folder of numbered files (`eventlog_v2_<app>/events_<n>_<app>`, the rolling layout)."""
    logs = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.endswith(".crc"):  # Hadoop's local checksums
            continue
        parts = sorted((p for p in entry.iterdir() if p.name.startswith("events_") and p.suffix != ".crc"),
                       key=lambda p: int(p.name.split("_")[1])) if entry.is_dir() else [entry]
        events = [json.loads(line) for part in parts for line in part.read_text().splitlines() if line.strip()]
        start = next(e for e in events if e["Event"] == "SparkListenerApplicationStart")
        logs[start["App Name"]] = events
    return logs


def _tasks_by_worker(events: list[dict]) -> dict[str, int]:
    """Tasks finished per worker, a worker named by the host:port of its web UI (in its executors' log URLs)."""
    worker_of = {e["Executor ID"]: urlparse(e["Executor Info"]["Log Urls"]["stdout"]).netloc
                 for e in events if e["Event"] == "SparkListenerExecutorAdded"}
    tasks: dict[str, int] = {}
    for e in events:
        if e["Event"] == "SparkListenerTaskEnd" and e["Task End Reason"]["Reason"] == "Success":
            worker = worker_of[e["Task Info"]["Executor ID"]]
            tasks[worker] = tasks.get(worker, 0) + 1
    return tasks


def _spark_properties(events: list[dict]) -> dict[str, str]:
    return next(e for e in events if e["Event"] == "SparkListenerEnvironmentUpdate")["Spark Properties"]


def _sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["review_id"])


def test_training_and_classification_on_a_standalone_cluster_match_local_mode(cluster, spark, tmp_path):
    events = cluster.work_dir / "spark-events"
    events.mkdir(parents=True)
    resource = SparkSubmitResource(master=cluster.master_url, driver_memory="1g", spark_conf={
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(), "spark.eventLog.compress": "false",
        # schedule only once every executor has registered, so that each gets a share of the tasks
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
    })
    lake = LakeIOManager(root=str(cluster.work_dir / "lake"))
    training = cluster.work_dir / "labelled.csv"
    write_labelled_reviews(training, TRAINING_ROWS, seed=5)
    review_texts, review_scores = _reviews(9, sum(DAYS.values()))
    start = 0
    for day, n in DAYS.items():
        folder = cluster.work_dir / "lake" / f"raw/movie_review/insert_date={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({
            "review_id": [f"{day}-{i:04d}" for i in range(n)], "cid": [1 + i % 23 for i in range(n)],
            "film_id": [1 + i % 7 for i in range(n)], "score": review_scores[start:start + n],
            "review_str": review_texts[start:start + n], "source_line": list(range(2, n + 2)),
        }, schema=RAW_REVIEW_SCHEMA), folder / "part-00000.parquet")
        start += n

    # training on the cluster, through the platform's asset
    trained = materialize(
        [*lake_upstream("movie_review_raw"), sentiment_model], instance=DagsterInstance.ephemeral(),
        resources={"lake": lake, "spark": resource},
        run_config={"ops": {"sentiment_model": {"config": {"training_data": str(training),
                                                            "training_params": SMALL_TRAINING_PARAMS}}}},
    )
    (model,) = trained.asset_materializations_for_node("sentiment_model")
    cluster_model = lake.local_path(lake.model_path(model.metadata["model_version"].value))

    # training in local mode on the same rows: the same model, up to floating-point order
    trainer = load_spark_job("train_sentiment_model.py")
    local_model = tmp_path / "local-model"
    local_meta = trainer.run(spark, str(training), str(local_model), params=json.dumps(SMALL_TRAINING_PARAMS))
    assert local_meta["version"] == model.metadata["model_version"].value, "same data and parameters read"
    classifier = load_spark_job("classify_movie_review.py")
    held_out_texts, _ = _reviews(13, EVALUATION_ROWS)
    evaluation = spark.createDataFrame([(str(i), i, t) for i, t in enumerate(held_out_texts)],
                                       "review_id STRING, cid BIGINT, review_str STRING")
    by_model = [{r["review_id"]: r["sentiment"] for r in classifier.classify(spark, evaluation, str(path)).collect()}
                for path in (cluster_model, local_model)]
    agreeing = sum(by_model[0][k] == by_model[1][k] for k in by_model[0])
    assert len(by_model[0]) == EVALUATION_ROWS and agreeing >= 0.995 * EVALUATION_ROWS, agreeing

    # classification on the cluster, through the platform's asset, with the cluster-trained (current) model
    classified = materialize(
        [*lake_upstream("movie_review_raw", "sentiment_model"), classified_movie_review],
        instance=DagsterInstance.ephemeral(),
        tags={ASSET_PARTITION_RANGE_START_TAG: min(DAYS), ASSET_PARTITION_RANGE_END_TAG: max(DAYS)},
        resources={"lake": lake, "spark": resource,
                   "warehouse": DuckDBWarehouseResource(path=str(tmp_path / "warehouse.duckdb"))},
    )
    materializations = classified.asset_materializations_for_node("classified_movie_review")
    assert {m.partition: m.metadata["dagster/row_count"].value for m in materializations} == DAYS
    assert all(m.metadata["model_applied_by"].value.startswith("LinearTextScorer(")
               for m in materializations), "spark_jobs/jvm's scorer ran on the executors"

    # the same rows as local mode: same classes, probabilities within 1e-9
    for day in DAYS:
        on_cluster = _sorted_rows(pq.read_table(lake.local_path(lake.partition_path("classified_movie_review", day))))
        raw = spark.read.parquet(str(cluster.work_dir / "lake" / f"raw/movie_review/insert_date={day}"))
        local = sorted((r.asDict() for r in classifier.classify(spark, raw, str(cluster_model), carry=("film_id",))
                        .collect()), key=lambda r: r["review_id"])
        assert [{k: v for k, v in r.items() if k != "probability"} for r in on_cluster] == [
            {k: v for k, v in r.items() if k != "probability"} for r in local], day
        assert max(abs(a["probability"] - b["probability"]) for a, b in zip(on_cluster, local)) <= 1e-9, day

    # the executors did the work, with the jar and the entry point they were shipped
    logs = _event_logs(events)
    assert sorted(name.split()[1] for name in logs) == ["classify_movie_review.py", "train_sentiment_model.py"], logs
    for name, app in logs.items():
        tasks = _tasks_by_worker(app)
        assert len(tasks) >= 2 and min(tasks.values()) > 0, (name, tasks)
        if cluster.worker_uis:
            assert set(tasks) == cluster.worker_uis, (name, tasks)
        properties = _spark_properties(app)
        assert properties["spark.submit.pyFiles"].endswith(ENTRY_POINT.name), name
        assert properties["spark.jars"].endswith(jvm_udfs_jar().name), name
    for work in cluster.worker_dirs:
        fetched = {p.name for p in work.rglob("*") if p.is_file()}
        assert {ENTRY_POINT.name, jvm_udfs_jar().name} <= fetched, (work, sorted(fetched)[:20])

