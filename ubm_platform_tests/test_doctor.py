"""`ubm doctor`, run as a user runs it (a subprocess), with good, missing and wrong settings.

AWS is moto's server (S3, EMR, EMR Serverless); Redshift is the session's real PostgreSQL through the
psycopg2 connection factory (UBM_REDSHIFT_DRIVER=psycopg2), with a role that needs a password, so a
wrong password is refused for real. Every run plants secret values and checks none is printed.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import duckdb
import psycopg
import pytest

from ubm_platform import sql_files
from ubm_platform.resources.spark import jvm_udfs_jar
from ubm_platform_tests.conftest import FAKE_AWS_ENV, run_cli, ubm_env

PLANTED = "planted-Secret-7f3a9c"  # a password / key value that must never appear in the output
REDSHIFT_USER, REDSHIFT_PASSWORD = "doctor_loader", "right-Secret-51b2"
STATUS_LINE = re.compile(r"^(ok  |warn|FAIL)  [^:]+: .+$")


def doctor(env: dict, *secrets: str) -> tuple[int, list[str]]:
    """(exit code, output lines) of `ubm doctor`; fails the test if a secret is printed or a line is malformed."""
    result = run_cli(["doctor"], env, check=False, timeout=180)
    output = result.stdout + result.stderr
    for secret in (PLANTED, *secrets):
        assert secret not in output, f"secret printed:\n{output}"
    lines = result.stdout.splitlines()
    checks = lines[1:-1] if lines[0].startswith("ubm doctor: UBM_ENV=") else lines[:-1]
    assert checks and all(STATUS_LINE.match(text) for text in checks), output
    assert re.fullmatch(r"\d+ failed, \d+ warnings|everything checked is ok", lines[-1]), output
    return result.returncode, lines


def line(lines: list[str], what: str) -> str:
    """The one line about `what` (the text between the status and the colon)."""
    found = [text for text in lines if STATUS_LINE.match(text) and text[6:].split(":")[0] == what]
    assert len(found) == 1, f"expected one line about {what!r}:\n" + "\n".join(lines)
    return found[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


# -- UBM_ENV=local -----------------------------------------------------------------------------------


def test_a_good_local_setup_is_all_ok_but_the_missing_model(state_dirs):
    home = state_dirs("doctor-local")
    env = ubm_env(home)
    run_cli(["seed", "--from", "2022-01-01", "--to", "2022-01-02", "--scale", "0.05"], env)
    (home / "build").mkdir()
    duckdb.connect(str(home / "build" / "warehouse.duckdb")).close()  # what runs build (analysts read a copy)

    code, lines = doctor(env)

    assert code == 0, "\n".join(lines)
    assert re.match(r"ok    java for local Spark: \S+ \(Java (1[7-9]|[2-9]\d)\)$", line(lines, "java for local Spark"))
    assert line(lines, "sentiment scorer (spark_jobs/jvm)") == (
        f"ok    sentiment scorer (spark_jobs/jvm): {jvm_udfs_jar().name} (classification applies the model in one JVM "
        "call per review)")
    assert line(lines, "UBM_HOME") == f"ok    UBM_HOME: {home} is writable"
    assert line(lines, "OLTP PostgreSQL") == (
        f"ok    OLTP PostgreSQL: embedded PostgreSQL in {home / 'oltp-pgdata'} answers and has the Pagila tables")
    assert line(lines, "landing area") == f"ok    landing area: {home / 'landing'}: 2 vendor files, 2022-01-01 .. 2022-01-02"
    assert line(lines, "DuckDB warehouse") == f"ok    DuckDB warehouse: {home / 'build' / 'warehouse.duckdb'} opens"
    assert line(lines, "sentiment model").startswith(
        f"warn  sentiment model: none yet in {home / 'lake/models/sentiment'}: `ubm run` trains one")
    assert lines[-1] == "0 failed, 1 warnings"


def test_wrong_local_settings_each_get_a_fail_line_without_the_password(tmp_path):
    home = tmp_path / "home"
    (home / "build").mkdir(parents=True)
    (home / "build" / "warehouse.duckdb").write_text("not a database")
    port = _closed_port()
    env = ubm_env(
        home,
        UBM_OLTP_DSN=f"postgresql://ubm:{PLANTED}@127.0.0.1:{port}/pagila",
        UBM_LANDING=str(tmp_path / "no-such-landing"),
        UBM_TRAINING_DATA=str(tmp_path / "labelled.csv"),
        JAVA_HOME=str(tmp_path / "no-java"),
    )
    jvm_udfs_jar()  # built (javac on PATH here): without JAVA_HOME's javac the doctor finds the built jar

    code, lines = doctor(env)

    assert code == 1
    assert line(lines, "java for local Spark").startswith(
        f"FAIL  java for local Spark: no java found (JAVA_HOME={tmp_path / 'no-java'}")
    assert line(lines, "OLTP PostgreSQL").startswith(
        f"FAIL  OLTP PostgreSQL: cannot connect to OLTP PostgreSQL at host 127.0.0.1: ")
    assert line(lines, "landing area") == (
        f"FAIL  landing area: UBM_LANDING={tmp_path / 'no-such-landing'} is not a folder: create it or fix UBM_LANDING")
    assert line(lines, "DuckDB warehouse").startswith(
        f"FAIL  DuckDB warehouse: cannot open {home / 'build' / 'warehouse.duckdb'}: ")
    assert line(lines, "UBM_TRAINING_DATA").startswith(f"FAIL  UBM_TRAINING_DATA: {tmp_path / 'labelled.csv'} is not a file")
    assert line(lines, "UBM_HOME") == f"ok    UBM_HOME: {home} is writable"
    assert lines[-1] == "5 failed, 1 warnings"


def test_an_invalid_setting_is_one_fail_line(tmp_path):
    code, lines = doctor(ubm_env(tmp_path, UBM_PARTITION="weekly"))
    assert code == 1
    assert lines == ["FAIL  settings: UBM_PARTITION must be 'daily' or 'hourly', got 'weekly'", "1 failed, 0 warnings"]


# -- UBM_ENV=aws ---------------------------------------------------------------------------------------


def _without_aws_credentials(env: dict) -> dict:
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    return env


def test_aws_with_nothing_set_names_every_required_variable(tmp_path):
    env = _without_aws_credentials(ubm_env(tmp_path, UBM_ENV="aws", UBM_REDSHIFT_PASSWORD=PLANTED))

    code, lines = doctor(env)

    assert code == 1
    failed = {text[6:].split(":")[0] for text in lines if text.startswith("FAIL")}
    assert failed == {"AWS_REGION", "UBM_S3_BUCKET", "UBM_OLTP_DSN", "UBM_REDSHIFT_DATABASE", "UBM_REDSHIFT_USER",
                      "UBM_SPECTRUM_IAM_ROLE_ARN", "UBM_EMR_CLUSTER_ID", "UBM_REDSHIFT_HOST", "AWS credentials"}
    assert line(lines, "UBM_S3_BUCKET") == (
        "FAIL  UBM_S3_BUCKET: not set: Bucket of the lake, the uploaded Spark code and the Spark runs' Pipes context and messages (docs/aws.md)")
    assert line(lines, "AWS credentials").startswith("FAIL  AWS credentials: none found by the default chain")
    assert line(lines, "S3, EMR, Redshift") == "warn  S3, EMR, Redshift: not checked until the variables above are fixed"


@pytest.fixture(scope="module")
def password_role(pg_server):
    """A role of the session's PostgreSQL that must give its password (the server trusts everyone else)."""
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REDSHIFT_USER,)).fetchone():
            conn.execute(f"CREATE ROLE {REDSHIFT_USER} LOGIN PASSWORD '{REDSHIFT_PASSWORD}'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        rule = f"local all {REDSHIFT_USER} scram-sha-256\n"
        if rule not in hba.read_text():
            hba.write_text(rule + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        socket_dir, port = (conn.execute(f"SHOW {name}").fetchone()[0] for name in ("unix_socket_directories", "port"))
    return socket_dir.split(",")[0], port


@pytest.fixture
def pagila_dsn(pg_database):
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql_files.load("seed/pagila_subset_schema.sql"))
    return pg_database


def _aws_settings(aws, password_role, oltp_dsn: str, **overrides) -> dict:
    socket_dir, port = password_role
    return {
        **FAKE_AWS_ENV,
        "UBM_ENV": "aws",
        "UBM_S3_BUCKET": aws.bucket,
        "UBM_S3_PREFIX": "ubm",
        "UBM_S3_ENDPOINT_URL": aws.endpoint,
        "UBM_EMR_ENDPOINT_URL": aws.endpoint,
        "UBM_OLTP_DSN": oltp_dsn,
        "UBM_REDSHIFT_DRIVER": "psycopg2",
        "UBM_REDSHIFT_HOST": socket_dir,
        "UBM_REDSHIFT_PORT": port,
        "UBM_REDSHIFT_DATABASE": "postgres",
        "UBM_REDSHIFT_USER": REDSHIFT_USER,
        "UBM_REDSHIFT_PASSWORD": REDSHIFT_PASSWORD,
        "UBM_REDSHIFT_SSLMODE": "disable",
        "UBM_SPECTRUM_IAM_ROLE_ARN": "arn:aws:iam::123456789012:role/ubm-spectrum",
        **overrides,
    }


def _cluster(aws) -> str:
    return aws.client("emr").run_job_flow(
        Name="ubm-shared", ReleaseLabel="emr-7.5.0",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]


@pytest.mark.parametrize("mode", ["emr_steps", "emr_serverless"])
def test_a_good_aws_setup_on_moto_is_all_ok_but_the_missing_model(mode, aws, password_role, pagila_dsn, tmp_path):
    if mode == "emr_steps":
        spark = {"UBM_SPARK_MODE": mode, "UBM_EMR_CLUSTER_ID": _cluster(aws)}
        spark_line = f"ok    EMR cluster {spark['UBM_EMR_CLUSTER_ID']}: WAITING"
    else:
        app = aws.client("emr-serverless").create_application(name="ubm", releaseLabel="emr-7.5.0", type="SPARK")
        spark = {"UBM_SPARK_MODE": mode, "UBM_EMR_SERVERLESS_APP_ID": app["applicationId"],
                 "UBM_EMR_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/ubm-job"}
        spark_line = f"ok    EMR Serverless application {app['applicationId']}: STARTED (release emr-7.5.0)"
    aws.put("ubm/landing/movie_review/2022-01-02/movie_review.csv", b"cid,review_str\n1,great\n")
    env = ubm_env(tmp_path, **_aws_settings(aws, password_role, pagila_dsn, **spark))

    code, lines = doctor(env, REDSHIFT_PASSWORD)

    assert code == 0, "\n".join(lines)
    assert line(lines, "AWS credentials") == "ok    AWS credentials: found by the default chain (source: env)"
    assert line(lines, "S3 lake") == (
        f"ok    S3 lake: s3://{aws.bucket}/ubm/ listable and writable (probe put and deleted under doctor/)")
    assert aws.keys("ubm/doctor/") == [], "the probe object is deleted"
    assert line(lines, "S3 landing") == f"ok    S3 landing: s3://{aws.bucket}/ubm/landing/movie_review/ listable, 1 vendor files"
    assert line(lines, "sentiment model").startswith(f"warn  sentiment model: none yet in s3://{aws.bucket}/ubm/models/sentiment")
    assert line(lines, spark_line[6:].split(":")[0]) == spark_line
    assert line(lines, "Redshift") == (
        f"ok    Redshift: {password_role[0]}:{password_role[1]}/postgres as {REDSHIFT_USER} (password) answers (driver psycopg2)")
    assert re.fullmatch(r"ok    OLTP PostgreSQL: postgresql://postgres:\*\*\*@/t_\w+\?host=\S+ answers and has the Pagila tables",
                        line(lines, "OLTP PostgreSQL"))
    assert lines[-1] == "0 failed, 1 warnings"


def test_a_missing_bucket_a_dead_cluster_and_wrong_passwords_fail_without_printing_them(aws, password_role, pg_database,
                                                                                        tmp_path):
    socket_dir, port = password_role
    cluster = _cluster(aws)
    aws.client("emr").terminate_job_flows(JobFlowIds=[cluster])
    oltp_dsn = f"postgresql://{REDSHIFT_USER}:{PLANTED}@/postgres?host={socket_dir}&port={port}"
    env = ubm_env(tmp_path, **_aws_settings(
        aws, password_role, oltp_dsn, UBM_S3_BUCKET="ubm-no-such-bucket", UBM_EMR_CLUSTER_ID=cluster,
        UBM_REDSHIFT_PASSWORD=PLANTED, AWS_SECRET_ACCESS_KEY=PLANTED + "-key"))

    code, lines = doctor(env)

    assert code == 1
    assert line(lines, "AWS credentials") == "ok    AWS credentials: found by the default chain (source: env)"
    assert line(lines, "S3 lake") == ("FAIL  S3 lake: bucket ubm-no-such-bucket does not exist (or not in this "
                                      "account/endpoint): create it or fix the variables")
    assert re.fullmatch(rf"FAIL  EMR cluster {cluster}: TERMINAT\w+.*: start a cluster and set UBM_EMR_CLUSTER_ID to it",
                        line(lines, f"EMR cluster {cluster}"))
    assert line(lines, "Redshift").startswith(
        f"FAIL  Redshift: cannot connect to Redshift {socket_dir}:{port}/postgres as {REDSHIFT_USER} (password): ")
    assert "password authentication failed" in line(lines, "Redshift")
    assert line(lines, "OLTP PostgreSQL").startswith("FAIL  OLTP PostgreSQL: cannot connect to OLTP PostgreSQL at host ")
    assert "password authentication failed" in line(lines, "OLTP PostgreSQL")


def test_unreachable_endpoints_fail_quickly_with_where_they_are(aws, password_role, tmp_path):
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = ubm_env(tmp_path, **_aws_settings(
        aws, password_role, f"postgresql://ubm:{PLANTED}@127.0.0.1:{_closed_port()}/pagila",
        UBM_S3_ENDPOINT_URL=dead, UBM_EMR_ENDPOINT_URL=dead, UBM_EMR_CLUSTER_ID="j-NOWHERE",
        UBM_REDSHIFT_HOST="127.0.0.1", UBM_REDSHIFT_PORT=str(_closed_port())))

    code, lines = doctor(env, REDSHIFT_PASSWORD)

    assert code == 1
    assert line(lines, "S3 lake").startswith(f"FAIL  S3 lake: list s3://{aws.bucket}/ubm/ failed: ")
    assert dead in line(lines, "S3 lake")
    assert line(lines, "EMR cluster j-NOWHERE").startswith("FAIL  EMR cluster j-NOWHERE: DescribeCluster failed: ")
    assert dead in line(lines, "EMR cluster j-NOWHERE")
    assert line(lines, "Redshift").startswith(f"FAIL  Redshift: cannot connect to Redshift 127.0.0.1:")
    assert line(lines, "OLTP PostgreSQL").startswith("FAIL  OLTP PostgreSQL: cannot connect to OLTP PostgreSQL at host 127.0.0.1")


# -- the check runner, in-process -------------------------------------------------------------------


def test_a_check_that_hangs_or_raises_is_one_fail_line_and_secrets_are_scrubbed(monkeypatch):
    import threading

    from ubm_platform.doctor import fail, run_check, scrub

    release = threading.Event()
    hung = run_check("Redshift", lambda: release.wait(60), timeout_s=0.2)
    release.set()
    assert [f.line() for f in hung] == [
        "FAIL  Redshift: no answer within 0s (host unreachable, firewall or security group?)"]

    def raises():
        raise RuntimeError("first line\nsecond line")

    assert [f.line() for f in run_check("S3 lake", raises)] == ["FAIL  S3 lake: first line"]

    monkeypatch.setenv("UBM_REDSHIFT_PASSWORD", PLANTED)
    monkeypatch.setenv("UBM_OLTP_DSN", "host=db user=ubm password=dsn-Secret-1")
    line_ = fail("x", f"server said {PLANTED}; conninfo host=db password=dsn-Secret-1 and dsn-Secret-1 again").line()
    assert scrub(line_) == "FAIL  x: server said ***; conninfo host=db password=*** and *** again"
