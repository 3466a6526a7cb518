"""RedshiftWarehouseResource: its SQL checked with sqlglot's Redshift dialect, its queries run on a real
PostgreSQL standing in for Redshift, and the external DDL against a fake Redshift session that enforces
the autocommit rule. The metric is built by dbt: ubm_platform_tests/dbt/."""

from __future__ import annotations

import datetime as dt
import glob
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from ubm_platform import sql_files
from ubm_platform.partitions import HOURLY, granularity
from ubm_platform.defs.movie_review.assets import CLASSIFIED_SCHEMA
from ubm_platform.defs.pagila.assets import RENTAL_SCHEMA, SNAPSHOTS
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA
from ubm_platform.resources.redshift import (
    EXTERNAL_TABLE_DDL,
    RedshiftWarehouseResource,
    WarehouseConnectionError,
    redshift_sql,
)
from ubm_platform.settings import SQL_DIR, SettingsError
from ubm_platform_tests.conftest import use_granularity

REDSHIFT_FILES = sorted(Path(p).relative_to(SQL_DIR).as_posix() for p in glob.glob(str(SQL_DIR / "warehouse/redshift/*.sql")))
# The queries of the published metric that Redshift runs too (the asset's preview and row counts, `ubm show`).
SHARED_FILES = ["warehouse/user_behavior_metric_partition_rows.sql", "warehouse/partition_counts.sql",
                "warehouse/user_behavior_metric_partition_preview.sql"]
SAMPLE_LITERALS = {
    "glue_database": "ubm_lake", "iam_role_arn": "arn:aws:iam::123456789012:role/ubm-spectrum",
    "location": "s3://ubm-lake/prod/stage/user_purchase", "table": "user_purchase_staging",
}
# sqlglot has no model of CREATE EXTERNAL SCHEMA and keeps it as an opaque command.
OPAQUE_TO_SQLGLOT = {"warehouse/redshift/external_schema.sql"}


def _rendered(name: str) -> str:
    """The file as Redshift would run it, for the configured granularity (UBM_PARTITION)."""
    scheme = granularity()
    window = scheme.window(scheme.keys_between(dt.date(2022, 1, 2), dt.date(2022, 1, 2))[-1])
    literals = {**SAMPLE_LITERALS, "partition_path": window.path}
    slots = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", sql_files.load(name))) & set(literals)
    return redshift_sql(name, {"partition_spec": window.spectrum_partition_spec}, **{k: literals[k] for k in slots})


