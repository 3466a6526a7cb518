"""Spark on AWS: the same spark_jobs/ scripts, submitted with spark-submit to EMR, under Dagster Pipes.

Two SparkJobResource implementations share one protocol:
- `EmrStepsSparkResource`: a step on an existing, long-running EMR cluster (add_job_flow_steps with
  command-runner.jar `spark-submit --deploy-mode cluster`), inside Dagster's `open_pipes_session`
  (dagster-aws's `PipesEMRClient` always creates a new cluster, so it does not fit a shared one);
- `EmrServerlessSparkResource`: a job run on an EMR Serverless application, through dagster-aws's
  `PipesEMRServerlessClient` (its wait loop replaced by ours: it has no timeout and fails without AWS's reason).

The protocol, for both:
1. the script is uploaded to `<code_uri>/<sha256 of its bytes>/<script>`: content-addressed, so a run
   executes exactly the code of this checkout, an unchanged script is not uploaded again, and an old
   run's code stays where it was;
2. `run_job`'s keyword arguments become the script's command-line options through SPARK_JOB_CLI (the
   one explicit mapping, checked against each script's argparse by the tests);
3. Dagster Pipes, both ways through S3 under `<runs_uri>/<script stem>/<run id>/` (where the job role may
   read and write): `PipesS3ContextInjector` writes the asset's context there, and the script's
   `open_dagster_pipes` writes its messages to `messages/`, read back by a `PipesS3MessageReader`. The two
   bootstrap variables (where the context is, where to write) reach the Spark driver as environment
   variables: `spark.yarn.appMasterEnv.*` on a cluster (the driver of `--deploy-mode cluster` is the YARN
   application master), `spark.emr-serverless.driverEnv.*` on Serverless (set by the dagster-aws client);
4. the resource polls the step / job run until it ends or `timeout_s` passes; on a timeout (or when
   Dagster interrupts the run) it cancels the remote work; a failure raises `EmrJobError` with AWS's
   reason and where the logs are (an exception raised inside the script also reaches Dagster through
   Pipes, as an engine event with the remote traceback);
5. the script's main() reports its summary dict (what `run()` returns: row counts, class distribution,
   model version) with `report_custom_message`, and `run_job` returns the last one: the same value
   LocalSparkResource returns in-process, which the asset turns into materialization metadata.

A custom message rather than `report_asset_materialization`: the asset, not the job, decides what is
materialized (it checks the staged output and publishes it first, and one job may cover several days).
The summary has one path only (Pipes); there is no summary file to fall back on.

`run_job` on EMR needs the asset's `context` (Pipes sends it to the job and logs through it).
No AWS client is created at import time; clients are made when a job runs, from the default
credential chain (instance profile, ECS task role, AWS_PROFILE, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from dagster_aws.pipes import PipesEMRServerlessClient, PipesS3ContextInjector, PipesS3MessageReader
from pydantic import Field

from ubm_platform.resources.spark import SparkJobResource, jvm_udfs_jar
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

# Spark settings the local session uses too (resources/spark.py): UTC days, microsecond timestamps.
DEFAULT_SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


class EmrJobError(RuntimeError):
    """A Spark job on EMR failed, was cancelled, or ended without reporting its summary."""


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


@dataclass
class _Launch:
    """One run_job call: what to run, where, and its Pipes channels."""

    script: str
    script_uri: str
    script_args: list[str]
    run_id: str
    jars: str  # spark.jars: spark_jobs/jvm's jar, or "" without one
    context_injector: PipesS3ContextInjector
    message_reader: RunPrefixS3MessageReader


@dataclass
class _Submitted:
    """What a resource needs to follow one remote job."""

    job_id: str
    description: str  # for messages: "EMR step s-XXX on cluster j-YYY"
    log_location: str


class EmrSparkResource(SparkJobResource):
    """What both EMR flavours share: code upload, arguments, Pipes channels, waiting, the summary."""

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
        return self._upload(SPARK_JOBS_DIR / script, "text/x-python")

    def upload_jvm_udfs(self) -> str:
        """Upload spark_jobs/jvm's jar (built locally, see resources/spark.py) and return its s3:// URI; "" when
        it could not be built (no javac): the jobs then apply the model with Spark ML's stages."""
        jar = jvm_udfs_jar()
        return self._upload(jar, "application/java-archive") if jar else ""

    def _upload(self, path, content_type: str) -> str:
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

    def spark_conf_items(self, jars: str = "") -> list[tuple[str, str]]:
        conf = {**DEFAULT_SPARK_CONF, **self.python_environment_conf(), **self.spark_conf}
        if jars:  # beside any jars of the resource's own spark_conf
            conf["spark.jars"] = ",".join(filter(None, [jars, conf.get("spark.jars", "")]))
        return sorted(conf.items())

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

    def new_run_id(self) -> str:
        return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"

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

    # -- what each flavour implements ------------------------------------------------------------
    def _run_under_pipes(self, context, launch: _Launch) -> tuple[_Submitted, str, list]:
        """Submit and follow the job inside a Pipes session: (job, end state, custom messages)."""
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
        """Run spark_jobs/<script> on EMR with `arguments` under Dagster Pipes and return its summary dict."""
        if context is None:
            raise ValueError(
                f"spark_jobs/{script} on EMR runs under Dagster Pipes and needs the asset's context: "
                f"spark.run_job({script!r}, context=context, ...)"
            )
        script_args = cli_arguments(script, arguments)
        run_id = self.new_run_id()
        script_uri = self.upload_script(script)
        injector, reader = self.pipes_channels(script, run_id)
        launch = _Launch(script, script_uri, script_args, run_id, self.upload_jvm_udfs(), injector, reader)
        job, state, messages = self._run_under_pipes(context, launch)
        return self.summary_from(messages, job, state)

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

    @staticmethod
    def summary_from(messages, job: _Submitted, state: str) -> dict:
        summaries = [m for m in messages if isinstance(m, dict)]
        if not summaries:
            raise EmrJobError(
                f"{job.description} ended {state} but reported no summary through Dagster Pipes: the script's "
                "main() must open dagster_pipes and report_custom_message(summary), and dagster-pipes must be "
                f"importable on the cluster (docs/aws.md). Logs: {job.log_location}"
            )
        return summaries[-1]


