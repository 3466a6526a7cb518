"""Spark on AWS: the same spark_jobs/ scripts, submitted with spark-submit to EMR, under Dagster Pipes.

Two SparkJobResource implementations (the protocol: resources/spark.py):
- `EmrStepsSparkResource`: a step on an existing, long-running EMR cluster (add_job_flow_steps with
  command-runner.jar `spark-submit --deploy-mode cluster`; dagster-aws's `PipesEMRClient` always creates
  a new cluster, so it does not fit a shared one);
- `EmrServerlessSparkResource`: a job run on an EMR Serverless application (start_job_run).
Both open Dagster's `open_pipes_session` themselves and follow the job with one wait loop of their own:
a timeout that cancels the remote work, and AWS's failure reason and log location in the error
(dagster-aws's `PipesEMRServerlessClient` waits without limit and fails with "job failed" only, and it
has no public hook to change that).

What they add to the protocol:
1. the script and spark_jobs/entry_point.py are uploaded to `<code_uri>/<sha256 of the bytes>/<name>`:
   content-addressed, so a run executes exactly the code of this checkout, unchanged files are not
   uploaded again, and an old run's code stays where it was; spark_jobs/jvm's jar likewise;
2. Pipes goes both ways through S3 under `<runs_uri>/<script stem>/<run id>/` (where the job role may
   read and write): `PipesS3ContextInjector` writes the asset's context there, the script writes its
   messages to `messages/`, read back by a `PipesS3MessageReader`. The two bootstrap variables reach the
   Spark driver as environment variables: `spark.yarn.appMasterEnv.*` on a cluster (the driver of
   `--deploy-mode cluster` is the YARN application master), `spark.emr-serverless.driverEnv.*` on Serverless.

No AWS client is created at import time; clients are made when a job runs, from the default
credential chain (instance profile, ECS task role, AWS_PROFILE, ...).
"""

from __future__ import annotations

import hashlib
import math
import time
from contextlib import contextmanager
from typing import ClassVar

from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader
from pydantic import Field

from ubm_platform.resources.spark import (
    ENTRY_POINT,
    SparkJobError,
    SparkJobResource,
    SubmittedJob,
    conf_options,
    jvm_udfs_jar,
    shipped_with_jobs,
)
from ubm_platform.settings import SPARK_JOBS_DIR

class EmrJobError(SparkJobError):
    """A Spark job on EMR failed or was cancelled."""


class EmrJobTimeout(EmrJobError):
    """A Spark job on EMR did not finish within the resource's timeout_s (it was cancelled)."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[len("s3://"):]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


class RunPrefixS3MessageReader(PipesS3MessageReader):
    """PipesS3MessageReader whose job writes under the run's own prefix: the stock reader picks a random
    prefix at the bucket's root, outside what the job role may write (docs/iam/emr-job-role-policy.json)."""

    def __init__(self, *, key_prefix: str, **kwargs):
        super().__init__(**kwargs)
        self.key_prefix = key_prefix

    @contextmanager
    def get_params(self):
        with super().get_params() as params:
            yield {**params, "key_prefix": self.key_prefix}