# -- the SQL, statically -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REDSHIFT_FILES + SHARED_FILES)
def test_every_statement_redshift_runs_parses_in_sqlglots_redshift_dialect(name, partitioning):
    statements = sql_files.statements(_rendered(name))
    assert statements
    for statement in statements:
        parsed = sqlglot.parse_one(statement, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
        if name in OPAQUE_TO_SQLGLOT:
            assert isinstance(parsed, exp.Command)
            assert re.fullmatch(
                r"CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum FROM DATA CATALOG DATABASE '[\w-]+' "
                r"IAM_ROLE 'arn:aws:iam::\d{12}:role/[\w+=,.@/-]+' CREATE EXTERNAL DATABASE IF NOT EXISTS",
                " ".join(line for line in statement.splitlines() if not line.startswith("--")).strip(),
            ), statement
        else:
            assert not isinstance(parsed, exp.Command), f"sqlglot could not parse {name}: {statement}"


def test_the_redshift_files_are_known():
    assert set(REDSHIFT_FILES) == {
        "warehouse/redshift/add_partition.sql", "warehouse/redshift/classified_movie_review.sql",
        "warehouse/redshift/external_schema.sql", "warehouse/redshift/external_schema_exists.sql",
        "warehouse/redshift/external_table_exists.sql", "warehouse/redshift/user_purchase_staging.sql",
        "warehouse/redshift/rental_staging.sql", "warehouse/redshift/customer_staging.sql",
        "warehouse/redshift/film_staging.sql", "warehouse/redshift/film_category_staging.sql",
        "warehouse/redshift/film_actor_staging.sql",
    }


@pytest.mark.parametrize("name", SHARED_FILES)
def test_shared_metric_sql_means_the_same_in_duckdb_and_redshift(name, partitioning):
    """The shared files run unchanged on Redshift: no DuckDB-only construct that would need rewriting."""
    table = {"table": "user_behavior_metric"} if "{{table}}" in sql_files.load(name) else {}
    as_duckdb = sqlglot.parse_one(sql_files.render(name, **table), read="duckdb").sql("redshift")
    as_redshift = sqlglot.parse_one(redshift_sql(name, **table), read="redshift").sql("redshift")
    assert as_redshift == as_duckdb


PARQUET_TO_REDSHIFT = {
    pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.date32(): "DATE", pa.decimal128(4, 2): "DECIMAL(4, 2)",
    pa.decimal128(5, 2): "DECIMAL(5, 2)", pa.string(): "VARCHAR(256)", pa.decimal128(18, 5): "DECIMAL(18, 5)",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP", pa.bool_(): "BOOLEAN", pa.float64(): "DOUBLE PRECISION",
}


@pytest.mark.parametrize("table, schema", [("user_purchase_staging", USER_PURCHASE_SCHEMA),
                                           ("classified_movie_review", CLASSIFIED_SCHEMA),
                                           ("rental_staging", RENTAL_SCHEMA),
                                           *((name, snapshot.schema) for name, snapshot in SNAPSHOTS.items())])
def test_external_tables_match_the_parquet_the_platform_writes(table, schema, partitioning):
    create = sqlglot.parse_one(_rendered(EXTERNAL_TABLE_DDL[table]), read="redshift")
    assert isinstance(create, exp.Create) and create.this.this.name == table and create.this.this.db == "spectrum"
    columns = [(c.name, c.args["kind"].sql("redshift")) for c in create.this.expressions]
    assert columns == [(f.name, PARQUET_TO_REDSHIFT[f.type]) for f in schema]
    partitioned = create.find(exp.PartitionedByProperty)
    if table in SNAPSHOTS:  # replaced whole: no partitions
        assert partitioned is None
    else:
        expected = "(insert_date DATE, insert_hour SMALLINT)" if partitioning is HOURLY else "(insert_date DATE)"
        assert partitioned is not None and partitioned.sql("redshift").endswith(expected)
    text = _rendered(EXTERNAL_TABLE_DDL[table])
    assert "STORED AS PARQUET" in text and f"LOCATION '{SAMPLE_LITERALS['location']}/'" in text


def test_redshift_connector_binds_the_same_parameters(partitioning):
    from redshift_connector.core import convert_paramstyle

    statement, make_args = convert_paramstyle("pyformat", redshift_sql("warehouse/user_behavior_metric_partition_preview.sql"))
    assert "%" not in statement and ":insert_date" not in statement and ":insert_hour" not in statement
    params = partitioning.window(partitioning.keys_between(dt.date(2022, 1, 2), dt.date(2022, 1, 2))[-1]).sql_params
    if partitioning is HOURLY:
        assert statement.count("$1") == 1 and statement.count("$2") == 1 and "$3" not in statement
        assert make_args(params) == ("2022-01-02", 23)
    else:
        assert statement.count("$1") == 1 and "$2" not in statement
        assert make_args(params) == ("2022-01-02",)

    statement, make_args = convert_paramstyle("pyformat", redshift_sql("warehouse/partition_counts.sql", table="fact_payment"))
    assert "%" not in statement and ":date_from" not in statement and ":date_to" not in statement
    assert statement.count("$1") == 1 and statement.count("$2") == 1 and "$3" not in statement
    assert make_args({"date_from": "2022-01-02", "date_to": "2022-01-09"}) == ("2022-01-02", "2022-01-09")


def test_sql_with_a_percent_sign_is_refused(monkeypatch):
    monkeypatch.setattr(sql_files, "load", lambda name: "SELECT 1 WHERE 'a' LIKE 'a%'")
    with pytest.raises(ValueError, match="contains '%'"):
        redshift_sql("warehouse/anything.sql")


def test_template_slots_refuse_unsafe_literals(fake_redshift):
    _state, make = fake_redshift
    with pytest.raises(ValueError, match="unsafe value"):
        make().register_partition("user_purchase_staging", "s3://ubm-lake/prod/stage/user_purchase' --", "2022-01-02")


# -- register_partition: external DDL, outside transactions ---------------------------------------------


def test_register_partition_creates_the_schema_and_table_once_then_adds_partitions(fake_redshift):
    state, make = fake_redshift
    warehouse = make()
    purchases, classified = "s3://ubm-lake/prod/stage/user_purchase/", "s3://ubm-lake/prod/stage/classified_movie_review"

    warehouse.register_partition("user_purchase_staging", purchases, "2022-01-02")
    warehouse.register_partition("user_purchase_staging", purchases, "2022-01-03")
    warehouse.register_partition("user_purchase_staging", purchases, "2022-01-03")
    warehouse.register_partition("classified_movie_review", classified, "2022-01-02")

    assert state.partitions == {
        ("user_purchase_staging", "2022-01-02"): "s3://ubm-lake/prod/stage/user_purchase/insert_date=2022-01-02/",
        ("user_purchase_staging", "2022-01-03"): "s3://ubm-lake/prod/stage/user_purchase/insert_date=2022-01-03/",
        ("classified_movie_review", "2022-01-02"):
            "s3://ubm-lake/prod/stage/classified_movie_review/insert_date=2022-01-02/",
    }
    ddl = [sql for sql, _params, _autocommit in state.statements
           if re.search(r"^CREATE EXTERNAL", sql, re.MULTILINE)]
    assert len(ddl) == 3, "schema once, each table once"
    assert "LOCATION 's3://ubm-lake/prod/stage/user_purchase/'" in ddl[1]
    assert "IAM_ROLE 'arn:aws:iam::123456789012:role/ubm-spectrum'" in ddl[0] and "DATABASE 'ubm_lake'" in ddl[0]
    assert all(autocommit for _sql, _params, autocommit in state.statements)


def test_a_runs_partitions_are_registered_over_one_connection(fake_redshift):
    state, make = fake_redshift
    days = ["2022-01-02", "2022-01-03", "2022-01-04"]
    with make().partition_registry("user_purchase_staging", "s3://ubm-lake/prod/stage/user_purchase") as register:
        for day in days:
            register(day)
    assert state.connections == 1
    assert sorted(state.partitions) == [("user_purchase_staging", day) for day in days]
    existence_checks = [sql for sql, _p, _a in state.statements if "svv_external" in sql]
    assert len(existence_checks) == 2, "schema and table looked up once for the run, not per partition"


def test_hourly_partitions_register_both_partition_columns(fake_redshift, monkeypatch):
    use_granularity(monkeypatch, "hourly")
    state, make = fake_redshift
    warehouse, purchases = make(), "s3://ubm-lake/prod/stage/user_purchase"
    warehouse.register_partition("user_purchase_staging", purchases, "2022-01-02-05:00")
    warehouse.register_partition("user_purchase_staging", purchases, "2022-01-02-23:00")
    assert state.partitions == {
        ("user_purchase_staging", "2022-01-02", "05"):
            "s3://ubm-lake/prod/stage/user_purchase/insert_date=2022-01-02/insert_hour=05/",
        ("user_purchase_staging", "2022-01-02", "23"):
            "s3://ubm-lake/prod/stage/user_purchase/insert_date=2022-01-02/insert_hour=23/",
    }
    ddl = next(sql for sql, _p, _a in state.statements if "PARTITIONED BY" in sql)
    assert "PARTITIONED BY (insert_date DATE, insert_hour SMALLINT)" in ddl
    with pytest.raises(SettingsError, match="not a hourly key"):
        warehouse.register_partition("user_purchase_staging", purchases, "2022-01-02")


def test_register_partition_survives_a_concurrent_create(fake_redshift):
    """Another process creates the table between our existence check and our CREATE."""
    state, make = fake_redshift
    state.objects |= {"schema", "classified_movie_review"}
    state.hidden_once.add("classified_movie_review")  # the first existence check misses it
    make().register_partition("classified_movie_review", "s3://b/lake/stage/classified_movie_review", "2022-01-05")
    assert ("classified_movie_review", "2022-01-05") in state.partitions
    assert any("CREATE EXTERNAL TABLE" in sql for sql, _p, _a in state.statements), "the CREATE was tried"


def test_register_partition_refuses_bad_input(fake_redshift):
    _state, make = fake_redshift
    with pytest.raises(ValueError, match="no Spectrum table"):
        make().register_partition("movie_review_raw", "s3://b/lake/raw/movie_review", "2022-01-02")
    with pytest.raises(SettingsError):
        make().register_partition("user_purchase_staging", "s3://b/lake/stage/user_purchase", "2022-13-40")
    with pytest.raises(ValueError, match="Spectrum reads S3 only"):
        make().register_partition("user_purchase_staging", "/tmp/lake/stage/user_purchase", "2022-01-02")


def test_connection_errors_name_the_server_but_never_the_password():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    warehouse = RedshiftWarehouseResource(
        driver="psycopg2", host="127.0.0.1", port=port, database="dev", user="ubm", password="hunter2-secret",
        sslmode="disable", connect_timeout_s=3,
        spectrum_iam_role_arn="arn:aws:iam::123456789012:role/x", glue_database="ubm_lake",
    )
    with pytest.raises(WarehouseConnectionError) as error:
        warehouse.query("warehouse/ping.sql")
    assert f"127.0.0.1:{port}/dev as ubm" in str(error.value) and "hunter2" not in str(error.value)


# -- the metric on PostgreSQL standing in for Redshift ------------------------------------------------------

DAY, OTHER_DAY = "2022-01-02", "2022-01-03"


def _standin_ddl(table: str) -> str:
    """A plain table with the external table's columns (from its DDL) plus the partition columns, if any."""
    text = _rendered(EXTERNAL_TABLE_DDL[table])
    match = re.search(r"CREATE EXTERNAL TABLE (spectrum\.\w+) \((.*?)\)\s*(?:PARTITIONED BY \((.*?)\))?\s*STORED",
                      text, re.S)
    name, columns, partition = match.groups()
    return f"CREATE TABLE {name} ({columns}{', ' + partition if partition else ''})"


@pytest.fixture
def pg_warehouse(pg_database):
    """RedshiftWarehouseResource on psycopg2 against a fresh PostgreSQL database with spectrum stand-ins."""
    return _pg_warehouse(pg_database)


def _pg_warehouse(pg_database):
    info = psycopg.conninfo.conninfo_to_dict(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA spectrum")
        for table in EXTERNAL_TABLE_DDL:
            conn.execute(_standin_ddl(table))
        # the customers who buy and review below, for the star schema's dimension
        conn.execute("INSERT INTO spectrum.customer_staging (customer_id, store_id, active, city, country) "
                     "SELECT c, 1, true, 'Lethbridge', 'Canada' FROM generate_series(1, 6) AS c")
    warehouse = RedshiftWarehouseResource(
        driver="psycopg2", host=info["host"], port=5432, database=info["dbname"], user=info.get("user", "postgres"),
        password=info.get("password") or "", sslmode="disable",
        spectrum_iam_role_arn="arn:aws:iam::123456789012:role/x", glue_database="ubm_lake",
    )
    return warehouse, pg_database


PURCHASES = [  # (payment_id, customer_id, amount, day)
    (1, 1, "2.99000", DAY), (2, 1, "4.99000", DAY), (3, 2, "0.99000", DAY), (4, 3, "10.12345", DAY),
    (5, 3, "1.00000", DAY), (6, 3, "0.00000", DAY), (7, 4, "5.50000", OTHER_DAY), (8, 1, "7.00000", OTHER_DAY),
]
REVIEWS = [  # (cid, review_id, positive, day)
    (2, "r1", True, DAY), (2, "r2", False, DAY), (3, "r3", True, DAY), (5, "r4", True, DAY), (5, "r5", True, DAY),
    (6, "r6", False, DAY), (1, "r7", True, OTHER_DAY), (4, "r8", False, OTHER_DAY),
]


def _load(dsn: str, purchases=PURCHASES, reviews=REVIEWS) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE spectrum.user_purchase_staging, spectrum.classified_movie_review")
        for payment_id, customer, amount, day in purchases:
            conn.execute(
                "INSERT INTO spectrum.user_purchase_staging (payment_id, customer_id, rental_id, film_id, category, "
                "amount, payment_ts, rental_ts, insert_date) VALUES (%s, %s, %s, 10, 'Drama', %s, %s, %s, %s)",
                (payment_id, customer, payment_id, Decimal(amount), f"{day} 10:00", f"{day} 09:00", day))
        for cid, review_id, positive, day in reviews:
            conn.execute(
                "INSERT INTO spectrum.classified_movie_review VALUES (%s, %s, %s, %s, 0.9, 'm1', NULL, %s)",
                (cid, review_id, positive, "positive" if positive else "negative", day))


def _expected(day: str, purchases=PURCHASES, reviews=REVIEWS) -> dict[int, tuple]:
    spent, count = defaultdict(Decimal), defaultdict(int)
    for _id, customer, amount, d in purchases:
        if d == day:
            spent[customer] += Decimal(amount)
            count[customer] += 1
    positive, total = defaultdict(int), defaultdict(int)
    for cid, _rid, is_positive, d in reviews:
        if d == day:
            positive[cid] += is_positive
            total[cid] += 1
    return {c: (spent.get(c, Decimal(0)), count.get(c, 0), positive.get(c, 0), total.get(c, 0))
            for c in set(spent) | set(total)}


def _metric(dsn: str, day: str) -> dict[int, tuple]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT customerid, amount_spent, purchase_count, review_score, review_count FROM user_behavior_metric "
            "WHERE insert_date = %s::date", (day,)).fetchall()
    result = {r[0]: tuple(r[1:]) for r in rows}
    assert len(result) == len(rows), "one row per customer and day"
    return result


def test_query_returns_columns_and_rows(pg_warehouse):
    warehouse, dsn = pg_warehouse
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE user_behavior_metric (customerid BIGINT, amount_spent DECIMAL(18, 5), "
                     "purchase_count BIGINT, review_score BIGINT, review_count BIGINT, insert_date DATE)")
        for day in (OTHER_DAY, DAY):
            for customer, values in _expected(day).items():
                conn.execute("INSERT INTO user_behavior_metric VALUES (%s, %s, %s, %s, %s, %s)", (customer, *values, day))

    columns, rows = warehouse.query("warehouse/user_behavior_metric_partition_rows.sql",
                                    {"date_from": DAY, "date_to": OTHER_DAY})

    assert columns == ["customerid", "amount_spent", "purchase_count", "review_score", "review_count", "insert_date"]
    expected = sorted((str(d), c, *v) for d in (DAY, OTHER_DAY) for c, v in _expected(d).items())
    assert sorted((str(r[5]), r[0], *r[1:5]) for r in rows) == expected
    assert [(str(r[5]), r[0]) for r in rows] == sorted((str(r[5]), r[0]) for r in rows), "ordered by day, customer"


# -- the production driver, offline -------------------------------------------------------------------


@pytest.mark.parametrize("iam", [False, True])
def test_redshift_connector_is_called_with_arguments_it_accepts(iam, monkeypatch):
    import inspect

    import redshift_connector

    accepted = set(inspect.signature(redshift_connector.connect).parameters)
    calls = []

    class Cursor:
        paramstyle = "format"

    class Connection:
        autocommit = False

        def cursor(self):
            return Cursor()

        def close(self):
            calls.append("closed")

    monkeypatch.setattr(redshift_connector, "connect", lambda **kwargs: calls.append(kwargs) or Connection())
    warehouse = RedshiftWarehouseResource(
        host="" if iam else "ubm.abc.eu-west-1.redshift.amazonaws.com", database="dev", user="ubm",
        password="" if iam else "pw", iam=iam, cluster_identifier="ubm" if iam else "", region="eu-west-1",
        spectrum_iam_role_arn="arn:aws:iam::123456789012:role/x", glue_database="ubm_lake",
    )
    with warehouse.connect(autocommit=True) as conn:
        assert conn.autocommit is True and conn.cursor().paramstyle == "pyformat"
    kwargs = calls[0]
    assert set(kwargs) <= accepted, set(kwargs) - accepted
    assert kwargs["ssl"] is True and kwargs["sslmode"] == "verify-ca" and kwargs["port"] == 5439
    if iam:
        assert kwargs["iam"] and kwargs["cluster_identifier"] == "ubm" and kwargs["db_user"] == "ubm"
        assert "password" not in kwargs and "host" not in kwargs
    else:
        assert kwargs["password"] == "pw" and kwargs["user"] == "ubm" and "iam" not in kwargs
    assert calls[-1] == "closed"


# -- the dbt project on PostgreSQL standing in for Redshift ---------------------------------------------------


def test_dbt_builds_and_replaces_the_metric_on_postgresql_standing_in_for_redshift(pg_warehouse, tmp_path):
    """dbt-postgres, the adapter dbt-redshift builds on, runs the project for real (models, tests, the
    window_replace publishing) over the spectrum stand-ins; Redshift's own adapter can only compile here."""
    from ubm_platform_tests.dbt.project import run_dbt

    warehouse, dsn = pg_warehouse
    _load(dsn)
    (tmp_path / "profiles.yml").write_text(json.dumps({"ubm_warehouse": {"target": "standin", "outputs": {"standin": {
        "type": "postgres", "host": warehouse.host, "port": warehouse.port, "user": warehouse.user,
        "password": warehouse.password, "dbname": warehouse.database, "schema": "public", "threads": 1}}}}))
    days = [granularity().window(day) for day in (DAY, OTHER_DAY)]

    def build(*windows):
        run = run_dbt(["build"], tmp_path, {"UBM_PARTITION": "daily"}, windows, profiles_dir=tmp_path)
        assert run.returncode == 0, run.output
        assert set(run.statuses.values()) == {"success", "pass"}

    build(*days)
    assert _metric(dsn, DAY) == _expected(DAY) and _metric(dsn, OTHER_DAY) == _expected(OTHER_DAY)
    # Restaged data for the day replaces the day's rows (customer 1's purchases are gone); the other day stays.
    purchases = [p for p in PURCHASES if p[1] != 1]
    _load(dsn, purchases=purchases)
    build(days[0])
    assert _metric(dsn, DAY) == _expected(DAY, purchases=purchases) and 1 not in _metric(dsn, DAY)
    assert _metric(dsn, OTHER_DAY) == _expected(OTHER_DAY)
