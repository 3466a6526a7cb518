"""Spark on EMR (steps on a cluster, and EMR Serverless) under Dagster Pipes, against moto, with the test
playing AWS.

moto accepts the API calls but never runs anything (a step stays PENDING/RUNNING, a serverless job
run is SUCCESS at once). So a `RemoteSide` thread plays the service: it waits for the job to appear
in moto's backend, checks what was submitted, does the job's work and moves the job to its end state.
The job's work is the uploaded script's own main() on local Spark, with the job's own arguments (s3://
paths mapped to a local mirror, since Spark cannot read s3:// here) and, as the Spark driver's
environment, the Pipes variables the resource put in the request: the script reads the injected
context from (moto) S3 and writes its messages there, and the resource's reader reads them back.
The resources run inside a real Dagster materialization (Pipes needs the asset's context).
"""

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import shlex
import sys
import threading
import time

import numpy as np
import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    materialize,
)
from dagster_pipes import decode_param

from ubm_platform.resources.emr import EmrServerlessSparkResource, EmrStepsSparkResource, split_s3_uri
from ubm_platform.resources.spark import (
    ENTRY_POINT,
    SparkJobError,
    SparkJobResource,
    job_command_line,
    jvm_udfs_jar,
    load_entry_point,
)
from ubm_platform.settings import SPARK_JOBS_DIR
from ubm_platform_tests.conftest import lake_upstream, save_tiny_sentiment_model
from ubm_platform_tests.spark_jobs.test_entry_point import SAMPLE_ARGUMENTS

ACCOUNT_ID, REGION = "123456789012", "us-east-1"  # moto's account; the region of conftest.py's `aws`