class EmrStepsSparkResource(EmrSparkResource):
    """spark-submit as a step of an existing EMR cluster (reads and writes s3:// directly, via EMRFS)."""

    cluster_id: str = Field(description="The running EMR cluster (j-...) that takes the steps.")

    SUCCEEDED = frozenset({"COMPLETED"})
    ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "INTERRUPTED"})
    # The driver of `--deploy-mode cluster` is the YARN application master.
    DRIVER_ENV_CONF = "spark.yarn.appMasterEnv."

    def emr_client(self):
        return self._client("emr", self.emr_endpoint_url)

    def step_arguments(self, script_uri: str, script_args: list[str], driver_env: dict[str, str],
                       jars: str = "") -> list[str]:
        """command-runner.jar's arguments: the whole spark-submit command line. Always cluster mode: there
        the driver is the YARN application master, which gets `spark.yarn.appMasterEnv.*` (the Pipes bootstrap)."""
        conf = {**dict(self.spark_conf_items(jars)), **{f"{self.DRIVER_ENV_CONF}{k}": v for k, v in driver_env.items()}}
        options = [item for k, v in conf.items() for item in ("--conf", f"{k}={v}")]
        return ["spark-submit", "--deploy-mode", "cluster", *options, script_uri, *script_args]

    def _run_under_pipes(self, context, launch: _Launch) -> tuple[_Submitted, str, list]:
        from dagster import DagsterExecutionInterruptedError, open_pipes_session

        with open_pipes_session(
            context=context, context_injector=launch.context_injector, message_reader=launch.message_reader
        ) as session:
            job = self._submit(launch, dict(session.get_bootstrap_env_vars()))
            context.log.info(
                f"{job.description}: spark_jobs/{launch.script} ({launch.script_uri}) submitted; logs: {job.log_location}"
            )
            try:
                state = self.wait(job, context.log)
            except (KeyboardInterrupt, DagsterExecutionInterruptedError):
                context.log.warning(f"{job.description}: interrupted, cancelling the remote job")
                self._cancel_quietly(job, context.log)
                raise
        # The reader has read every message once the session is closed.
        return job, state, list(session.get_custom_messages())

    def _submit(self, launch: _Launch, driver_env: dict[str, str]) -> _Submitted:
        emr = self.emr_client()
        cluster = emr.describe_cluster(ClusterId=self.cluster_id)["Cluster"]
        state = cluster["Status"]["State"]
        if state not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
            raise EmrJobError(f"EMR cluster {self.cluster_id} cannot take steps: it is {state}")
        step_ids = emr.add_job_flow_steps(
            JobFlowId=self.cluster_id,
            Steps=[{
                "Name": f"ubm {launch.script} {launch.run_id}",
                # Never TERMINATE_CLUSTER: the cluster is shared; a failed job fails its asset only.
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": self.step_arguments(launch.script_uri, launch.script_args, driver_env, launch.jars),
                },
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


class _PipesEMRServerlessClient(PipesEMRServerlessClient):
    """dagster-aws's client with the resource's wait (timeout, cancel, AWS's reason and the log location)
    instead of its own, which waits without limit and fails with "job failed" only."""

    def __init__(self, resource: "EmrServerlessSparkResource", **kwargs):
        super().__init__(**kwargs)
        self.resource = resource
        self.job: _Submitted | None = None

    def _wait_for_completion(self, context, start_response):
        self.job = self.resource.submitted(start_response["jobRunId"])
        context.log.info(f"{self.job.description}: submitted; logs: {self.job.log_location}")
        self.resource.wait(self.job, context.log)
        return self.client.get_job_run(applicationId=start_response["applicationId"], jobRunId=self.job.job_id)

    def _read_messages(self, context, session, response):
        # The base class only wires CloudWatch readers (and warns for any other); the S3 reader reads by itself.
        pass


class EmrServerlessSparkResource(EmrSparkResource):
    """A job run on an EMR Serverless Spark application, through dagster-aws's PipesEMRServerlessClient."""

    application_id: str = Field(description="The EMR Serverless application (SPARK) that runs the jobs.")
    execution_role_arn: str = Field(description="IAM role the job runs as (S3 read/write on the lake).")
    log_uri: str = Field(default="", description="s3:// prefix for driver/executor logs; default <runs_uri>/logs.")

    SUCCEEDED = frozenset({"SUCCESS"})
    ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "CANCELLING"})
    # What PipesEMRServerlessClient uses for the Pipes variables too.
    DRIVER_ENV_CONF = "spark.emr-serverless.driverEnv."

    def serverless_client(self):
        return self._client("emr-serverless", self.emr_endpoint_url)

    def logs_root(self) -> str:
        return (self.log_uri or f"{self.runs_uri.rstrip('/')}/logs").rstrip("/")

    def start_job_run_params(self, script: str, script_uri: str, script_args: list[str], run_id: str,
                             jars: str = "") -> dict:
        """The StartJobRun request; the Pipes client adds the driver's Pipes variables and Dagster's tags."""
        return {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "clientToken": run_id,  # idempotent: a retried request does not start a second run
            "name": f"ubm {script} {run_id}",
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": script_uri,
                    "entryPointArguments": script_args,
                    "sparkSubmitParameters": " ".join(f"--conf {k}={v}" for k, v in self.spark_conf_items(jars)),
                }
            },
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": self.logs_root() + "/"}}
            },
            # The service's own limit too (at least 5 minutes), in case this process dies while waiting.
            "executionTimeoutMinutes": max(5, math.ceil(self.timeout_s / 60)),
        }

    def submitted(self, job_run_id: str) -> _Submitted:
        logs = f"{self.logs_root()}/applications/{self.application_id}/jobs/{job_run_id}/"
        return _Submitted(job_run_id, f"EMR Serverless job run {job_run_id} on application {self.application_id}", logs)

    def _run_under_pipes(self, context, launch: _Launch) -> tuple[_Submitted, str, list]:
        client = _PipesEMRServerlessClient(
            self,
            client=self.serverless_client(),
            context_injector=launch.context_injector,
            message_reader=launch.message_reader,
            forward_termination=True,  # a Dagster run termination cancels the job run
            poll_interval=self.poll_interval_s,
        )
        params = self.start_job_run_params(launch.script, launch.script_uri, launch.script_args, launch.run_id,
                                           launch.jars)
        invocation = client.run(context=context, start_job_run_params=params)
        return client.job, "SUCCESS", list(invocation.get_custom_messages())

    def _status(self, job: _Submitted) -> tuple[str, str | None]:
        run = self.serverless_client().get_job_run(applicationId=self.application_id, jobRunId=job.job_id)["jobRun"]
        state = run["state"]
        return state, (run.get("stateDetails") or None) if state in self.ENDED_BADLY else ""

    def _cancel(self, job: _Submitted) -> None:
        self.serverless_client().cancel_job_run(applicationId=self.application_id, jobRunId=job.job_id)