class EmrSparkResource(SparkJobResource):
    """What both EMR flavours share: code upload, Spark settings, Pipes through S3, the wait loop."""

    code_uri: str = Field(description="s3://bucket/prefix under which scripts are uploaded by content hash.")
    runs_uri: str = Field(description="s3://bucket/prefix under which each run's Pipes context and messages go.")
    region: str = Field(default="", description="AWS region of the EMR cluster/application and bucket.")
    s3_endpoint_url: str = Field(default="", description="S3-compatible endpoint (tests); empty for AWS.")
    emr_endpoint_url: str = Field(default="", description="EMR API endpoint (tests); empty for AWS.")
    timeout_s: float = Field(default=4 * 3600, description="Cancel and fail a job running longer than this.")
    poll_interval_s: float = Field(default=15.0, description="Seconds between two status requests.")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="Extra `--conf key=value` settings.")
    python_archive_uri: str = Field(
        default="",
        description="s3:// URI of a packed Python environment (venv-pack .tar.gz with Python >= 3.10, dagster-pipes "
        "and boto3) the driver and executors run; empty: the cluster's own python3 must have them (docs/aws.md).",
    )

    # Prefix of the Spark settings that set the driver's environment variables (each flavour has its own).
    DRIVER_ENV_CONF: ClassVar[str] = ""
    SUCCEEDED: ClassVar[frozenset[str]] = frozenset()
    ENDED_BADLY: ClassVar[frozenset[str]] = frozenset()

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

    # -- code and settings ----------------------------------------------------------------
    def upload(self, path, content_type: str) -> str:
        """Upload a file under its content hash (once) and return its s3:// URI."""
        from botocore.exceptions import ClientError

        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        uri = f"{self.code_uri.rstrip('/')}/{digest}/{path.name}"
        bucket, key = split_s3_uri(uri)
        s3 = self.s3_client()
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return uri

    def upload_code(self, script: str, pipes_env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """(the script's s3:// URI, the job's Spark settings): the entry point and spark_jobs/jvm's jar
        uploaded beside it, the packed Python environment, the resource's settings, the Pipes variables."""
        jar = jvm_udfs_jar()  # None without javac: the jobs then apply the model with Spark ML's stages
        conf = shipped_with_jobs(
            self.upload(ENTRY_POINT, "text/x-python"),
            self.upload(jar, "application/java-archive") if jar else "",
            {**self.python_environment_conf(), **self.spark_conf,
             **{f"{self.DRIVER_ENV_CONF}{k}": v for k, v in pipes_env.items()}},
        )
        return self.upload(SPARK_JOBS_DIR / script, "text/x-python"), conf

    def python_environment_conf(self) -> dict[str, str]:
        """Spark settings that run the job with the packed Python environment (unpacked as ./environment)."""
        if not self.python_archive_uri:
            return {}
        python = "./environment/bin/python"
        return {
            "spark.archives": f"{self.python_archive_uri}#environment",
            f"{self.DRIVER_ENV_CONF}PYSPARK_DRIVER_PYTHON": python,
            f"{self.DRIVER_ENV_CONF}PYSPARK_PYTHON": python,
            "spark.executorEnv.PYSPARK_PYTHON": python,
        }

    def run_uri(self, script: str, run_id: str) -> str:
        return f"{self.runs_uri.rstrip('/')}/{script.rsplit('.', 1)[0]}/{run_id}"

    def pipes_channels(self, script: str, run_id: str) -> tuple[PipesS3ContextInjector, RunPrefixS3MessageReader]:
        """Context and messages under the run's prefix; the reader polls as often as the job status."""
        bucket, key = split_s3_uri(self.run_uri(script, run_id))
        s3 = self.s3_client()
        return (
            PipesS3ContextInjector(bucket=bucket, client=s3, key_prefix=f"{key}/context-"),
            RunPrefixS3MessageReader(
                bucket=bucket, client=s3, key_prefix=f"{key}/messages", interval=min(self.poll_interval_s, 10.0)
            ),
        )

    # -- following a job -------------------------------------------------------------------------
    def status(self, job: SubmittedJob) -> tuple[str, str | None]:
        """(state, failure message or None once the job has failed; "" while it runs or succeeded)."""
        raise NotImplementedError

    def wait(self, job: SubmittedJob, log) -> None:
        """Poll until the job ends; raises EmrJobError when it ended badly, EmrJobTimeout (after cancelling
        it) when it runs past timeout_s."""
        deadline = time.monotonic() + self.timeout_s
        last = None
        while True:
            state, failure = self.status(job)
            if state != last:
                log.info(f"{job.description}: {state}")
                last = state
            if state in self.SUCCEEDED:
                return
            if state in self.ENDED_BADLY:
                raise EmrJobError(f"{job.description} ended {state}: {failure or 'no reason given'}. Logs: {job.log_location}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.cancel_quietly(job, log)
                raise EmrJobTimeout(
                    f"{job.description} did not finish within {self.timeout_s:g} s (last state {state}); "
                    f"cancellation requested. Logs: {job.log_location}"
                )
            time.sleep(min(self.poll_interval_s, remaining))


class EmrStepsSparkResource(EmrSparkResource):
    """spark-submit as a step of an existing EMR cluster (reads and writes s3:// directly, via EMRFS)."""

    cluster_id: str = Field(description="The running EMR cluster (j-...) that takes the steps.")

    SUCCEEDED = frozenset({"COMPLETED"})
    ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "INTERRUPTED"})
    # The driver of `--deploy-mode cluster` is the YARN application master.
    DRIVER_ENV_CONF = "spark.yarn.appMasterEnv."

    def emr_client(self):
        return self._client("emr", self.emr_endpoint_url)

    @staticmethod
    def step_arguments(script_uri: str, command_line: list[str], conf: dict[str, str]) -> list[str]:
        """command-runner.jar's arguments: the whole spark-submit command line. Always cluster mode: there
        the driver is the YARN application master, which gets `spark.yarn.appMasterEnv.*` (the Pipes bootstrap)."""
        return ["spark-submit", "--deploy-mode", "cluster", *conf_options(conf), script_uri, *command_line]

    def submit(self, script: str, run_id: str, command_line: list[str], pipes_env: dict[str, str],
               context) -> SubmittedJob:
        emr = self.emr_client()
        cluster = emr.describe_cluster(ClusterId=self.cluster_id)["Cluster"]
        state = cluster["Status"]["State"]
        if state not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
            raise EmrJobError(f"EMR cluster {self.cluster_id} cannot take steps: it is {state}")
        script_uri, conf = self.upload_code(script, pipes_env)
        step_ids = emr.add_job_flow_steps(
            JobFlowId=self.cluster_id,
            Steps=[{
                "Name": f"ubm {script} {run_id}",
                # Never TERMINATE_CLUSTER: the cluster is shared; a failed job fails its asset only.
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar",
                                  "Args": self.step_arguments(script_uri, command_line, conf)},
            }],
        )["StepIds"]
        step_id = step_ids[0]
        log_uri = cluster.get("LogUri")
        logs = (
            f"{log_uri.rstrip('/')}/{self.cluster_id}/steps/{step_id}/"
            if log_uri
            else f"the cluster has no LogUri; see the EMR console for step {step_id}"
        )
        job = SubmittedJob(step_id, f"EMR step {step_id} on cluster {self.cluster_id}", logs)
        context.log.info(f"{job.description}: spark_jobs/{script} ({script_uri}) submitted; logs: {logs}")
        return job

    def status(self, job: SubmittedJob) -> tuple[str, str | None]:
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

    def cancel(self, job: SubmittedJob) -> None:
        self.emr_client().cancel_steps(
            ClusterId=self.cluster_id, StepIds=[job.job_id], StepCancellationOption="SEND_INTERRUPT"
        )


