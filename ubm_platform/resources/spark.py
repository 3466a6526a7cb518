"""Running the platform's Spark jobs (the scripts of spark_jobs/), and the local Spark they need.

Every script runs the same way wherever it runs: started by spark-submit with spark_jobs/entry_point.py
beside it, its command line built from the script's own `ARGUMENTS`, reporting to Dagster through
Dagster Pipes (its summary a custom message, its failure the Pipes closing exception):
- `SparkSubmitResource`: spark-submit on this machine, to local Spark (`local[2]`) or to a Spark
  standalone cluster (`spark://host:7077`); Pipes through local files;
- the EMR resources (resources/emr.py): an EMR step or an EMR Serverless job run; Pipes through S3.
`SparkJobResource.run_job` is the protocol they share.

`local_session()` is an in-process SparkSession for what is not an asset's job: unit tests of the
scripts' functions, `ubm model`, the benchmark's probes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
import zipfile
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from dagster import (
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    Failure,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)
from pydantic import Field

from ubm_platform.settings import SPARK_JOBS_DIR

class JavaNotFoundError(RuntimeError):
    pass


def java_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise JavaNotFoundError(f"cannot read the version of {java}: {out.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def java_tool(name: str) -> str | None:
    """JAVA_HOME/bin/<name>, or <name> on PATH when JAVA_HOME is unset; None when it is not there."""
    home = os.environ.get("JAVA_HOME")
    tool = os.path.join(home, "bin", name) if home else shutil.which(name)
    return tool if tool and os.path.exists(tool) else None


def check_java() -> str:
    """The java Spark will use; raises with what to install when there is none of version 17 or 21+."""
    home = os.environ.get("JAVA_HOME")
    java = java_tool("java")
    install = (
        "Spark needs Java 17 or 21. Install one (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; "
        "macOS: `brew install openjdk@17`) or point JAVA_HOME at it."
    )
    if java is None:
        raise JavaNotFoundError(f"no java found (JAVA_HOME={home or 'unset'}, PATH has none). {install}")
    version = java_version(java)
    if version < 17:
        raise JavaNotFoundError(f"{java} is Java {version}. {install}")
    return java


ENTRY_POINT = SPARK_JOBS_DIR / "entry_point.py"


def _load_module(path: Path, name: str, register: bool = False) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_entry_point() -> ModuleType:
    """spark_jobs/entry_point.py, importable as `entry_point` as `--py-files` makes it for spark-submit."""
    if ENTRY_POINT.stem not in sys.modules:
        _load_module(ENTRY_POINT, ENTRY_POINT.stem, register=True)
    return sys.modules[ENTRY_POINT.stem]


@lru_cache(maxsize=None)
def load_spark_job(script: str) -> ModuleType:
    """spark_jobs/<script> as a module (spark_jobs/ is a folder of scripts, not a package)."""
    load_entry_point()
    # not in sys.modules: cloudpickle then ships the scripts' functions to Python workers by value
    return _load_module(SPARK_JOBS_DIR / script, f"spark_jobs.{Path(script).stem}")


def job_command_line(script: str, arguments: dict) -> list[str]:
    """spark_jobs/<script>'s options for run()'s keyword arguments, from the script's own ARGUMENTS."""
    return load_spark_job(script).ARGUMENTS.command_line(arguments)


logger = logging.getLogger("ubm_platform.spark")
JVM_SOURCES = SPARK_JOBS_DIR / "jvm" / "src"
JVM_BUILD = SPARK_JOBS_DIR / "jvm" / "build"