def test_run_job_on_emr_needs_the_assets_context():
    resource = EmrStepsSparkResource(code_uri="s3://b/code", runs_uri="s3://b/runs", cluster_id="j-1")
    with pytest.raises(ValueError, match=r"needs the asset's context: spark.run_job\('classify_movie_review.py', context=context"):
        resource.run_job("classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])


def test_a_packed_python_environment_runs_the_driver_and_the_executors():
    """UBM_EMR_PYTHON_ARCHIVE: Spark unpacks it as ./environment and runs its python (with dagster-pipes)."""
    archive = "s3://b/python/ubm-jobs.tar.gz"
    steps = EmrStepsSparkResource(code_uri="s3://b/code", runs_uri="s3://b/runs", cluster_id="j-1",
                                  python_archive_uri=archive)
    confs = steps.python_environment_conf()
    assert confs["spark.archives"] == f"{archive}#environment"
    assert confs["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == confs["spark.executorEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    serverless = EmrServerlessSparkResource(code_uri="s3://b/code", runs_uri="s3://b/runs", application_id="a1",
                                            execution_role_arn=ROLE, python_archive_uri=archive)
    confs = serverless.python_environment_conf()
    assert confs["spark.archives"] == f"{archive}#environment"
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON"] == "./environment/bin/python"
    assert confs["spark.executorEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    no_archive = EmrStepsSparkResource(code_uri="s3://b/code", runs_uri="s3://b/runs", cluster_id="j-1")
    assert no_archive.python_environment_conf() == {}


# -- playing AWS's part ------------------------------------------------------------------------------


class RemoteSide(threading.Thread):
    """Waits for a job to show up in moto's backend, then does `behave(job)` in this thread."""

    def __init__(self, find, behave, wait_s: float = 30.0):
        super().__init__(daemon=True)
        self.find, self.behave, self.wait_s = find, behave, wait_s
        self.error: BaseException | None = None
        self.job = None

    def run(self):
        try:
            deadline = time.monotonic() + self.wait_s
            while (job := self.find()) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("no job was submitted")
                time.sleep(0.02)
            self.job = job
            self.behave(job)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self):
        self.join(timeout=60)
        assert not self.is_alive(), "the remote side did not finish"
        if self.error is not None:
            raise self.error
        return self.job


def _uploaded(aws, uri: str, local_file) -> bytes:
    """An uploaded file, checked against the checkout's by content hash."""
    bucket, key = split_s3_uri(uri)
    assert bucket == aws.bucket
    body = aws.get(key)
    local = local_file.read_bytes()
    assert key == f"ubm/code/{hashlib.sha256(local).hexdigest()}/{local_file.name}" and body == local
    return body


PIPES_VARIABLES = ("DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES")


def _driver_env(confs: list[str], prefix: str) -> dict[str, str]:
    """The Spark driver's environment from `key=value` confs (`spark.yarn.appMasterEnv.X=...` and the like)."""
    env = {k[len(prefix):]: v for k, _, v in (c.partition("=") for c in confs) if k.startswith(prefix)}
    assert sorted(env) == sorted(PIPES_VARIABLES), env
    return env


def _check_pipes_locations(aws, env: dict[str, str], script: str) -> None:
    """Context and messages live under the run's prefix, where the job role may read and write."""
    run_prefix = f"ubm/spark-runs/{script[:-3]}/"
    context, messages = decode_param(env["DAGSTER_PIPES_CONTEXT"]), decode_param(env["DAGSTER_PIPES_MESSAGES"])
    assert context["bucket"] == messages["bucket"] == aws.bucket
    assert re.fullmatch(re.escape(run_prefix) + r"[^/]+/context-[A-Za-z]+/context\.json", context["key"]), context
    assert re.fullmatch(re.escape(run_prefix) + r"[^/]+/messages", messages["key_prefix"]), messages


@contextlib.contextmanager
def _as_the_driver(aws, env: dict[str, str]):
    """The job's process environment: the Pipes variables, and boto3's S3 endpoint pointed at moto. A Spark
    driver is a new process each time; here jobs share one, so dagster_pipes' per-process context is reset."""
    from dagster_pipes import PipesContext

    saved = {k: os.environ.get(k) for k in (*env, "AWS_ENDPOINT_URL_S3")}
    os.environ.update({**env, "AWS_ENDPOINT_URL_S3": aws.endpoint})
    PipesContext._instance = None
    try:
        yield
    finally:
        PipesContext._instance = None
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _report_through_pipes(aws, env: dict[str, str], summary: dict | None, seen: dict | None = None) -> None:
    """A job that only opens Pipes the way the scripts do (their own helper) and reports `summary`."""
    with _as_the_driver(aws, env), load_entry_point().open_pipes() as pipes:
        if seen is not None:
            seen.update(asset_key=pipes.asset_key, partition_key=pipes.partition_key, run_id=pipes.run_id)
        if summary is not None:
            pipes.report_custom_message(summary)


def _emr_backend():
    from moto.emr.models import emr_backends

    return emr_backends[ACCOUNT_ID][REGION]


def _new_step(cluster_id: str):
    def find():
        steps = [s for s in _emr_backend().clusters[cluster_id].steps if s.state in ("PENDING", "RUNNING")]
        return steps[-1] if steps else None

    return find


def _end_step(step, state: str, failure: dict | None = None) -> None:
    step.failure_details = failure
    step.state = state


def _step_parts(step) -> tuple[str, list[str], dict[str, str], dict[str, str]]:
    """(script URI, the script's arguments, the driver's Pipes environment, the Spark settings) of a step,
    checking its shape."""
    args = list(step.args)
    assert step.jar == "command-runner.jar" and step.action_on_failure == "CONTINUE"
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    uri_at = next(i for i, a in enumerate(args) if a.startswith("s3://") and a.endswith(".py"))
    confs = args[3:uri_at]
    assert confs[::2] == ["--conf"] * (len(confs) // 2), "only --conf options before the script"
    assert "spark.sql.session.timeZone=UTC" in confs[1::2]
    # AddJobFlowSteps limits: Name 256 characters, each argument 10280 (EMR API reference).
    assert len(step.name) <= 256 and all(len(a) <= 10280 for a in args)
    return (args[uri_at], args[uri_at + 1:], _driver_env(confs[1::2], "spark.yarn.appMasterEnv."),
            dict(c.split("=", 1) for c in confs[1::2]))


@pytest.fixture
def step_failure_details(monkeypatch):
    """moto's describe_step has no FailureDetails; serve the ones a test sets on the step."""
    from moto.emr.models import Step
    from moto.emr.responses import ElasticMapReduceResponse
    from moto.core.responses import ActionResult

    status = Step.status.fget
    monkeypatch.setattr(Step, "status", property(
        lambda self: {**status(self), **({"FailureDetails": self.failure_details}
                                         if getattr(self, "failure_details", None) else {})}))

    def cancel_steps(self):  # not in moto 5.2.5: behave as EMR does for a running step
        cluster_id, step_ids = self._get_param("ClusterId"), self._get_param("StepIds", [])
        for step in self.backend.clusters[cluster_id].steps:
            if step.id in step_ids:
                step.state = "CANCELLED"
        return ActionResult({"CancelStepsInfoList": [{"StepId": s, "Status": "SUBMITTED"} for s in step_ids]})

    monkeypatch.setattr(ElasticMapReduceResponse, "cancel_steps", cancel_steps, raising=False)


@pytest.fixture
def cluster(aws, step_failure_details) -> str:
    return aws.client("emr").run_job_flow(
        Name="ubm-shared", ReleaseLabel="emr-7.5.0", LogUri=f"s3://{aws.bucket}/emr-logs/",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]


def _steps_resource(aws, cluster_id: str, **overrides) -> EmrStepsSparkResource:
    settings = dict(
        code_uri=f"s3://{aws.bucket}/ubm/code", runs_uri=f"s3://{aws.bucket}/ubm/spark-runs", region=aws.region,
        s3_endpoint_url=aws.endpoint, emr_endpoint_url=aws.endpoint, cluster_id=cluster_id,
        poll_interval_s=0.05, timeout_s=60,
    )
    return EmrStepsSparkResource(**{**settings, **overrides})


PARTITIONS = DailyPartitionsDefinition(start_date="2022-01-01")
DAY = "2022-01-02"


def _materialize(resource, script: str, arguments: dict, partition: str = DAY):
    """Run the resource from an asset as the platform's assets do; (run_job's return value, materialization metadata)."""
    returned = []

    @asset(name="spark_job", partitions_def=PARTITIONS)
    def spark_job(context: AssetExecutionContext, spark: SparkJobResource) -> MaterializeResult:
        summary = spark.run_job(script, context=context, **arguments)
        returned.append(summary)
        return MaterializeResult(metadata={
            k: MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in summary.items()})

    result = materialize([spark_job], partition_key=partition, resources={"spark": resource},
                         instance=DagsterInstance.ephemeral())
    (materialization,) = result.asset_materializations_for_node("spark_job")
    return returned[0], {k: v.value for k, v in materialization.metadata.items()}


@pytest.fixture(autouse=True)
def quick_pipes_close(monkeypatch):
    """Dagster's Pipes reader waits 10 s for a job that wrote no message at all; 1 s is enough on moto."""
    import dagster._core.pipes.utils as pipes_utils

    monkeypatch.setattr(pipes_utils, "WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL", 1)


# -- EMR steps ----------------------------------------------------------------------------------------


class _NoStopSession:
    """The test's SparkSession for a script's main(): main() stops its session, the test's must live on."""

    def __init__(self, spark):
        self._spark = spark

    def stop(self):
        pass

    def __getattr__(self, name):
        return getattr(self._spark, name)


class _SessionClass:
    """Stands in for the SparkSession class a script's main() builds its session with."""

    def __init__(self, spark):
        self._spark = spark
        self.builder = self

    def appName(self, _name):
        return self

    def getOrCreate(self):
        return _NoStopSession(self._spark)

    def getActiveSession(self):
        return self._spark


@contextlib.contextmanager
def _importable_as(name: str, module):
    saved = sys.modules.get(name)
    sys.modules[name] = module
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


def _load(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with _importable_as(name, module):
        spec.loader.exec_module(module)
    return module


def _run_script_locally(aws, spark, mirror, script: str, uri: str, app_args: list[str], env: dict[str, str],
                        confs: dict[str, str]) -> None:
    """What the Spark driver would do: the uploaded script, through the uploaded entry point (its py-files),
    with the job's arguments, under Pipes."""
    code = mirror / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / script).write_bytes(_uploaded(aws, uri, SPARK_JOBS_DIR / script))
    (code / ENTRY_POINT.name).write_bytes(_uploaded(aws, confs["spark.submit.pyFiles"], ENTRY_POINT))

    def local(value: str) -> str:
        if not value.startswith("s3://"):
            return value
        bucket, key = split_s3_uri(value)
        return str(mirror / bucket / key)

    entry_point = _load(code / ENTRY_POINT.name, ENTRY_POINT.stem)
    with _importable_as(ENTRY_POINT.stem, entry_point):
        job = _load(code / script, f"uploaded_{script[:-3]}")
    entry_point.SparkSession = _SessionClass(spark)
    with _as_the_driver(aws, env), contextlib.redirect_stdout(io.StringIO()):
        entry_point.main(job.ARGUMENTS, job.run, [local(a) for a in app_args])


def _run_step_locally(aws, spark, mirror, script: str):
    def behave(step):
        uri, app_args, env, confs = _step_parts(step)
        _check_pipes_locations(aws, env, script)
        step.state = "RUNNING"
        _run_script_locally(aws, spark, mirror, script, uri, app_args, env, confs)
        _end_step(step, "COMPLETED")

    return behave


DAY = "2022-01-02"


def _prepare_lake(spark, lake_dir, n: int = 60, quiet: bool = False) -> tuple[list[str], list[int]]:
    """A day of raw reviews (Parquet, as movie_review_raw writes them; none on a quiet day) and a small
    sentiment model (a Spark ML PipelineModel with the ubm_model.json the scripts read) in a local
    stand-in of the lake."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ubm_platform.defs.movie_review.validation import RAW_REVIEW_SCHEMA
    from ubm_platform.seed.reviews import make_reviews

    texts, scores = make_reviews(np.random.default_rng(3), [f"film {i}" for i in range(n)], n)
    review_ids = [f"20220102-{i:05d}" for i in range(n)]
    cids = [1 + i % 17 for i in range(n)]
    raw = lake_dir / f"raw/movie_review/insert_date={DAY}"
    raw.mkdir(parents=True)
    landed = n if not quiet else 0
    pq.write_table(pa.table({
        "review_id": review_ids[:landed], "cid": cids[:landed], "film_id": list(range(landed)),
        "score": [int(x) for x in scores[:landed]], "review_str": texts[:landed], "source_line": list(range(2, landed + 2)),
    }, schema=RAW_REVIEW_SCHEMA), raw / "part-00000.parquet")
    save_tiny_sentiment_model(spark, texts, [int(x) for x in scores], lake_dir / "models/sentiment/sentiment-test")
    (lake_dir / STAGING_AREA).mkdir(parents=True)
    (lake_dir / STAGING_AREA / "partitions.json").write_text(
        json.dumps({"partitions": [{"key": DAY, "path": f"insert_date={DAY}"}]}))
    return review_ids[:landed], cids[:landed]


STAGING_AREA = "stage/classified_movie_review/_staging/run-1"


def _classify_arguments(aws) -> dict:
    lake = f"s3://{aws.bucket}/ubm"
    return {
        "input_path": f"{lake}/raw/movie_review",
        "partitions_uri": f"{lake}/{STAGING_AREA}/partitions.json",
        "output_path": f"{lake}/{STAGING_AREA}/classified",
        "model_dir": f"{lake}/models/sentiment/sentiment-test",
    }


def _check_classified(mirror, aws, review_ids, cids, summary, metadata) -> None:
    """The job's output against the input, and the summary against an independent count of the output."""
    import pyarrow.parquet as pq

    from ubm_platform.defs.movie_review.assets import CLASSIFIED_SCHEMA

    output = pq.read_table(mirror / aws.bucket / "ubm" / STAGING_AREA / "classified" / "partition_index=0")
    assert [(f.name, f.type) for f in output.schema] == [(f.name, f.type) for f in CLASSIFIED_SCHEMA], \
        "the Parquet Spectrum's classified_movie_review reads"
    assert sorted(zip(output.column("review_id").to_pylist(), output.column("cid").to_pylist())) == sorted(
        zip(review_ids, cids)), "every review classified once"
    labels = output.column("sentiment").to_pylist()
    by_sentiment = {s: labels.count(s) for s in ("negative", "neutral", "positive")}
    expected = {"rows": len(review_ids), "model_version": "sentiment-test", "by_sentiment": by_sentiment,
                "partitions": [{"key": DAY, "output": "partition_index=0", "rows": len(review_ids),
                                "by_sentiment": by_sentiment}],
                "applied_by": summary["applied_by"]}
    # the test's tiny model (a Tokenizer and HashingTF) is not one spark_jobs/jvm's scorer applies: said, not hidden
    assert summary["applied_by"].startswith("Spark ML stages (ubm.sentiment.LinearTextScorer cannot apply this model")
    assert summary == expected, "run_job returns the summary the script reported through Pipes"
    assert metadata == expected, "and it reaches the materialization's metadata"


def _message_chunks(aws, script: str) -> list[str]:
    return [k for k in aws.keys(f"ubm/spark-runs/{script[:-3]}/") if re.search(r"/messages/\d+\.json$", k)]


def test_step_runs_the_uploaded_script_under_pipes_and_returns_its_summary(aws, cluster, spark, tmp_path):
    """The daily classification as a step: the uploaded script's own main() on local Spark, under Pipes."""
    script = "classify_movie_review.py"
    mirror = tmp_path / "s3"
    review_ids, cids = _prepare_lake(spark, mirror / aws.bucket / "ubm")
    arguments = _classify_arguments(aws)
    remote = RemoteSide(_new_step(cluster), _run_step_locally(aws, spark, mirror, script))
    remote.start()

    summary, metadata = _materialize(_steps_resource(aws, cluster), script, arguments)

    step = remote.finish()
    _check_classified(mirror, aws, review_ids, cids, summary, metadata)
    _, app_args, _, confs = _step_parts(step)
    assert app_args == job_command_line(script, arguments)
    jars = [a.split("=", 1)[1] for a in step.args if a.startswith("spark.jars=")]
    assert len(jars) == 1 and re.fullmatch(r"s3://[^/]+/ubm/code/[0-9a-f]{64}/ubm-jvm-udfs-[0-9a-f]{16}\.jar", jars[0])
    assert aws.get(jars[0].split("/", 3)[3]) == jvm_udfs_jar().read_bytes(), "spark_jobs/jvm's jar, uploaded for the step"
    assert _message_chunks(aws, script), "the messages went through S3, under the run's prefix"
    assert not [k for k in aws.keys("ubm/spark-runs/") if k.endswith("context.json")], "the context is removed after the run"
    described = aws.client("emr").describe_step(ClusterId=cluster, StepId=step.id)["Step"]
    assert described["Status"]["State"] == "COMPLETED"


def _sync_to_s3(aws, mirror, prefix: str) -> None:
    """Copy the local mirror's files under `prefix` to moto's S3: what EMRFS would have read or written there."""
    root = mirror / aws.bucket
    for path in sorted((root / prefix).rglob("*")):
        if path.is_file() and not path.name.endswith(".crc"):  # local Hadoop's checksums; EMRFS writes none
            aws.put(str(path.relative_to(root)), path.read_bytes())


@pytest.mark.parametrize("quiet", [False, True], ids=["reviews", "quiet-day"])
def test_classified_movie_review_on_emr_steps_gets_its_metadata_through_pipes(
        aws, cluster, spark, tmp_path, fake_redshift, quiet):
    """The platform's own asset on the S3 lake with Spark as EMR steps: its materialization's metadata
    comes from the script's Pipes message and matches the published partition, also on a day without
    a review (an empty partition is published)."""
    import pyarrow.parquet as pq

    from ubm_platform.defs.movie_review.assets import classified_movie_review
    from ubm_platform.resources.lake import LakeIOManager

    script = "classify_movie_review.py"
    mirror = tmp_path / "s3"
    review_ids, _ = _prepare_lake(spark, mirror / aws.bucket / "ubm", quiet=quiet)
    _sync_to_s3(aws, mirror, "ubm")
    lake = LakeIOManager(root=f"s3://{aws.bucket}/ubm", endpoint_url=aws.endpoint, region=aws.region)
    lake.write_text("models/sentiment/current.json",
                    json.dumps({"version": "sentiment-test", "path": "models/sentiment/sentiment-test"}))
    state, make_warehouse = fake_redshift

    def behave(step):
        uri, app_args, env, confs = _step_parts(step)
        step.state = "RUNNING"
        partitions_file = split_s3_uri(app_args[app_args.index("--partitions") + 1])[1]
        (mirror / aws.bucket / partitions_file).parent.mkdir(parents=True, exist_ok=True)
        (mirror / aws.bucket / partitions_file).write_bytes(aws.get(partitions_file))  # the asset wrote it to S3
        _run_script_locally(aws, spark, mirror, script, uri, app_args, env, confs)
        _sync_to_s3(aws, mirror, split_s3_uri(app_args[app_args.index("--output") + 1])[1])
        _end_step(step, "COMPLETED")

    remote = RemoteSide(_new_step(cluster), behave)
    remote.start()
    result = materialize(
        [*lake_upstream("movie_review_raw", "sentiment_model"), classified_movie_review], partition_key=DAY, instance=DagsterInstance.ephemeral(),
        resources={"spark": _steps_resource(aws, cluster), "lake": lake, "warehouse": make_warehouse()},
    )
    remote.finish()

    prefix = f"ubm/stage/classified_movie_review/insert_date={DAY}/"
    published = [pq.read_table(io.BytesIO(aws.get(k))) for k in aws.keys(prefix) if k.endswith(".parquet")]
    labels = [label for table in published for label in table.column("sentiment").to_pylist()]
    assert published, "a partition is published, empty or not"
    assert len(labels) == len(review_ids), "the published partition holds every review"
    (materialization,) = result.asset_materializations_for_node("classified_movie_review")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert {s: metadata[f"{s}_reviews"] for s in ("negative", "neutral", "positive")} == {
        s: labels.count(s) for s in ("negative", "neutral", "positive")}
    assert metadata["model_version"] == "sentiment-test"
    assert state.partitions == {("classified_movie_review", DAY): f"s3://{aws.bucket}/{prefix}"}


def _complete_with(aws, summary: dict | None, seen: dict | None = None):
    def behave(step):
        _, _, env, _ = _step_parts(step)
        _report_through_pipes(aws, env, summary, seen)
        _end_step(step, "COMPLETED")

    return behave


def test_the_job_gets_the_assets_context_and_the_script_is_uploaded_once(aws, cluster):
    resource = _steps_resource(aws, cluster)
    script = "classify_movie_review.py"
    for n, day in ((1, "2022-01-02"), (2, "2022-01-03")):
        seen: dict = {}
        remote = RemoteSide(_new_step(cluster), _complete_with(aws, {"rows": n}, seen))
        remote.start()
        assert _materialize(resource, script, SAMPLE_ARGUMENTS[script], partition=day) == ({"rows": n}, {"rows": n})
        remote.finish()
        assert seen["asset_key"] == "spark_job" and seen["partition_key"] == day, "the injected context"
    uploaded = sorted(k.rsplit("/", 1)[1] for k in aws.keys("ubm/code/"))
    assert uploaded == sorted([script, ENTRY_POINT.name, jvm_udfs_jar().name]), \
        "the script, its entry point and spark_jobs/jvm's jar, once each"
    assert len(_emr_backend().clusters[cluster].steps) == 2


def _materialize_failing(resource, script: str = "classify_movie_review.py"):
    """The error a materialization fails with."""
    with pytest.raises(SparkJobError) as error:
        _materialize(resource, script, SAMPLE_ARGUMENTS[script])
    return str(error.value)


def test_a_failed_step_raises_with_its_reason_and_log_location(aws, cluster):
    details = {"Reason": "Unknown error.", "Message": "Exception in thread main: ValueError: insert_date must be YYYY-MM-DD",
               "LogFile": f"s3://{aws.bucket}/emr-logs/{cluster}/steps/s-1/stderr.gz"}
    remote = RemoteSide(_new_step(cluster), lambda step: _end_step(step, "FAILED", details))
    remote.start()
    message = _materialize_failing(_steps_resource(aws, cluster))
    step = remote.finish()
    assert f"EMR step {step.id} on cluster {cluster} ended FAILED" in message
    assert "ValueError: insert_date must be YYYY-MM-DD" in message and details["LogFile"] in message


def test_a_failed_step_without_details_points_at_the_cluster_logs(aws, cluster):
    remote = RemoteSide(_new_step(cluster), lambda step: _end_step(step, "FAILED"))
    remote.start()
    message = _materialize_failing(_steps_resource(aws, cluster))
    step = remote.finish()
    assert "no reason given" in message and f"s3://{aws.bucket}/emr-logs/{cluster}/steps/{step.id}/" in message


def test_a_step_that_runs_too_long_is_cancelled(aws, cluster):
    message = _materialize_failing(_steps_resource(aws, cluster, timeout_s=0.5))
    assert re.search(r"did not finish within 0.5 s \(last state (PENDING|RUNNING)\)", message), message
    (step,) = _emr_backend().clusters[cluster].steps
    assert step.state == "CANCELLED", "the step must not keep running on the shared cluster"


def test_a_step_that_completes_without_reporting_a_summary_fails_clearly(aws, cluster):
    remote = RemoteSide(_new_step(cluster), _complete_with(aws, None))
    remote.start()
    message = _materialize_failing(_steps_resource(aws, cluster))
    step = remote.finish()
    assert f"EMR step {step.id} on cluster {cluster} ended without reporting its summary through Dagster Pipes" in message


def test_a_terminated_cluster_takes_no_steps(aws, cluster):
    aws.client("emr").terminate_job_flows(JobFlowIds=[cluster])
    message = _materialize_failing(_steps_resource(aws, cluster))
    assert f"EMR cluster {cluster} cannot take steps: it is TERMINATED" in message
    assert _emr_backend().clusters[cluster].steps == []


# -- EMR Serverless --------------------------------------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/ubm-emr-serverless-job"


@pytest.fixture
def application(aws, monkeypatch) -> str:
    import moto.emrserverless.models as models

    monkeypatch.setattr(models, "JOB_STATUS", "SUBMITTED")  # moto would report SUCCESS before any work
    return aws.client("emr-serverless").create_application(
        name="ubm", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]


def _serverless_resource(aws, application_id: str, **overrides) -> EmrServerlessSparkResource:
    settings = dict(
        code_uri=f"s3://{aws.bucket}/ubm/code", runs_uri=f"s3://{aws.bucket}/ubm/spark-runs", region=aws.region,
        s3_endpoint_url=aws.endpoint, emr_endpoint_url=aws.endpoint, application_id=application_id,
        execution_role_arn=ROLE, poll_interval_s=0.05, timeout_s=60,
    )
    return EmrServerlessSparkResource(**{**settings, **overrides})


def _new_job_run(application_id: str):
    from moto.emrserverless.models import emrserverless_backends

    def find():
        runs = emrserverless_backends[ACCOUNT_ID][REGION].job_runs.get(application_id, [])
        return runs[-1] if runs else None

    return find


# StartJobRun's tag values (EMR Serverless API reference / CloudFormation): up to 256 of these characters.
TAG_VALUE = re.compile(r"^[A-Za-z0-9 /_.:=+@-]{0,256}$")


def _job_run_parts(aws, run, script: str) -> tuple[str, list[str], dict[str, str], dict[str, str]]:
    """(script URI, the script's arguments, the driver's Pipes environment, the Spark settings) of a job run,
    checking its shape."""
    driver = run.job_driver["sparkSubmit"]
    assert run.execution_role_arn == ROLE
    log_uri = run.configuration_overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
    assert log_uri == f"s3://{aws.bucket}/ubm/spark-runs/logs/"
    parameters = shlex.split(driver["sparkSubmitParameters"])
    assert parameters[::2] == ["--conf"] * (len(parameters) // 2) and len(driver["sparkSubmitParameters"]) <= 102400
    assert "spark.sql.session.timeZone=UTC" in parameters[1::2]
    assert run.tags.get("dagster/run-id") and all(TAG_VALUE.match(v) for v in run.tags.values()), run.tags
    env = _driver_env(parameters[1::2], "spark.emr-serverless.driverEnv.")
    _check_pipes_locations(aws, env, script)
    return (driver["entryPoint"], list(driver["entryPointArguments"]), env,
            dict(c.split("=", 1) for c in parameters[1::2]))


def test_serverless_job_run_runs_the_script_under_pipes_and_returns_its_summary(aws, application, spark, tmp_path):
    script = "classify_movie_review.py"
    mirror = tmp_path / "s3"
    review_ids, cids = _prepare_lake(spark, mirror / aws.bucket / "ubm")
    arguments = _classify_arguments(aws)

    def behave(run):
        uri, app_args, env, confs = _job_run_parts(aws, run, script)
        assert app_args == job_command_line(script, arguments)
        run.state = "RUNNING"
        _run_script_locally(aws, spark, mirror, script, uri, app_args, env, confs)
        run.state = "SUCCESS"

    remote = RemoteSide(_new_job_run(application), behave)
    remote.start()
    summary, metadata = _materialize(_serverless_resource(aws, application), script, arguments)
    remote.finish()
    _check_classified(mirror, aws, review_ids, cids, summary, metadata)
    assert _message_chunks(aws, script)


def test_serverless_failure_raises_with_state_details(aws, application):
    def behave(run):
        run.state_details = "Job failed, please check complete logs in configured logging destination."
        run.state = "FAILED"

    remote = RemoteSide(_new_job_run(application), behave)
    remote.start()
    message = _materialize_failing(_serverless_resource(aws, application))
    run = remote.finish()
    assert "ended FAILED: Job failed, please check complete logs" in message
    assert f"s3://{aws.bucket}/ubm/spark-runs/logs/applications/{application}/jobs/{run.id}/" in message


def test_serverless_timeout_cancels_the_job_run(aws, application):
    message = _materialize_failing(_serverless_resource(aws, application, timeout_s=0.3))
    assert re.search(r"EMR Serverless job run .* did not finish within 0.3 s", message), message
    run = _new_job_run(application)()
    assert run.state == "CANCELLED"
    assert run.execution_timeout_minutes == 5, "the service-side limit is set too (at least 5 minutes)"
