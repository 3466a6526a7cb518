"""Materializing one day or a range of days in one run (single-run backfills).

The daily assets use `BackfillPolicy.single_run()`: a backfill of many days is one run per asset,
so Spark, the Dagster run and the connections start once, while each day is still written,
checked and published on its own. A day's function returns its metadata and check results, or
raises `BlockedDay` when a blocking check failed (its staged data is then thrown away).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, MetadataValue

from ubm_platform.defs import quality


ROWS_BY_PARTITION = "rows_by_partition"


@dataclass
class DayOutcome:
    metadata: dict
    checks: list[AssetCheckResult]


class BlockedDay(Exception):
    def __init__(self, what: str, checks: list[AssetCheckResult]):
        super().__init__(what)
        self.what = what
        self.checks = checks


def gate(what: str, checks: list[AssetCheckResult]) -> None:
    """Raise BlockedDay when a blocking check failed (call it before publishing)."""
    if quality.blocking_failures(checks):
        raise BlockedDay(what, checks)


def _combine_checks(by_day: dict[str, list[AssetCheckResult]]) -> list[AssetCheckResult]:
    if len(by_day) == 1:
        return next(iter(by_day.values()))
    combined: dict[str, list[tuple[str, AssetCheckResult]]] = {}
    for day, checks in by_day.items():
        for check in checks:
            combined.setdefault(check.check_name, []).append((day, check))
    results = []
    for name, day_checks in combined.items():
        failed = [day for day, check in day_checks if not check.passed]
        shown_day, shown = next(((d, c) for d, c in day_checks if not c.passed), day_checks[-1])
        results.append(AssetCheckResult(
            check_name=name, passed=not failed, severity=shown.severity,
            metadata={**shown.metadata, "partitions_checked": len(day_checks),
                      "failed_partitions": ", ".join(failed) or "none", "numbers_from_partition": shown_day},
        ))
    return results


def _combine_metadata(by_day: dict[str, dict]) -> dict:
    if len(by_day) == 1:
        return next(iter(by_day.values()))
    rows = {day: metadata["dagster/row_count"] for day, metadata in by_day.items()}
    days = sorted(by_day)
    # Dagster records this metadata on every partition of the range, so no single-partition row count
    # here: each partition's count is in rows_by_partition (read by the volume check).
    return {
        "partitions": f"{days[0]}...{days[-1]}",
        "rows_in_range": sum(rows.values()),
        ROWS_BY_PARTITION: MetadataValue.json(rows),
        **{k: v for k, v in by_day[days[-1]].items() if k in ("dagster/column_schema", "preview")},
    }


def materialize_days(context: AssetExecutionContext, materialize_day: Callable[[str], DayOutcome]) -> Iterator:
    """Run `materialize_day` for every day of the run's partition range; yield Dagster's results."""
    outcomes: dict[str, DayOutcome] = {}
    for day in context.partition_keys:
        try:
            outcomes[day] = materialize_day(day)
        except BlockedDay as blocked:
            yield from _combine_checks({**{d: o.checks for d, o in outcomes.items()}, day: blocked.checks})
            raise quality.refuse(blocked.what, quality.blocking_failures(blocked.checks)) from None
    yield MaterializeResult(
        metadata=_combine_metadata({d: o.metadata for d, o in outcomes.items()}),
        check_results=_combine_checks({d: o.checks for d, o in outcomes.items()}),
    )