@lru_cache(maxsize=None)
def jvm_udfs_jar() -> Path | None:
    """spark_jobs/jvm/ compiled into a jar named by the hash of its sources and of the Spark it is compiled
    against: built once (javac, ~3 s), then reused. None, said once in the log, when there is no javac (a Java
    runtime without the JDK): the jobs then apply the sentiment model with Spark ML's own stages, same
    numbers, slower (docs/model.md, "Speed")."""
    import pyspark

    sources = sorted(JVM_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(pyspark.__version__.encode())
    for source in sources:
        digest.update(str(source.relative_to(JVM_SOURCES)).encode() + b"\0" + source.read_bytes())
    jar = JVM_BUILD / f"ubm-jvm-udfs-{digest.hexdigest()[:16]}.jar"
    if jar.exists():
        return jar
    javac = java_tool("javac")
    if javac is None:
        logger.warning("no javac (JAVA_HOME/bin or PATH): the sentiment model runs as Spark ML stages, without "
                       "spark_jobs/jvm's scorer (install a JDK, e.g. openjdk-17-jdk-headless, for the fast path)")
        return None
    spark_jars = Path(pyspark.__file__).parent / "jars"
    JVM_BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=JVM_BUILD) as work:
        classes = Path(work) / "classes"
        done = subprocess.run([javac, "--release", "17", "-nowarn", "-cp", f"{spark_jars}/*", "-d", str(classes),
                               *map(str, sources)], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"compiling spark_jobs/jvm failed:\n{done.stderr.strip()[-4000:]}")
        partial = Path(work) / jar.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        os.replace(partial, jar)  # atomic: a concurrent build of the same sources writes the same bytes
    return jar


# Every job, in every environment: UTC days, microsecond timestamps (what the warehouses read).
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# Lines the JVM writes to its stderr that no setting turns off and that report nothing wrong: the JVM's
# notice that Spark's launcher loads the incubating Vector API, and netlib's native code saying there is
# no system BLAS/LAPACK (Spark ML then uses its Java implementation, with the same results).
JVM_STDERR_NOISE = re.compile(rb"WARNING: Using incubator modules: |netlib-\w+: JNI_OnLoad: dlopen\(")


def shipped_with_jobs(entry_point: str, jar: str = "", extra_conf: dict | None = None) -> dict[str, str]:
    """SPARK_CONF, the entry point every script imports and spark_jobs/jvm's jar ("" when it could not be
    built: the jobs then apply the model with Spark ML's stages), then the environment's own settings
    (jars of its own are kept beside ours)."""
    extra = dict(extra_conf or {})
    conf = {**SPARK_CONF, "spark.submit.pyFiles": entry_point, **extra}
    jars = ",".join(filter(None, [jar, extra.get("spark.jars", "")]))
    if jars:
        conf["spark.jars"] = jars
    return conf


def conf_options(conf: dict[str, str]) -> list[str]:
    return [item for key, value in sorted(conf.items()) for item in ("--conf", f"{key}={value}")]


def _forward_jvm_output(stream, fd: int = 2, tail: deque | None = None) -> None:
    """Copy a JVM's output to our file descriptor `fd`, line by line, without JVM_STDERR_NOISE; keep the
    last lines in `tail`."""
    for line in iter(stream.readline, b""):
        if not JVM_STDERR_NOISE.match(line):
            os.write(fd, line)
            if tail is not None:
                tail.append(line.decode("utf-8", "replace").rstrip())


def _local_spark_conf(shuffle_partitions: int) -> dict[str, str]:
    """What Spark on this machine adds to SPARK_CONF: quiet logs, no web UI, a few shuffle partitions."""
    return {
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
    }


_SESSIONS: dict[tuple, object] = {}


