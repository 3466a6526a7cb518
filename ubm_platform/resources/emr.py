"""Spark on AWS: the same spark_jobs/ scripts, submitted with spark-submit to EMR.

Two SparkJobResource implementations share one protocol:
- `EmrStepsSparkResource`: a step on an existing, long-running EMR cluster (add_job_flow_steps with
  command-runner.jar `spark-submit --deploy-mode cluster`);
- `EmrServerlessSparkResource`: a job run on an EMR Serverless application (start_job_run).

The protocol, for both:
1. the script is uploaded to `<code_uri>/<sha256 of its bytes>/<script>`: content-addressed, so a run
   executes exactly the code of this checkout, an unchanged script is not uploaded again, and an old
   run's code stays where it was;
2. `run_job`'s keyword arguments become the script's command-line options through SPARK_JOB_CLI (the
   one explicit mapping, checked against each script's argparse by the tests), plus
   `--summary-uri <runs_uri>/<script stem>/<run id>/summary.json`;
3. the resource polls the step / job run until it ends or `timeout_s` passes; on a timeout (or when
   Dagster interrupts the run) it cancels the remote work; a failure raises `EmrJobError` with AWS's
   reason and where the logs are;
4. the script's main() writes its summary dict (what `run()` returns) as JSON to `--summary-uri`, and
   `run_job` returns that dict: the same value LocalSparkResource returns in-process.

Why not Dagster Pipes: dagster-aws's `PipesEMRClient` always creates a new cluster (no steps on an
existing one), and `PipesEMRServerlessClient.run` needs the asset's context (the assets call
`spark.run_job(script, **kwargs)` without one), has no timeout, and would need dagster-pipes in the
job's Python environment and Pipes calls in every script. A JSON object in S3 needs only S3, which
the job already reads and writes.

No AWS client is created at import time; clients are made when a job runs, from the default
credential chain (instance profile, ECS task role, AWS_PROFILE, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import ClassVar

from dagster import get_dagster_logger
from pydantic import Field

from ubm_platform.resources.spark import SparkJobResource
from ubm_platform.settings import SPARK_JOBS_DIR

# run_job(script, **kwargs) -> the script's command line. One entry per script of spark_jobs/; each
# keyword argument of the script's run() maps to the option its main() parses.
SPARK_JOB_CLI: dict[str, dict[str, str]] = {
    "classify_movie_review.py": {
        "input_path": "--input",
        "partitions_uri": "--partitions",
        "output_path": "--output",
        "model_dir": "--model",
    },
    "train_sentiment_model.py": {
        "labeled_path": "--labeled",
        "out_dir": "--out",
        "holdout_fraction": "--holdout",
        "seed": "--seed",
    },
}
SUMMARY_OPTION = "--summary-uri"

# Spark settings the local session uses too (resources/spark.py): UTC days, microsecond timestamps.
DEFAULT_SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


class EmrJobError(RuntimeError):
    """A Spark job on EMR failed, was cancelled, or ended without its summary."""


class EmrJobTimeout(EmrJobError):
    """A Spark job on EMR did not finish within the resource's timeout_s (it was cancelled)."""


def cli_arguments(script: str, arguments: dict) -> list[str]:
    """The script's command-line options for run_job's keyword arguments (SPARK_JOB_CLI)."""
    if script not in SPARK_JOB_CLI:
        raise ValueError(
            f"no command-line mapping for spark_jobs/{script}: add it to SPARK_JOB_CLI in "
            f"ubm_platform/resources/emr.py (known: {', '.join(sorted(SPARK_JOB_CLI))})"
        )
    options = SPARK_JOB_CLI[script]
    unknown = sorted(set(arguments) - set(options))
    if unknown:
        raise ValueError(
            f"spark_jobs/{script}: argument(s) {unknown} have no command-line option in SPARK_JOB_CLI "
            f"(mapped: {sorted(options)})"
        )
    argv: list[str] = []
    for name, option in options.items():
        value = arguments.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"spark_jobs/{script}: {name}={value!r} cannot be passed on a command line")
        argv += [option, repr(value) if isinstance(value, float) else str(value)]
    return argv


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[len("s3://"):]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


@dataclass
class _Submitted:
    """What a resource needs to follow one remote job."""

    job_id: str
    description: str  # for messages: "EMR step s-XXX on cluster j-YYY"
    log_location: str


