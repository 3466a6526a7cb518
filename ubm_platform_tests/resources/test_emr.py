"""Spark on EMR (steps on a cluster, and EMR Serverless) against moto, with the test playing AWS.

moto accepts the API calls but never runs anything (a step stays PENDING/RUNNING, a serverless job
run is SUCCESS at once). So a `RemoteSide` thread plays the service: it waits for the job to appear
in moto's backend, checks what was submitted, does the job's work (for one test: the uploaded
script's own main() on local Spark, with the step's own arguments, s3:// paths mapped to a local
mirror since Spark cannot read s3:// here), writes the summary to S3 and moves the job to its end state.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import inspect
import io
import json
import os
import threading
import time

import numpy as np
import pytest

from ubm_platform.resources.emr import (
    SPARK_JOB_CLI,
    SUMMARY_OPTION,
    EmrJobError,
    EmrJobTimeout,
    EmrServerlessSparkResource,
    EmrStepsSparkResource,
    cli_arguments,
    split_s3_uri,
)
from ubm_platform.resources.spark import load_spark_job
from ubm_platform.settings import SPARK_JOBS_DIR
from ubm_platform_tests.conftest import save_tiny_sentiment_model

ACCOUNT_ID, REGION = "123456789012", "us-east-1"  # moto's account; the region of conftest.py's `aws`

SAMPLE_ARGUMENTS = {
    "classify_movie_review.py": {
        "input_path": "s3://b/lake/raw/movie_review",
        "partitions_uri": "s3://b/lake/stage/classified_movie_review/_staging/run-abc/partitions.json",
        "output_path": "s3://b/lake/stage/classified_movie_review/_staging/run-abc/classified",
        "model_dir": "s3://b/lake/models/sentiment/sentiment-123",
    },
    "train_sentiment_model.py": {
        "labeled_path": "s3://b/lake/raw/movie_review/insert_date=*/*.parquet",
        "out_dir": "s3://b/lake/models/sentiment/_staging/unversioned-abc",
        "holdout_fraction": 0.25,
        "seed": 7,
    },
}


# -- the keyword arguments -> command line mapping, against the scripts themselves ---------------


def test_every_script_has_a_mapping_for_every_run_argument():
    scripts = sorted(p.name for p in SPARK_JOBS_DIR.glob("*.py"))
    assert sorted(SPARK_JOB_CLI) == scripts, "each spark_jobs/ script needs an entry in SPARK_JOB_CLI"
    for script, options in SPARK_JOB_CLI.items():
        parameters = list(inspect.signature(load_spark_job(script).run).parameters)[1:]  # after `spark`
        assert sorted(options) == sorted(parameters), script
        assert sorted(SAMPLE_ARGUMENTS[script]) == sorted(parameters), script


class _Parsed(Exception):
    def __init__(self, namespace):
        self.namespace = namespace


@pytest.mark.parametrize("script", sorted(SPARK_JOB_CLI))
def test_main_parses_the_mapped_command_line_back_to_the_same_values(script, monkeypatch):
    """What EMR runs is `spark-submit script <options>`: the script's own argparse must read them back."""
    arguments = SAMPLE_ARGUMENTS[script]
    argv = cli_arguments(script, arguments)

    def capture(parser, args=None, namespace=None):
        parsed = argparse.ArgumentParser.parse_known_args(parser, args, namespace)
        if parsed[1]:
            parser.error(f"unrecognized arguments: {' '.join(parsed[1])}")
        raise _Parsed(parsed[0])

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed) as parsed:
        load_spark_job(script).main(argv)
    namespace = vars(parsed.value.namespace)
    for name, option in SPARK_JOB_CLI[script].items():
        assert namespace[option.lstrip("-").replace("-", "_")] == arguments[name], (script, name)


def test_unknown_scripts_and_arguments_are_refused():
    with pytest.raises(ValueError, match="no command-line mapping"):
        cli_arguments("nope.py", {})
    with pytest.raises(ValueError, match=r"\['model_version'\]"):
        cli_arguments("classify_movie_review.py", {**SAMPLE_ARGUMENTS["classify_movie_review.py"], "model_version": "x"})
    assert "--seed" not in cli_arguments("train_sentiment_model.py", {"labeled_path": "a", "out_dir": "b", "seed": None})