def local_session(master: str = "local[2]", driver_memory: str = "2g", shuffle_partitions: int = 4):
    """An in-process local SparkSession with the jobs' settings and spark_jobs/jvm's jar, one per process
    and settings (not what assets run: they run spark-submit, through SparkJobResource)."""
    key = (master, driver_memory, shuffle_partitions)
    spark = _SESSIONS.get(key)
    if spark is None or spark.sparkContext._jsc is None:
        check_java()
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession

        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local Spark talks to itself only
        jar = jvm_udfs_jar()
        settings = {**SPARK_CONF, **_local_spark_conf(shuffle_partitions), "spark.driver.memory": driver_memory,
                    **({"spark.jars": str(jar)} if jar else {})}
        conf = SparkConf().setMaster(master).setAppName("ubm_platform").setAll(settings.items())
        if SparkContext._gateway is None:  # pyspark keeps one JVM per process; start it with stderr filtered
            gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
            if gateway.proc is not None:  # None when attached to a JVM started by someone else
                threading.Thread(target=_forward_jvm_output, args=(gateway.proc.stderr,), daemon=True,
                                 name="jvm-stderr").start()
            SparkContext(conf=conf, gateway=gateway)  # the session builder below takes this context
        spark = SparkSession.builder.config(conf=conf).getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        _SESSIONS[key] = spark
    return spark


OUTPUT_TAIL_LINES = 12


@dataclass
class SubmittedJob:
    """What a resource needs to follow one job."""

    job_id: str
    description: str  # for messages: "EMR step s-XXX on cluster j-YYY"
    log_location: str
    process: subprocess.Popen | None = None  # spark-submit on this machine
    output_tail: deque = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL_LINES))


class SparkJobError(Failure):
    """A Spark job failed, was cancelled, or ended without reporting its summary."""


class SparkJobResource(ConfigurableResource):
    """Runs a script of spark_jobs/ under Dagster Pipes and returns the summary it reported.

    The protocol every environment follows; each implements `pipes_channels`, `submit`, `wait`, `cancel`:
    1. the command line is the script's own (`job_command_line`);
    2. a Pipes session is opened with the environment's channels, and the job is submitted with the
       session's bootstrap variables in its driver's environment;
    3. `wait` follows the job to its end, raising SparkJobError with the environment's reason when it
       fails; when Dagster interrupts the run, the job is cancelled;
    4. the script reports its summary (what its run() returns) as a Pipes custom message: `run_job`
       returns the last one, and the asset turns it into materialization metadata.
    """

    def run_job(self, script: str, context=None, **arguments) -> dict:
        if context is None:
            raise ValueError(f"spark_jobs/{script} runs under Dagster Pipes and needs the asset's context: "
                             f"spark.run_job({script!r}, context=context, ...)")
        command_line = job_command_line(script, arguments)
        run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"
        context_injector, message_reader = self.pipes_channels(script, run_id)
        with open_pipes_session(context=context, context_injector=context_injector,
                                message_reader=message_reader) as session:
            job = self.submit(script, run_id, command_line, dict(session.get_bootstrap_env_vars()), context)
            try:
                self.wait(job, context.log)
            except (KeyboardInterrupt, DagsterExecutionInterruptedError):
                context.log.warning(f"{job.description}: interrupted, cancelling it")
                self.cancel_quietly(job, context.log)
                raise
        # the reader has read every message once the session is closed
        summaries = [m for m in session.get_custom_messages() if isinstance(m, dict)]
        if not summaries:
            raise SparkJobError(
                f"{job.description} ended without reporting its summary through Dagster Pipes: the script must "
                f"end with entry_point.main(ARGUMENTS, run), and dagster-pipes must be importable where it runs "
                f"(docs/aws.md). Logs: {job.log_location}")
        return summaries[-1]

    def pipes_channels(self, script: str, run_id: str):
        """(context injector, message reader) for one job."""
        raise NotImplementedError

    def submit(self, script: str, run_id: str, command_line: list[str], pipes_env: dict[str, str],
               context) -> SubmittedJob:
        """Start the job, with `pipes_env` in its driver's environment."""
        raise NotImplementedError

    def wait(self, job: SubmittedJob, log) -> None:
        raise NotImplementedError

    def cancel(self, job: SubmittedJob) -> None:
        raise NotImplementedError

    def cancel_quietly(self, job: SubmittedJob, log) -> None:
        try:
            self.cancel(job)
        except Exception as exc:  # the original error matters more than a failed cancellation
            log.warning(f"{job.description}: cancellation failed: {exc}")


