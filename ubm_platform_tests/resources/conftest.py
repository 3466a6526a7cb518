"""Fixtures for the AWS resources: the moto server and `aws` bucket come from ../conftest.py (shared with
`ubm doctor`'s tests); here the S3 lake on it and a fake Redshift session.
"""

from __future__ import annotations

import uuid

import pytest

from ubm_platform_tests.conftest import ACCOUNT_ID

@pytest.fixture
def s3_lake(aws):
    from ubm_platform.resources.lake import LakeIOManager

    return LakeIOManager(root=f"s3://{aws.bucket}/lake", endpoint_url=aws.endpoint, region=aws.region)


# -- a fake Redshift for the statements PostgreSQL cannot run (external schema/table DDL) ----------

import re  # noqa: E402

from ubm_platform.resources.redshift import RedshiftWarehouseResource  # noqa: E402


class FakeRedshift:
    """Records what a Redshift session would be asked, enforcing Redshift's rule that external DDL
    (CREATE EXTERNAL SCHEMA/TABLE, ALTER TABLE ... PARTITION) cannot run inside a transaction."""

    def __init__(self, existing: set[str] | None = None):
        self.objects: set[str] = set(existing or ())  # "schema" and spectrum table names
        self.partitions: dict[tuple[str, str], str] = {}  # (table, day) -> location
        self.statements: list[tuple[str, object, bool]] = []  # (sql, params, autocommit)
        self.connections = 0
        self.hidden_once: set[str] = set()  # tables the next existence check misses (a concurrent CREATE)


class _FakeCursor:
    def __init__(self, conn: "_FakeConnection"):
        self.conn = conn
        self._result: list[tuple] = []
        self.description = None

    def execute(self, sql: str, params=None):
        state = self.conn.state
        state.statements.append((sql, params, self.conn.autocommit))
        text = " ".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
        text = " ".join(text.split())
        if re.match(r"(?i)^(CREATE EXTERNAL|ALTER TABLE spectrum\.)", text) and not self.conn.autocommit:
            raise RuntimeError("ALTER EXTERNAL TABLE cannot run inside a transaction block")
        if "svv_external_schemas" in text:
            self._result = [(int("schema" in state.objects),)]
        elif "svv_external_tables" in text:
            name = params["table_name"]
            hidden = name in state.hidden_once
            state.hidden_once.discard(name)
            self._result = [(int(name in state.objects and not hidden),)]
        elif text.upper().startswith("CREATE EXTERNAL SCHEMA"):
            state.objects.add("schema")
        elif m := re.match(r"(?i)^CREATE EXTERNAL TABLE spectrum\.(\w+)", text):
            if "schema" not in state.objects:
                raise RuntimeError("schema spectrum does not exist")
            if m.group(1) in state.objects:
                raise RuntimeError(f"relation {m.group(1)} already exists")
            state.objects.add(m.group(1))
        elif m := re.match(
            r"(?i)^ALTER TABLE spectrum\.(\w+) ADD IF NOT EXISTS PARTITION "
            r"\(insert_date='([\d-]+)'(?:, insert_hour='(\d\d)')?\) LOCATION '([^']+)'$",
            text,
        ):
            table, day, hour, location = m.groups()
            if table not in state.objects:
                raise RuntimeError(f"external table {table} does not exist")
            state.partitions.setdefault((table, day) if hour is None else (table, day, hour), location)
        else:
            raise AssertionError(f"unexpected statement for the fake Redshift: {text}")
        return self

    def fetchone(self):
        return self._result[0]

    def close(self):
        pass


class _FakeConnection:
    def __init__(self, state: FakeRedshift):
        self.state = state
        self.autocommit = False
        state.connections += 1

    def cursor(self):
        return _FakeCursor(self)

    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        pass


FAKE_REDSHIFTS: dict[str, FakeRedshift] = {}


class FakeRedshiftWarehouse(RedshiftWarehouseResource):
    """The real resource, connected to a FakeRedshift (survives Dagster re-creating the resource)."""

    fake_key: str

    def connection_factory(self):
        return lambda resource: _FakeConnection(FAKE_REDSHIFTS[self.fake_key])


@pytest.fixture
def fake_redshift():
    """(FakeRedshift state, factory of FakeRedshiftWarehouse())."""
    key = uuid.uuid4().hex
    FAKE_REDSHIFTS[key] = state = FakeRedshift()

    def warehouse() -> FakeRedshiftWarehouse:
        return FakeRedshiftWarehouse(
            fake_key=key, host="fake", database="dev", user="ubm", password="secret",
            spectrum_iam_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/ubm-spectrum", glue_database="ubm_lake",
        )

    yield state, warehouse
    FAKE_REDSHIFTS.pop(key, None)