class EmrSparkResource(SparkJobResource):
    """What both EMR flavours share: code upload, arguments, waiting, the summary."""

    code_uri: str = Field(description="s3://bucket/prefix under which scripts are uploaded by content hash.")
    runs_uri: str = Field(description="s3://bucket/prefix under which each run's summary.json is written.")
    region: str = Field(default="", description="AWS region of the EMR cluster/application and bucket.")
    s3_endpoint_url: str = Field(default="", description="S3-compatible endpoint (tests); empty for AWS.")
    emr_endpoint_url: str = Field(default="", description="EMR API endpoint (tests); empty for AWS.")
    timeout_s: float = Field(default=4 * 3600, description="Cancel and fail a job running longer than this.")
    poll_interval_s: float = Field(default=15.0, description="Seconds between two status requests.")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="Extra `--conf key=value` settings.")

    # -- AWS clients (created per call: nothing at import time, credentials from the default chain) --
    def _client(self, service: str, endpoint_url: str = ""):
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            region_name=self.region or None,
            endpoint_url=endpoint_url or None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def s3_client(self):
        return self._client("s3", self.s3_endpoint_url)

    # -- code and arguments ----------------------------------------------------------------
    def upload_script(self, script: str) -> str:
        """Upload spark_jobs/<script> under its content hash (once) and return its s3:// URI."""
        from botocore.exceptions import ClientError

        body = (SPARK_JOBS_DIR / script).read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        uri = f"{self.code_uri.rstrip('/')}/{digest}/{script}"
        bucket, key = split_s3_uri(uri)
        s3 = self.s3_client()
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/x-python")
        return uri

    def spark_conf_items(self) -> list[tuple[str, str]]:
        return sorted({**DEFAULT_SPARK_CONF, **self.spark_conf}.items())

    def new_run_id(self) -> str:
        return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"

    def summary_uri(self, script: str, run_id: str) -> str:
        return f"{self.runs_uri.rstrip('/')}/{script.rsplit('.', 1)[0]}/{run_id}/summary.json"

    # -- what each flavour implements ------------------------------------------------------------
    def _submit(self, script: str, script_uri: str, script_args: list[str], run_id: str) -> _Submitted:
        raise NotImplementedError

    def _status(self, job: _Submitted) -> tuple[str, str | None]:
        """(state, failure message or None once the job has failed; "" while it runs or succeeded)."""
        raise NotImplementedError

    def _cancel(self, job: _Submitted) -> None:
        raise NotImplementedError

    SUCCEEDED: ClassVar[frozenset[str]] = frozenset()
    ENDED_BADLY: ClassVar[frozenset[str]] = frozenset()

    # -- running -------------------------------------------------------------------------
    def run_job(self, script: str, context=None, **arguments) -> dict:
        """Run spark_jobs/<script> on EMR with `arguments` and return its summary dict."""
        from dagster._core.errors import DagsterExecutionInterruptedError

        log = context.log if context is not None else get_dagster_logger()
        script_args = cli_arguments(script, arguments)
        run_id = self.new_run_id()
        summary_uri = self.summary_uri(script, run_id)
        script_uri = self.upload_script(script)
        job = self._submit(script, script_uri, [*script_args, SUMMARY_OPTION, summary_uri], run_id)
        log.info(f"{job.description}: spark_jobs/{script} ({script_uri}) submitted; logs: {job.log_location}")
        try:
            state = self.wait(job, log)
        except (KeyboardInterrupt, DagsterExecutionInterruptedError):
            log.warning(f"{job.description}: interrupted, cancelling the remote job")
            self._cancel_quietly(job, log)
            raise
        log.info(f"{job.description}: {state}")
        return self.read_summary(summary_uri, job, state)

    def wait(self, job: _Submitted, log) -> str:
        """Poll until the job ends; returns the success state or raises EmrJobError/EmrJobTimeout."""
        deadline = time.monotonic() + self.timeout_s
        last = None
        while True:
            state, failure = self._status(job)
            if state != last:
                log.info(f"{job.description}: {state}")
                last = state
            if state in self.SUCCEEDED:
                return state
            if state in self.ENDED_BADLY:
                raise EmrJobError(f"{job.description} ended {state}: {failure or 'no reason given'}. Logs: {job.log_location}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._cancel_quietly(job, log)
                raise EmrJobTimeout(
                    f"{job.description} did not finish within {self.timeout_s:g} s (last state {state}); "
                    f"cancellation requested. Logs: {job.log_location}"
                )
            time.sleep(min(self.poll_interval_s, remaining))

    def _cancel_quietly(self, job: _Submitted, log) -> None:
        try:
            self._cancel(job)
        except Exception as exc:  # the original error matters more than a failed cancellation
            log.warning(f"{job.description}: cancellation failed: {exc}")

    def read_summary(self, summary_uri: str, job: _Submitted, state: str) -> dict:
        from botocore.exceptions import ClientError

        bucket, key = split_s3_uri(summary_uri)
        try:
            body = self.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            raise EmrJobError(
                f"{job.description} ended {state} but wrote no summary at {summary_uri}: the script's main() "
                f"must write its summary JSON to {SUMMARY_OPTION} (docs/aws.md). Logs: {job.log_location}"
            ) from None
        return json.loads(body)


class EmrStepsSparkResource(EmrSparkResource):
    """spark-submit as a step of an existing EMR cluster (reads and writes s3:// directly, via EMRFS)."""

    cluster_id: str = Field(description="The running EMR cluster (j-...) that takes the steps.")
    deploy_mode: str = Field(default="cluster", description="spark-submit --deploy-mode.")

    SUCCEEDED = frozenset({"COMPLETED"})
    ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "INTERRUPTED"})

    def emr_client(self):
        return self._client("emr", self.emr_endpoint_url)

    def step_arguments(self, script_uri: str, script_args: list[str]) -> list[str]:
        """command-runner.jar's arguments: the whole spark-submit command line."""
        conf = [item for k, v in self.spark_conf_items() for item in ("--conf", f"{k}={v}")]
        return ["spark-submit", "--deploy-mode", self.deploy_mode, *conf, script_uri, *script_args]

    def _submit(self, script, script_uri, script_args, run_id) -> _Submitted:
        emr = self.emr_client()
        cluster = emr.describe_cluster(ClusterId=self.cluster_id)["Cluster"]
        state = cluster["Status"]["State"]
        if state not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
            raise EmrJobError(f"EMR cluster {self.cluster_id} cannot take steps: it is {state}")
        step_ids = emr.add_job_flow_steps(
            JobFlowId=self.cluster_id,
            Steps=[{
                "Name": f"ubm {script} {run_id}",
                # Never TERMINATE_CLUSTER: the cluster is shared; a failed job fails its asset only.
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": self.step_arguments(script_uri, script_args)},
            }],
        )["StepIds"]
        step_id = step_ids[0]
        log_uri = cluster.get("LogUri")
        logs = (
            f"{log_uri.rstrip('/')}/{self.cluster_id}/steps/{step_id}/"
            if log_uri
            else f"the cluster has no LogUri; see the EMR console for step {step_id}"
        )
        return _Submitted(step_id, f"EMR step {step_id} on cluster {self.cluster_id}", logs)

    def _status(self, job: _Submitted) -> tuple[str, str | None]:
        status = self.emr_client().describe_step(ClusterId=self.cluster_id, StepId=job.job_id)["Step"]["Status"]
        state = status["State"]
        if state not in self.ENDED_BADLY:
            return state, ""
        details = status.get("FailureDetails") or {}
        if details.get("LogFile"):
            job.log_location = details["LogFile"]
        reason = "; ".join(
            part for part in (details.get("Reason"), details.get("Message"),
                              (status.get("StateChangeReason") or {}).get("Message")) if part
        )
        return state, reason or None

    def _cancel(self, job: _Submitted) -> None:
        self.emr_client().cancel_steps(
            ClusterId=self.cluster_id, StepIds=[job.job_id], StepCancellationOption="SEND_INTERRUPT"
        )


