"""Fixtures of the operations tests: a small OLTP database and a vendor file for one day."""

from __future__ import annotations

import psycopg
import pytest

from ubm_platform import sql_files

DAY = "2022-01-02"
CUSTOMERS = [11, 12, 13]
REVIEWS = [
    ("r-1", 11, "A wonderful film, I loved every minute of it."),
    ("r-2", 12, "Boring and far too long."),
    ("r-3", 11, "The acting was fine, the plot less so."),
    ("r-4", 13, "Great soundtrack, great cast, would rent again!"),
]


@pytest.fixture
def oltp_dsn(pg_database):
    """An OLTP database in the platform's schema with the customers the reviews name (UBM_OLTP_DSN)."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql_files.load("seed/pagila_subset_schema.sql"))
        for cid in CUSTOMERS:
            conn.execute(
                "INSERT INTO customer (customer_id, store_id, first_name, last_name, address_id, active) "
                "VALUES (%s, 1, 'TEST', 'CUSTOMER', 1, 1)",
                (cid,),
            )
    return pg_database


def write_vendor_file(home, day: str = DAY, rows=REVIEWS) -> None:
    """The vendor's file for `day` under $UBM_HOME/landing, as it arrives."""
    landing = home / "landing" / "movie_review" / day
    landing.mkdir(parents=True, exist_ok=True)
    lines = ["review_id,cid,review_str"] + [f'{rid},{cid},"{text}"' for rid, cid, text in rows]
    (landing / "movie_review.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
