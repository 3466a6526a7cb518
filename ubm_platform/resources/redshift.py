"""The warehouse on AWS: Redshift, reading the S3 lake through Spectrum external tables.

- `partition_registry` (and `register_partition`, a registry of one key) makes published lake
  partitions visible over one connection: it ensures the external schema
  `spectrum` (Glue Data Catalog) and the dataset's external table exist (DDL in
  sql/warehouse/redshift/), then runs `ALTER TABLE spectrum.<table> ADD IF NOT EXISTS PARTITION ...`,
  all with autocommit, since Redshift refuses external DDL inside a transaction block.
- `dbt_env` gives the dbt project (sql/dbt, target `redshift`) this resource's connection settings;
  dbt builds `user_behavior_metric` from the Spectrum tables.
- `query` runs a SELECT of sql/ and returns (columns, rows).

Connections come from a connection factory chosen by `driver`: `redshift_connector` (AWS's driver;
password or IAM authentication) in production, `psycopg2` (password only) where redshift_connector
cannot go, e.g. the tests' PostgreSQL standing in for Redshift. CONNECTION_FACTORIES maps the
name to the factory; a subclass may also override `connection_factory()`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Literal

from pydantic import Field

from ubm_platform import sql_files
from ubm_platform.resources.warehouse import WarehouseResource
from ubm_platform.partitions import partition_window

EXTERNAL_SCHEMA_DDL = "warehouse/redshift/external_schema.sql"
EXTERNAL_SCHEMA_EXISTS = "warehouse/redshift/external_schema_exists.sql"
EXTERNAL_TABLE_EXISTS = "warehouse/redshift/external_table_exists.sql"
ADD_PARTITION = "warehouse/redshift/add_partition.sql"
# Lake dataset -> its external table's DDL.
EXTERNAL_TABLE_DDL = {
    "user_purchase_staging": "warehouse/redshift/user_purchase_staging.sql",
    "classified_movie_review": "warehouse/redshift/classified_movie_review.sql",
    **{table: f"warehouse/redshift/{table}.sql" for table in (
        "rental_staging", "customer_staging", "film_staging", "film_category_staging", "film_actor_staging")},
}


class WarehouseConnectionError(RuntimeError):
    """Redshift cannot be reached; the message names host, database and user, never the password."""


def redshift_sql(name: str, fragments: dict[str, str] | None = None, **literals: str) -> str:
    """The text Redshift runs for sql/<name>: the ONE place where warehouse SQL meets Redshift.

    The shared files (sql/warehouse/*.sql) are written in the subset DuckDB and Redshift share
    (CAST(... AS DATE), COALESCE, CASE, FULL OUTER JOIN, CREATE TABLE IF NOT EXISTS), so they run
    unchanged; the only rewrite is the parameter spelling, `:name` -> `%(name)s` (pyformat, which
    redshift_connector and psycopg2 both bind). test_redshift.py checks with sqlglot that every
    shared file means the same in DuckDB and in Redshift, so a DuckDB-only construct fails the tests
    rather than production. `{{slot}}` literals (locations, names) are validated by sql_files.render.

    A literal '%' is refused: the two drivers unescape '%%' differently inside quoted strings.
    """
    sql = sql_files.render(name, fragments, **literals)
    if "%" in sql:
        raise ValueError(f"sql/{name} contains '%', which redshift_connector and psycopg2 read differently")
    return sql_files.to_paramstyle(sql, "pyformat")


class _PyformatConnection:
    """A redshift_connector connection whose cursors take %(name)s parameters."""

    def __init__(self, conn):
        object.__setattr__(self, "_conn", conn)

    def cursor(self):
        cursor = self._conn.cursor()
        cursor.paramstyle = "pyformat"
        return cursor

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __setattr__(self, name, value):
        setattr(self._conn, name, value)


def connect_redshift_connector(resource: "RedshiftWarehouseResource"):
    import redshift_connector

    kwargs = dict(
        database=resource.database,
        port=resource.port,
        timeout=resource.connect_timeout_s,
        ssl=resource.sslmode != "disable",
        sslmode="verify-full" if resource.sslmode == "verify-full" else "verify-ca",
    )
    if resource.host:
        kwargs["host"] = resource.host
    if resource.iam:
        # Temporary credentials from redshift:GetClusterCredentials, signed with the default AWS
        # credential chain (instance profile, task role, AWS_PROFILE...): no password anywhere.
        kwargs.update(iam=True, db_user=resource.user, cluster_identifier=resource.cluster_identifier,
                      region=resource.region or None, auto_create=False)
    else:
        kwargs.update(user=resource.user, password=resource.password)
    return _PyformatConnection(redshift_connector.connect(**kwargs))


def connect_psycopg2(resource: "RedshiftWarehouseResource"):
    import psycopg2

    if resource.iam:
        raise ValueError("IAM authentication needs driver='redshift_connector'")
    return psycopg2.connect(
        host=resource.host, port=resource.port, dbname=resource.database, user=resource.user,
        password=resource.password, sslmode=resource.sslmode, connect_timeout=resource.connect_timeout_s,
    )


CONNECTION_FACTORIES: dict[str, Callable[["RedshiftWarehouseResource"], object]] = {
    "redshift_connector": connect_redshift_connector,
    "psycopg2": connect_psycopg2,
}


class RedshiftWarehouseResource(WarehouseResource):
    """Redshift (provisioned cluster) with the lake's datasets as Spectrum external tables."""

    host: str = Field(default="", description="Cluster endpoint host; optional with IAM auth (looked up).")
    port: int = Field(default=5439)
    database: str = Field(description="Database holding user_behavior_metric.")
    user: str = Field(description="Database user (with IAM auth: the db_user credentials are issued for).")
    password: str = Field(default="", description="Password auth only; pass as EnvVar, never plain text.")
    iam: bool = Field(default=False, description="IAM auth via GetClusterCredentials instead of a password.")
    cluster_identifier: str = Field(default="", description="Cluster identifier (IAM auth).")
    region: str = Field(default="", description="AWS region of the cluster (IAM auth).")
    sslmode: str = Field(default="verify-ca", description="disable | require | verify-ca | verify-full.")
    connect_timeout_s: int = Field(default=30)
    driver: Literal["redshift_connector", "psycopg2"] = Field(default="redshift_connector")
    spectrum_iam_role_arn: str = Field(description="IAM role Redshift assumes to read S3 and the Glue catalog.")
    glue_database: str = Field(description="Glue Data Catalog database behind the `spectrum` schema.")

    # -- connections -------------------------------------------------------------------------
    def connection_factory(self) -> Callable[["RedshiftWarehouseResource"], object]:
        return CONNECTION_FACTORIES[self.driver]

    def describe(self) -> str:
        auth = f"IAM ({self.cluster_identifier})" if self.iam else "password"
        return f"{self.host or self.cluster_identifier}:{self.port}/{self.database} as {self.user} ({auth})"

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[object]:
        try:
            conn = self.connection_factory()(self)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if self.password:
                reason = reason.replace(self.password, "***")
            raise WarehouseConnectionError(f"cannot connect to Redshift {self.describe()}: {reason}") from None
        try:
            conn.autocommit = autocommit
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _execute(cursor, name: str, params: dict | None = None, fragments: dict | None = None, **literals: str):
        cursor.execute(redshift_sql(name, fragments, **literals), params if params is not None else None)
        return cursor

    # -- WarehouseResource -------------------------------------------------------------------
    @contextmanager
    def partition_registry(self, table: str, location: str) -> Iterator[Callable[[str], None]]:
        """Spectrum partitions of one table over one autocommit connection (external DDL refuses a
        transaction block): schema and table made sure of once, then ADD PARTITION per key."""
        location = location.rstrip("/")
        with self._external_table(table, location) as cursor:
            def register(partition_key: str) -> None:
                window = partition_window(partition_key)
                self._execute(
                    cursor, ADD_PARTITION, fragments={"partition_spec": window.spectrum_partition_spec},
                    table=table, location=location, partition_path=window.path,
                )

            yield register

    def register_table(self, table: str, location: str) -> None:
        """A snapshot's external table is created once; Spectrum reads whatever files its folder holds."""
        with self._external_table(table, location.rstrip("/")):
            pass

    @contextmanager
    def _external_table(self, table: str, location: str) -> Iterator[object]:
        """An autocommit cursor (external DDL refuses a transaction block), the spectrum schema and the
        table made sure of."""
        if table not in EXTERNAL_TABLE_DDL:
            raise ValueError(f"no Spectrum table for {table!r} (known: {sorted(EXTERNAL_TABLE_DDL)})")
        if not location.startswith("s3://"):
            raise ValueError(f"Spectrum reads S3 only; the lake location is {location!r}")
        with self.connect(autocommit=True) as conn:
            cursor = conn.cursor()
            try:
                self._create_if_missing(
                    cursor, EXTERNAL_SCHEMA_EXISTS, {}, EXTERNAL_SCHEMA_DDL,
                    glue_database=self.glue_database, iam_role_arn=self.spectrum_iam_role_arn,
                )
                self._create_if_missing(
                    cursor, EXTERNAL_TABLE_EXISTS, {"table_name": table}, EXTERNAL_TABLE_DDL[table], location=location
                )
                yield cursor
            finally:
                cursor.close()

    def _create_if_missing(self, cursor, exists_sql: str, params: dict, ddl: str, **literals: str) -> None:
        def exists() -> bool:
            return bool(self._execute(cursor, exists_sql, params).fetchone()[0])

        if exists():
            return
        try:
            self._execute(cursor, ddl, **literals)
        except Exception:
            if not exists():  # another process may have created it meanwhile (autocommit: no tx to abort)
                raise

    def dbt_env(self) -> dict[str, str]:
        """profiles.yml's `redshift` target reads the same UBM_REDSHIFT_* variables the platform is configured
        with; they are given from this resource so that dbt connects where the platform does."""
        return {
            "UBM_DBT_TARGET": "redshift", "UBM_REDSHIFT_HOST": self.host, "UBM_REDSHIFT_PORT": str(self.port),
            "UBM_REDSHIFT_DATABASE": self.database, "UBM_REDSHIFT_USER": self.user,
            "UBM_REDSHIFT_PASSWORD": self.password, "UBM_REDSHIFT_IAM": "1" if self.iam else "0",
            "UBM_REDSHIFT_CLUSTER_ID": self.cluster_identifier, "AWS_REGION": self.region,
            "UBM_REDSHIFT_SSLMODE": self.sslmode,
        }

    def publish(self) -> None:
        """Nothing to do: Redshift serves readers beside writers itself (snapshot isolation), and dbt builds
        each model in a transaction, so a reader sees a table before or after its build."""

    def query(self, name: str, params: dict | None = None, **literals: str) -> tuple[list[str], list[tuple]]:
        with self.connect(autocommit=True) as conn:
            cursor = conn.cursor()
            try:
                self._execute(cursor, name, params or {}, **literals)
                return [d[0] for d in cursor.description], [tuple(r) for r in cursor.fetchall()]
            finally:
                cursor.close()
