"""user_behavior_metric's checks fail on the faults they exist for."""

from decimal import Decimal

import pytest

from ubm_platform.defs.warehouse.assets import metric_checks

GOOD = {"metric_rows": 3, "null_customer_ids": 0, "duplicate_keys": 0, "invalid_values": 0,
        "metric_amount_spent": Decimal("10.5"), "staged_amount": Decimal("10.5"), "metric_purchase_count": 4,
        "staged_purchases": 4, "metric_review_count": 2, "classified_reviews": 2}
COLUMNS = [("customerid", "BIGINT"), ("amount_spent", "DECIMAL(18,5)"), ("purchase_count", "BIGINT"),
           ("review_score", "BIGINT"), ("review_count", "BIGINT"), ("insert_date", "DATE")]


def _failed(stats, columns=COLUMNS):
    return {c.check_name for c in metric_checks(stats, columns) if not c.passed}


def test_good_numbers_pass():
    assert _failed(GOOD) == set()
    redshift_columns = [(n, t.replace("DECIMAL(18,5)", "numeric").lower()) for n, t in COLUMNS]
    assert _failed(GOOD, redshift_columns) == set()


@pytest.mark.parametrize("change, failing", [
    ({"duplicate_keys": 1}, {"keys"}),
    ({"null_customer_ids": 2}, {"keys"}),
    ({"invalid_values": 1}, {"values"}),
    ({"metric_amount_spent": Decimal("21.0")}, {"reconciliation"}),  # purchases multiplied by a join
    ({"metric_review_count": 3}, {"reconciliation"}),
    ({"staged_purchases": 5}, {"reconciliation"}),
])
def test_each_fault_fails_its_check(change, failing):
    assert _failed({**GOOD, **change}) == failing


def test_a_missing_or_retyped_column_fails_the_schema_check():
    assert _failed(GOOD, COLUMNS[:-1]) == {"schema"}
    assert _failed(GOOD, [*COLUMNS[:1], ("amount_spent", "DOUBLE"), *COLUMNS[2:]]) == {"schema"}