@pytest.mark.parametrize("script", sorted(SPARK_JOB_CLI))
def test_scripts_accept_the_summary_option(script, monkeypatch):
    argv = cli_arguments(script, SAMPLE_ARGUMENTS[script]) + [SUMMARY_OPTION, "s3://b/runs/x/summary.json"]

    def capture(parser, args=None, namespace=None):
        raise _Parsed(argparse.ArgumentParser.parse_known_args(parser, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed) as parsed:
        load_spark_job(script).main(argv)
    known, unknown = parsed.value.namespace
    assert not unknown and known.summary_uri == "s3://b/runs/x/summary.json"


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


def _emr_backend():
    from moto.emr.models import emr_backends

    return emr_backends[ACCOUNT_ID][REGION]


def _new_step(cluster_id: str):
    def find():
        steps = _emr_backend().clusters[cluster_id].steps
        return steps[-1] if steps else None

    return find


def _end_step(step, state: str, failure: dict | None = None) -> None:
    step.failure_details = failure
    step.state = state


def _summary_location(args: list[str]) -> str:
    return args[args.index(SUMMARY_OPTION) + 1]


def _uploaded_script(aws, args: list[str], script: str) -> tuple[str, bytes]:
    """The script URI among spark-submit's arguments, checked against spark_jobs/ by content hash."""
    uri = next(a for a in args if a.startswith("s3://") and a.endswith(f"/{script}"))
    bucket, key = split_s3_uri(uri)
    assert bucket == aws.bucket
    body = aws.get(key)
    local = (SPARK_JOBS_DIR / script).read_bytes()
    digest = hashlib.sha256(local).hexdigest()
    assert key == f"ubm/code/{digest}/{script}" and body == local
    return uri, body


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


def _run_step_locally(aws, spark, mirror, script: str):
    """What EMR would do with the step: spark-submit the uploaded script with the step's arguments."""

    def behave(step):
        args = list(step.args)
        assert step.jar == "command-runner.jar" and step.action_on_failure == "CONTINUE"
        assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
        assert "spark.sql.session.timeZone=UTC" in args
        uri, body = _uploaded_script(aws, args, script)
        app_args = args[args.index(uri) + 1:]
        summary_uri = _summary_location(app_args)

        def local(value: str) -> str:
            if not value.startswith("s3://"):
                return value
            bucket, key = split_s3_uri(value)
            return str(mirror / bucket / key)

        supports_summary = SUMMARY_OPTION.encode() in body
        if supports_summary:
            os.makedirs(os.path.dirname(local(summary_uri)), exist_ok=True)
        else:  # today's scripts only print the summary (see docs/aws.md): take it from stdout
            i = app_args.index(SUMMARY_OPTION)
            app_args = app_args[:i] + app_args[i + 2:]
        script_file = mirror / "code" / script
        script_file.parent.mkdir(parents=True, exist_ok=True)
        script_file.write_bytes(body)
        spec = importlib.util.spec_from_file_location(f"uploaded_{script[:-3]}", script_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.SparkSession = _SessionClass(spark)
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            module.main([local(a) for a in app_args])
        summary = (open(local(summary_uri), "rb").read() if supports_summary
                   else json.dumps(json.loads(stdout.getvalue())).encode())
        bucket, key = split_s3_uri(summary_uri)
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=summary)
        _end_step(step, "COMPLETED")

    return behave


DAY = "2022-01-02"


def _prepare_lake(spark, lake_dir, n: int = 60) -> tuple[list[str], list[int]]:
    """A day of raw reviews (Parquet, as movie_review_raw writes them) and a small sentiment model
    (a Spark ML PipelineModel with the ubm_model.json the scripts read) in a local stand-in of the lake."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ubm_platform.defs.movie_review.validation import RAW_REVIEW_SCHEMA
    from ubm_platform.seed.reviews import make_reviews

    texts, scores = make_reviews(np.random.default_rng(3), [f"film {i}" for i in range(n)], n)
    review_ids = [f"20220102-{i:05d}" for i in range(n)]
    cids = [1 + i % 17 for i in range(n)]
    raw = lake_dir / f"raw/movie_review/insert_date={DAY}"
    raw.mkdir(parents=True)
    pq.write_table(pa.table({
        "review_id": review_ids, "cid": cids, "film_id": list(range(n)), "score": [int(x) for x in scores],
        "review_str": texts, "source_line": list(range(2, n + 2)),
    }, schema=RAW_REVIEW_SCHEMA), raw / "part-00000.parquet")
    save_tiny_sentiment_model(spark, texts, scores, lake_dir / "models/sentiment/sentiment-test")
    return review_ids, cids


def test_step_runs_the_uploaded_script_and_returns_its_summary(aws, cluster, spark, tmp_path):
    """The daily classification as a step: the uploaded script's own main() on local Spark."""
    import pyarrow.parquet as pq

    from ubm_platform.defs.movie_review.assets import CLASSIFIED_SCHEMA

    mirror = tmp_path / "s3"
    lake = f"s3://{aws.bucket}/ubm"
    review_ids, cids = _prepare_lake(spark, mirror / aws.bucket / "ubm")
    area = "stage/classified_movie_review/_staging/run-1"
    (mirror / aws.bucket / "ubm" / area).mkdir(parents=True)
    (mirror / aws.bucket / "ubm" / area / "partitions.json").write_text(
        json.dumps({"partitions": [{"key": DAY, "path": f"insert_date={DAY}"}]}))
    arguments = {
        "input_path": f"{lake}/raw/movie_review",
        "partitions_uri": f"{lake}/{area}/partitions.json",
        "output_path": f"{lake}/{area}/classified",
        "model_dir": f"{lake}/models/sentiment/sentiment-test",
    }
    remote = RemoteSide(_new_step(cluster), _run_step_locally(aws, spark, mirror, "classify_movie_review.py"))
    remote.start()

    summary = _steps_resource(aws, cluster).run_job("classify_movie_review.py", **arguments)

    step = remote.finish()
    output = pq.read_table(mirror / aws.bucket / "ubm" / area / "classified" / "partition_index=0")
    assert [(f.name, f.type) for f in output.schema] == [(f.name, f.type) for f in CLASSIFIED_SCHEMA], \
        "the Parquet Spectrum's classified_movie_review reads"
    assert sorted(zip(output.column("review_id").to_pylist(), output.column("cid").to_pylist())) == sorted(
        zip(review_ids, cids)), "every review classified once"
    labels = output.column("sentiment").to_pylist()
    by_sentiment = {s: labels.count(s) for s in ("negative", "neutral", "positive")}
    assert summary == {"rows": len(review_ids), "model_version": "sentiment-test", "by_sentiment": by_sentiment,
                       "partitions": [{"key": DAY, "output": "partition_index=0", "rows": len(review_ids),
                                       "by_sentiment": by_sentiment}]}
    args = list(step.args)
    assert [args[args.index(option) + 1] for option in ("--input", "--partitions", "--output", "--model")] == [
        arguments["input_path"], arguments["partitions_uri"], arguments["output_path"], arguments["model_dir"]]
    assert _summary_location(args).startswith(f"s3://{aws.bucket}/ubm/spark-runs/classify_movie_review/")
    described = aws.client("emr").describe_step(ClusterId=cluster, StepId=step.id)["Step"]
    assert described["Status"]["State"] == "COMPLETED"


def _complete_with(aws, summary: dict):
    def behave(step):
        bucket, key = split_s3_uri(_summary_location(list(step.args)))
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(summary).encode())
        _end_step(step, "COMPLETED")

    return behave


