"""Materializing one partition or a range of partitions in one run (single-run backfills).

The partitioned assets use `BackfillPolicy.single_run()`: a backfill of many days (or hours) is one
run per asset, so Spark, the Dagster run and the connections start once, while each partition is
still written, checked and published on its own. A partition's function returns its metadata and
check results, or raises `BlockedPartition` when a blocking check failed (its staged data is then
thrown away); it logs its outcome to the run's PartitionLog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, MetadataValue

from ubm_platform.defs import quality


ROWS_BY_PARTITION = "rows_by_partition"


@dataclass
class PartitionOutcome:
    metadata: dict
    checks: list[AssetCheckResult]


class BlockedPartition(Exception):
    def __init__(self, what: str, checks: list[AssetCheckResult]):
        super().__init__(what)
        self.what = what
        self.checks = checks


def gate(what: str, checks: list[AssetCheckResult]) -> None:
    """Raise BlockedPartition when a blocking check failed (call it before publishing)."""
    if quality.blocking_failures(checks):
        raise BlockedPartition(what, checks)


class PartitionLog:
    """Per-partition progress lines, "<partition key>: <what happened>", logged a few at a time.

    Every log message is an event in the Dagster instance (~12 ms each on the local SQLite one), so a
    181-day run logs its lines together at most once per `interval_s` instead of 181 messages; `ubm run`
    still prints one line per partition (defs/progress.py splits them). Use as a context manager: what
    is left is logged when the block ends, also when it fails.
    """

    def __init__(self, context: AssetExecutionContext, interval_s: float = 1.0):
        self._context = context
        self._interval_s = interval_s
        self._lines: list[str] = []
        self._logged_at = time.monotonic()

    def info(self, key: str, what: str) -> None:
        self._lines.append(f"{key}: {what}")
        if time.monotonic() - self._logged_at >= self._interval_s:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._context.log.info("\n".join(self._lines))
            self._lines.clear()
        self._logged_at = time.monotonic()

    def __enter__(self) -> "PartitionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()


def _combine_checks(by_key: dict[str, list[AssetCheckResult]]) -> list[AssetCheckResult]:
    if len(by_key) == 1:
        return next(iter(by_key.values()))
    combined: dict[str, list[tuple[str, AssetCheckResult]]] = {}
    for key, checks in by_key.items():
        for check in checks:
            combined.setdefault(check.check_name, []).append((key, check))
    results = []
    for name, key_checks in combined.items():
        failed = [key for key, check in key_checks if not check.passed]
        shown_key, shown = next(((k, c) for k, c in key_checks if not c.passed), key_checks[-1])
        results.append(AssetCheckResult(
            check_name=name, passed=not failed, severity=shown.severity,
            metadata={**shown.metadata, "partitions_checked": len(key_checks),
                      "failed_partitions": ", ".join(failed) or "none", "numbers_from_partition": shown_key},
        ))
    return results


def _combine_metadata(by_key: dict[str, dict]) -> dict:
    if len(by_key) == 1:
        return next(iter(by_key.values()))
    rows = {key: metadata["dagster/row_count"] for key, metadata in by_key.items()}
    keys = sorted(by_key)
    first, *others = by_key.values()
    # Dagster records this metadata on every partition of the range, so no single-partition row count
    # here: each partition's count is in rows_by_partition (read by the volume check). What every
    # partition says alike (the model version, how it was applied) is true of each, so it is kept.
    return {
        **{k: v for k, v in first.items()
           if k != "dagster/row_count" and all(k in m and m[k] == v for m in others)},
        "partitions": f"{keys[0]}...{keys[-1]}",
        "rows_in_range": sum(rows.values()),
        ROWS_BY_PARTITION: MetadataValue.json(rows),
        **{k: v for k, v in by_key[keys[-1]].items() if k in ("dagster/column_schema", "preview")},
    }


def materialize_partitions(
    context: AssetExecutionContext,
    materialize_partition: Callable[[str, PartitionLog], PartitionOutcome],
    log_interval_s: float = 1.0,
) -> Iterator:
    """Run `materialize_partition(key, progress)` for every partition of the run's range; yield
    Dagster's results. The partitions log their outcome to `progress`, a PartitionLog flushed before
    anything is yielded: Dagster stores a range's results (an event per partition) before the
    generator resumes."""
    outcomes: dict[str, PartitionOutcome] = {}
    with PartitionLog(context, log_interval_s) as progress:
        for key in context.partition_keys:
            try:
                outcomes[key] = materialize_partition(key, progress)
            except BlockedPartition as blocked:
                progress.flush()
                yield from _combine_checks({**{k: o.checks for k, o in outcomes.items()}, key: blocked.checks})
                raise quality.refuse(blocked.what, quality.blocking_failures(blocked.checks)) from None
    yield MaterializeResult(
        metadata=_combine_metadata({k: o.metadata for k, o in outcomes.items()}),
        check_results=_combine_checks({k: o.checks for k, o in outcomes.items()}),
    )
