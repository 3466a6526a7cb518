"""Running the platform's Spark jobs (scripts in spark_jobs/).

Every script in spark_jobs/ exposes `run(spark, **arguments) -> dict` and a `main()` that parses the
same arguments from the command line, so one script serves both ways of running it:
- locally, `LocalSparkResource` calls `run` in-process on a shared local SparkSession (one JVM per
  Dagster run, not one per asset);
- on AWS, the EMR resources submit the same file with spark-submit (see resources/emr.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zipfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from dagster import ConfigurableResource
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


@lru_cache(maxsize=None)
def load_spark_job(script: str) -> ModuleType:
    """Import spark_jobs/<script> as a module (spark_jobs/ is a folder of scripts, not a package)."""
    path = SPARK_JOBS_DIR / script
    spec = importlib.util.spec_from_file_location(f"spark_jobs.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


_SESSIONS: dict[tuple, object] = {}
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# Lines the JVM writes to its stderr that no setting turns off and that report nothing wrong: the JVM's
# notice that Spark's launcher loads the incubating Vector API, and netlib's native code saying there is
# no system BLAS/LAPACK (Spark ML then uses its Java implementation, with the same results).
JVM_STDERR_NOISE = re.compile(rb"WARNING: Using incubator modules: |netlib-\w+: JNI_OnLoad: dlopen\(")


def _forward_jvm_stderr(stream) -> None:
    """Copy the JVM's stderr to ours, line by line, without JVM_STDERR_NOISE."""
    for line in iter(stream.readline, b""):
        if not JVM_STDERR_NOISE.match(line):
            os.write(2, line)


def _start_jvm(conf) -> None:
    """Start Spark's JVM with its stderr filtered, unless this process has one already (pyspark keeps
    one JVM per process, in SparkContext._gateway; later sessions reuse it)."""
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    if gateway.proc is not None:  # None when attached to a JVM started by someone else
        threading.Thread(target=_forward_jvm_stderr, args=(gateway.proc.stderr,), daemon=True,
                         name="jvm-stderr").start()
    SparkContext(conf=conf, gateway=gateway)  # the session builder below takes this context


class SparkJobResource(ConfigurableResource):
    """Runs a script of spark_jobs/ with keyword arguments and returns its summary dict.

    `context` is the asset's execution context: the EMR resources need it for Dagster Pipes."""

    def run_job(self, script: str, context=None, **arguments) -> dict:
        raise NotImplementedError


class LocalSparkResource(SparkJobResource):
    """Local Spark (pyspark's own runtime) shared by all assets of a run."""

    master: str = Field(default="local[2]")
    driver_memory: str = Field(default="2g")
    shuffle_partitions: int = Field(default=4)

    def session(self):
        key = (self.master, self.driver_memory, self.shuffle_partitions)
        spark = _SESSIONS.get(key)
        if spark is None or spark.sparkContext._jsc is None:
            check_java()
            from pyspark import SparkConf
            from pyspark.sql import SparkSession

            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local Spark talks to itself only

            conf = (
                SparkConf()
                .setMaster(self.master)
                .setAppName("ubm_platform")
                .set("spark.driver.memory", self.driver_memory)
                .set("spark.sql.shuffle.partitions", str(self.shuffle_partitions))
                .set("spark.ui.enabled", "false")
                .set("spark.ui.showConsoleProgress", "false")
                .set("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}")
                .set("spark.sql.session.timeZone", "UTC")
                .set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            )
            jar = jvm_udfs_jar()
            if jar is not None:  # the sentiment scorer (spark_jobs/jvm): classify_movie_review.py uses it when present
                conf.set("spark.jars", str(jar))
            _start_jvm(conf)
            spark = SparkSession.builder.config(conf=conf).getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            _SESSIONS[key] = spark
        return spark

    def run_job(self, script: str, context=None, **arguments) -> dict:
        """Run spark_jobs/<script>'s `run(spark, **arguments)` and return its summary (in-process: no Pipes,
        `context` is not needed)."""
        return load_spark_job(script).run(self.session(), **arguments)


if __name__ == "__main__":  # `python -m ubm_platform.resources.spark --check-java`, used by `make setup`
    import sys

    try:
        print(f"java for Spark: {check_java()}")
        jar = jvm_udfs_jar()
        print(f"spark_jobs/jvm: {jar.relative_to(SPARK_JOBS_DIR.parent) if jar else 'not built (no javac)'}")
    except JavaNotFoundError as exc:
        sys.exit(f"setup stopped: {exc}")