class SparkSubmitResource(SparkJobResource):
    """spark-submit on this machine, to local Spark or a Spark standalone cluster; Pipes through local files.

    The driver runs here (client mode: a standalone cluster does not run Python drivers itself), so the
    Pipes files need no shared storage; the data paths must be ones every executor can read."""

    master: str = Field(default="local[2]", description="local[N], or spark://host:port of a standalone cluster.")
    driver_memory: str = Field(default="2g")
    executor_memory: str = Field(default="1g", description="Per executor, on a cluster (unused by local[N]).")
    shuffle_partitions: int = Field(default=4)
    spark_conf: dict[str, str] = Field(default_factory=dict, description="Extra `--conf key=value` settings.")

    def pipes_channels(self, script: str, run_id: str):
        return PipesTempFileContextInjector(), PipesTempFileMessageReader()

    def submit_command(self, script: str, command_line: list[str], app_name: str = "") -> list[str]:
        import pyspark

        check_java()
        jar = jvm_udfs_jar()
        conf = shipped_with_jobs(str(ENTRY_POINT), str(jar) if jar else "", {
            **_local_spark_conf(self.shuffle_partitions),
            # the driver and the executors' Python workers run this interpreter (its packages)
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.executor.memory": self.executor_memory,
            **self.spark_conf,
        })
        spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
        return [str(spark_submit), "--master", self.master, "--name", app_name or f"ubm {script}",
                "--driver-memory", self.driver_memory, *conf_options(conf), str(SPARK_JOBS_DIR / script),
                *command_line]

    def submit(self, script: str, run_id: str, command_line: list[str], pipes_env: dict[str, str],
               context) -> SubmittedJob:
        env = {**os.environ, **pipes_env}
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the driver listens on this machine only
        # In the run's process group, and ended with its parent: a killed run leaves no job writing on.
        process = subprocess.Popen(self.submit_command(script, command_line, f"ubm {script} {run_id}"), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_end_with_parent)
        job = SubmittedJob(str(process.pid), f"spark_jobs/{script} (spark-submit --master {self.master})",
                           "the run's stdout and stderr (compute logs)", process)
        # spark-submit hands the Python driver's stderr to its own stdout: the error can be in either
        for fd, stream in ((1, process.stdout), (2, process.stderr)):
            threading.Thread(target=_forward_jvm_output, args=(stream, fd, job.output_tail), daemon=True,
                             name=f"spark-submit-{process.pid}-{fd}").start()
        context.log.info(f"{job.description}: started, pid {process.pid}")
        return job

    def wait(self, job: SubmittedJob, log) -> None:
        code = job.process.wait()
        if code != 0:
            tail = "\n".join(job.output_tail)
            raise SparkJobError(f"{job.description} failed with exit code {code}; the end of its output:\n{tail}")

    def cancel(self, job: SubmittedJob) -> None:
        """spark-submit's JVM and the Python driver it started, TERM then KILL."""
        import psutil

        try:
            processes = [psutil.Process(job.process.pid)]
            processes += processes[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for signal_them, wait_s in (("terminate", 20), ("kill", 10)):
            for process in processes:
                try:
                    getattr(process, signal_them)()
                except psutil.NoSuchProcess:
                    pass
            _, processes = psutil.wait_procs(processes, timeout=wait_s)
            if not processes:
                return


def _end_with_parent() -> None:
    """In the child before exec: on Linux, SIGTERM when the process that started it dies (as pyspark's own
    JVM ends when its Python process does), so a killed run worker leaves no spark-submit behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":  # `python -m ubm_platform.resources.spark --check-java`, used by `make setup`
    try:
        print(f"java for Spark: {check_java()}")
        jar = jvm_udfs_jar()
        print(f"spark_jobs/jvm: {jar.relative_to(SPARK_JOBS_DIR.parent) if jar else 'not built (no javac)'}")
    except JavaNotFoundError as exc:
        sys.exit(f"setup stopped: {exc}")