class EmrServerlessSparkResource(EmrSparkResource):
    """A job run on an EMR Serverless Spark application (boto3 start_job_run, polled with a timeout)."""

    application_id: str = Field(description="The EMR Serverless application (SPARK) that runs the jobs.")
    execution_role_arn: str = Field(description="IAM role the job runs as (S3 read/write on the lake).")
    log_uri: str = Field(default="", description="s3:// prefix for driver/executor logs; default <runs_uri>/logs.")

    SUCCEEDED = frozenset({"SUCCESS"})
    ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "CANCELLING"})

    def serverless_client(self):
        return self._client("emr-serverless", self.emr_endpoint_url)

    def logs_root(self) -> str:
        return (self.log_uri or f"{self.runs_uri.rstrip('/')}/logs").rstrip("/")

    def start_job_run_params(self, script: str, script_uri: str, script_args: list[str], run_id: str) -> dict:
        return {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "clientToken": run_id,  # idempotent: a retried request does not start a second run
            "name": f"ubm {script} {run_id}",
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": script_uri,
                    "entryPointArguments": script_args,
                    "sparkSubmitParameters": " ".join(f"--conf {k}={v}" for k, v in self.spark_conf_items()),
                }
            },
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": self.logs_root() + "/"}}
            },
            # The service's own limit too (at least 5 minutes), in case this process dies while waiting.
            "executionTimeoutMinutes": max(5, math.ceil(self.timeout_s / 60)),
        }

    def _submit(self, script, script_uri, script_args, run_id) -> _Submitted:
        params = self.start_job_run_params(script, script_uri, script_args, run_id)
        job_run_id = self.serverless_client().start_job_run(**params)["jobRunId"]
        logs = f"{self.logs_root()}/applications/{self.application_id}/jobs/{job_run_id}/"
        return _Submitted(job_run_id, f"EMR Serverless job run {job_run_id} on application {self.application_id}", logs)

    def _status(self, job: _Submitted) -> tuple[str, str | None]:
        run = self.serverless_client().get_job_run(applicationId=self.application_id, jobRunId=job.job_id)["jobRun"]
        state = run["state"]
        return state, (run.get("stateDetails") or None) if state in self.ENDED_BADLY else ""

    def _cancel(self, job: _Submitted) -> None:
        self.serverless_client().cancel_job_run(applicationId=self.application_id, jobRunId=job.job_id)