class EmrServerlessSparkResource(EmrSparkResource):
    """A job run on an EMR Serverless Spark application."""

    application_id: str = Field(description="The EMR Serverless application (SPARK) that runs the jobs.")
    execution_role_arn: str = Field(description="IAM role the job runs as (S3 read/write on the lake).")
    log_uri: str = Field(default="", description="s3:// prefix for driver/executor logs; default <runs_uri>/logs.")

    SUCCEEDED = frozenset({"SUCCESS"})
    ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "CANCELLING"})
    DRIVER_ENV_CONF = "spark.emr-serverless.driverEnv."

    def serverless_client(self):
        return self._client("emr-serverless", self.emr_endpoint_url)

    def logs_root(self) -> str:
        return (self.log_uri or f"{self.runs_uri.rstrip('/')}/logs").rstrip("/")

    def start_job_run_params(self, script: str, script_uri: str, command_line: list[str], run_id: str,
                             conf: dict[str, str], tags: dict[str, str]) -> dict:
        return {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "clientToken": run_id,  # idempotent: a retried request does not start a second run
            "name": f"ubm {script} {run_id}",
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": script_uri,
                    "entryPointArguments": command_line,
                    "sparkSubmitParameters": " ".join(conf_options(conf)),
                }
            },
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": self.logs_root() + "/"}}
            },
            # The service's own limit too (at least 5 minutes), in case this process dies while waiting.
            "executionTimeoutMinutes": max(5, math.ceil(self.timeout_s / 60)),
            "tags": tags,
        }

    def submit(self, script: str, run_id: str, command_line: list[str], pipes_env: dict[str, str],
               context) -> SubmittedJob:
        script_uri, conf = self.upload_code(script, pipes_env)
        tags = {"dagster/run-id": context.run_id, "dagster/job": context.job_name}
        job_run_id = self.serverless_client().start_job_run(
            **self.start_job_run_params(script, script_uri, command_line, run_id, conf, tags))["jobRunId"]
        logs = f"{self.logs_root()}/applications/{self.application_id}/jobs/{job_run_id}/"
        job = SubmittedJob(job_run_id, f"EMR Serverless job run {job_run_id} on application {self.application_id}", logs)
        context.log.info(f"{job.description}: spark_jobs/{script} ({script_uri}) submitted; logs: {logs}")
        return job

    def status(self, job: SubmittedJob) -> tuple[str, str | None]:
        run = self.serverless_client().get_job_run(applicationId=self.application_id, jobRunId=job.job_id)["jobRun"]
        state = run["state"]
        return state, (run.get("stateDetails") or None) if state in self.ENDED_BADLY else ""

    def cancel(self, job: SubmittedJob) -> None:
        self.serverless_client().cancel_job_run(applicationId=self.application_id, jobRunId=job.job_id)
