"""The warehouse's dbt project (sql/dbt) run for real, as a subprocess, on a lake of Parquet partitions a
test writes; and an independent computation of user_behavior_metric from the rows written (plain Python,
none of the project's SQL)."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ubm_platform.defs.movie_review.assets import CLASSIFIED_SCHEMA
from ubm_platform.defs.pagila.assets import RENTAL_SCHEMA, SNAPSHOTS
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA
from ubm_platform.partitions import PartitionWindow
from ubm_platform.settings import SQL_DIR

DBT_PROJECT = SQL_DIR / "dbt"
DBT = Path(sys.executable).with_name("dbt")
METRIC_VALUES = "customerid, amount_spent, purchase_count, review_score, review_count"


@dataclass
class DbtRun:
    returncode: int
    output: str
    statuses: dict[str, str]  # node name -> success | pass | warn | fail | error | skipped
    failures: dict[str, int]  # test name -> the rows it returned


def run_dbt(command: list[str], work: Path, env: dict[str, str], window: tuple[PartitionWindow, ...] = (),
            profiles_dir: Path = DBT_PROJECT) -> DbtRun:
    """`dbt <command>` on sql/dbt with its target/ and logs/ under `work`; `window`: the partitions
    (first, last) passed as the window_start / window_end vars."""
    args = [str(DBT), *command, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(profiles_dir),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    if window:
        args += ["--vars", json.dumps({"window_start": window[0].start.isoformat(), "window_end": window[-1].end.isoformat()})]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("UBM_", "DBT_"))}
    done = subprocess.run(args, env={**clean, "DO_NOT_TRACK": "1", **env}, capture_output=True, text=True, timeout=300)
    results_file = work / "target" / "run_results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {"results": []}
    results_file.unlink(missing_ok=True)  # a later failing invocation must not find this one's results
    statuses = {r["unique_id"].split(".")[2]: r["status"] for r in results["results"]}
    failures = {r["unique_id"].split(".")[2]: r["failures"] for r in results["results"] if r["failures"] is not None}
    return DbtRun(done.returncode, done.stdout + done.stderr, statuses, failures)


@dataclass
class Lake:
    """Parquet partitions in the platform's layout and schemas, and what was written to each."""

    root: Path
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    purchases: dict[tuple, list[tuple[int | None, Decimal]]] = field(default_factory=dict)
    reviews: dict[tuple, list[tuple[int, bool]]] = field(default_factory=dict)
    next_id: int = 1  # payment and rental ids are unique across partitions, as in the OLTP database
    films: int = 5
    payment_ids: dict[tuple, list[int]] = field(default_factory=dict)
    rentals: dict[tuple, list[tuple[int, int, int]]] = field(default_factory=dict)  # (rental, customer, film)
    snapshots: dict[str, pa.Table] = field(default_factory=dict)

    def __post_init__(self):
        """The snapshots the star schema's dimensions read: customers 1..90 (who buy and review below),
        films 1..5 with categories and actors."""
        customers = range(1, 91)
        films = range(1, self.films + 1)
        snapshots = {
            "customer": pa.table({
                "customer_id": customers, "store_id": [1 + c % 2 for c in customers],
                "first_name": [f"F{c}" for c in customers], "last_name": [f"L{c}" for c in customers],
                "email": [None] * 90, "active": [True] * 90, "create_date": [dt.date(2022, 1, 1)] * 90,
                "address_id": [c + 4 for c in customers], "address": [f"{c} Main St" for c in customers],
                "district": ["D"] * 90, "postal_code": ["00000"] * 90,
                "city": [f"City {c % 7}" for c in customers], "country": [f"Country {c % 3}" for c in customers],
            }, schema=SNAPSHOTS["customer_staging"].schema),
            "film": pa.table({
                "film_id": films, "title": [f"FILM {f}" for f in films], "release_year": [2000 + f for f in films],
                "language": ["English"] * self.films, "rating": ["PG"] * self.films, "length": [90] * self.films,
                "rental_rate": [Decimal("2.99")] * self.films, "rental_duration": [3] * self.films,
                "replacement_cost": [Decimal("19.99")] * self.films,
            }, schema=SNAPSHOTS["film_staging"].schema),
            "film_category": pa.table({"film_id": [f for f in films for _ in (0, 1)],
                                       "category": [c for f in films for c in (f"Genre {f % 3}", f"Genre {f % 2 + 3}")]},
                                      schema=SNAPSHOTS["film_category_staging"].schema),
            "film_actor": pa.table({"film_id": list(films), "actor_id": [10 + f % 2 for f in films],
                                    "first_name": ["A"] * self.films, "last_name": ["B"] * self.films},
                                   schema=SNAPSHOTS["film_actor_staging"].schema),
        }
        for name, table in snapshots.items():
            self.write_snapshot(name, table)

    def write_snapshot(self, name: str, table: pa.Table) -> None:
        """Replace a snapshot (customer, film, film_category, film_actor), as its extraction does."""
        self.snapshots[name] = table
        folder = self.root / "stage" / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-00000.parquet")

    @staticmethod
    def partition(window: PartitionWindow) -> tuple:
        """(date,) or (date, hour): how a partition's rows are told apart in the warehouse."""
        return tuple(int(v) if k == "insert_hour" else v for k, v in window.values.items())

    def write(self, window: PartitionWindow, purchases: list[tuple] | None = None, reviews: list[tuple] | None = None):
        """Write (or overwrite) a partition; random rows unless given: customers 1..60 buy, 30..90 review,
        so some customers only buy, some only review and some do both."""
        purchases = purchases if purchases is not None else [
            (self.rng.randint(1, 60), Decimal(self.rng.randint(0, 1200)) / 100) for _ in range(self.rng.randint(80, 160))]
        reviews = reviews if reviews is not None else [
            (self.rng.randint(30, 90), self.rng.random() < 0.4) for _ in range(self.rng.randint(40, 100))]
        key = self.partition(window)
        self.purchases[key], self.reviews[key] = purchases, reviews
        n = len(purchases)
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        rented = [(i, c) for i, (c, _) in zip(ids, purchases) if c is not None]  # one rental per payment
        self.payment_ids[key] = ids
        self.rentals[key] = [(i, c, 1 + i % self.films) for i, c in rented]
        self._write("stage/rental", window, pa.table({
            "rental_id": [i for i, _ in rented], "customer_id": [c for _, c in rented],
            "inventory_id": [i for i, _ in rented], "film_id": [1 + i % self.films for i, _ in rented],
            "store_id": [1] * len(rented), "staff_id": [1] * len(rented),
            "rental_ts": [window.start] * len(rented), "return_ts": [None] * len(rented),
        }, schema=RENTAL_SCHEMA))
        self._write("stage/user_purchase", window, pa.table({
            "payment_id": ids, "customer_id": [c for c, _ in purchases], "rental_id": ids,
            "film_id": [1 + i % self.films for i in ids], "category": ["Drama"] * n, "amount": [a for _, a in purchases],
            "payment_ts": [window.start] * n, "rental_ts": [window.start] * n,
        }, schema=USER_PURCHASE_SCHEMA if all(c is not None for c, _ in purchases) else _nullable(USER_PURCHASE_SCHEMA)))
        m = len(reviews)
        self._write("stage/classified_movie_review", window, pa.table({
            "cid": [c for c, _ in reviews], "review_id": [f"{window.key}-{i}" for i in range(m)],
            "positive_review": [p for _, p in reviews], "sentiment": ["positive" if p else "negative" for _, p in reviews],
            "probability": [0.9] * m, "model_version": ["test"] * m, "film_id": [1] * m,
        }, schema=CLASSIFIED_SCHEMA))

    def _write(self, dataset: str, window: PartitionWindow, table: pa.Table) -> None:
        folder = self.root / dataset / window.path
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-00000.parquet")

    def expected(self, windows) -> dict[tuple, dict[int, tuple]]:
        """partition -> customerid -> (amount_spent, purchase_count, review_score, review_count)."""
        result = {}
        for window in windows:
            key = self.partition(window)
            rows = defaultdict(lambda: [Decimal(0), 0, 0, 0])
            for customer, amount in self.purchases[key]:
                rows[customer][0] += amount
                rows[customer][1] += 1
            for cid, positive in self.reviews[key]:
                rows[cid][2] += positive
                rows[cid][3] += 1
            result[key] = {c: tuple(v) for c, v in rows.items()}
        return result


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])


def published(warehouse: Path, hourly: bool, table: str = "main.user_behavior_metric") -> dict[tuple, dict[int, tuple]]:
    """The warehouse table's rows by partition (asserting one row per customer and partition)."""
    partition = "insert_date, insert_hour" if hourly else "insert_date"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute(f"SELECT {partition}, {METRIC_VALUES} FROM {table}").fetchall()
    width = 2 if hourly else 1
    result: dict[tuple, dict[int, tuple]] = defaultdict(dict)
    for row in rows:
        key = tuple(v.isoformat() if i == 0 else v for i, v in enumerate(row[:width]))
        assert row[width] not in result[key], f"two rows for customer {row[width]} in {key}"
        result[key][row[width]] = tuple(row[width + 1:])
    return dict(result)


def column_types(warehouse: Path, table: str = "user_behavior_metric") -> list[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return [(r[0], r[1]) for r in conn.execute(f"DESCRIBE {table}").fetchall()]