def test_the_script_is_uploaded_once_per_content(aws, cluster):
    resource = _steps_resource(aws, cluster)
    for n in (1, 2):
        remote = RemoteSide(lambda: next((s for s in _emr_backend().clusters[cluster].steps
                                          if s.state in ("PENDING", "RUNNING")), None),
                            _complete_with(aws, {"rows": n}))
        remote.start()
        assert resource.run_job("classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"]) == {"rows": n}
        _uploaded_script(aws, list(remote.finish().args), "classify_movie_review.py")
    assert len([k for k in aws.keys("ubm/code/")]) == 1
    assert len(_emr_backend().clusters[cluster].steps) == 2


def test_a_failed_step_raises_with_its_reason_and_log_location(aws, cluster):
    details = {"Reason": "Unknown error.", "Message": "Exception in thread main: ValueError: partitions.json: not a partitions file",
               "LogFile": f"s3://{aws.bucket}/emr-logs/{cluster}/steps/s-1/stderr.gz"}
    remote = RemoteSide(_new_step(cluster), lambda step: _end_step(step, "FAILED", details))
    remote.start()
    with pytest.raises(EmrJobError) as error:
        _steps_resource(aws, cluster).run_job("classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
    step = remote.finish()
    message = str(error.value)
    assert f"EMR step {step.id} on cluster {cluster} ended FAILED" in message
    assert "ValueError: partitions.json: not a partitions file" in message and details["LogFile"] in message


def test_a_failed_step_without_details_points_at_the_cluster_logs(aws, cluster):
    remote = RemoteSide(_new_step(cluster), lambda step: _end_step(step, "FAILED"))
    remote.start()
    with pytest.raises(EmrJobError, match="no reason given") as error:
        _steps_resource(aws, cluster).run_job("classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
    step = remote.finish()
    assert f"s3://{aws.bucket}/emr-logs/{cluster}/steps/{step.id}/" in str(error.value)


def test_a_step_that_runs_too_long_is_cancelled(aws, cluster):
    started = time.monotonic()
    with pytest.raises(EmrJobTimeout, match=r"did not finish within 0.5 s \(last state (PENDING|RUNNING)\)"):
        _steps_resource(aws, cluster, timeout_s=0.5).run_job(
            "classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
    assert time.monotonic() - started < 10
    (step,) = _emr_backend().clusters[cluster].steps
    assert step.state == "CANCELLED", "the step must not keep running on the shared cluster"


def test_a_step_that_completes_without_summary_fails_clearly(aws, cluster):
    remote = RemoteSide(_new_step(cluster), lambda step: _end_step(step, "COMPLETED"))
    remote.start()
    with pytest.raises(EmrJobError, match=f"COMPLETED but wrote no summary at s3://{aws.bucket}/ubm/spark-runs/"):
        _steps_resource(aws, cluster).run_job("classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
    remote.finish()


def test_a_terminated_cluster_takes_no_steps(aws, cluster):
    aws.client("emr").terminate_job_flows(JobFlowIds=[cluster])
    with pytest.raises(EmrJobError, match=f"EMR cluster {cluster} cannot take steps: it is TERMINATED"):
        _steps_resource(aws, cluster).run_job("classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
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


def test_serverless_job_run_returns_the_summary(aws, application):
    script = "classify_movie_review.py"
    arguments = SAMPLE_ARGUMENTS[script]
    expected = {"rows": 12, "by_sentiment": {"negative": 3, "neutral": 4, "positive": 5}, "model_version": "m1"}

    def behave(run):
        driver = run.job_driver["sparkSubmit"]
        _uploaded_script(aws, [driver["entryPoint"]], script)
        entry_args = driver["entryPointArguments"]
        assert entry_args[:-2] == cli_arguments(script, arguments)
        assert "--conf spark.sql.session.timeZone=UTC" in driver["sparkSubmitParameters"]
        assert run.execution_role_arn == ROLE
        log_uri = run.configuration_overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
        assert log_uri == f"s3://{aws.bucket}/ubm/spark-runs/logs/"
        bucket, key = split_s3_uri(_summary_location(entry_args))
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(expected).encode())
        run.state = "RUNNING"
        time.sleep(0.2)
        run.state = "SUCCESS"

    remote = RemoteSide(_new_job_run(application), behave)
    remote.start()
    assert _serverless_resource(aws, application).run_job(script, **arguments) == expected
    remote.finish()


def test_serverless_failure_raises_with_state_details(aws, application):
    def behave(run):
        run.state_details = "Job failed, please check complete logs in configured logging destination."
        run.state = "FAILED"

    remote = RemoteSide(_new_job_run(application), behave)
    remote.start()
    with pytest.raises(EmrJobError, match="ended FAILED: Job failed, please check complete logs") as error:
        _serverless_resource(aws, application).run_job(
            "classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
    run = remote.finish()
    assert f"s3://{aws.bucket}/ubm/spark-runs/logs/applications/{application}/jobs/{run.id}/" in str(error.value)


def test_serverless_timeout_cancels_the_job_run(aws, application):
    with pytest.raises(EmrJobTimeout, match="EMR Serverless job run .* did not finish within 0.3 s"):
        _serverless_resource(aws, application, timeout_s=0.3).run_job(
            "classify_movie_review.py", **SAMPLE_ARGUMENTS["classify_movie_review.py"])
    (run,) = [r for r in [_new_job_run(application)()] if r is not None]
    assert run.state == "CANCELLED"
    assert run.execution_timeout_minutes == 5, "the service-side limit is set too (at least 5 minutes)"
