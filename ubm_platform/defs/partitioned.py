"""The partitioned lake assets, and how one run materializes a partition or a range of them.

The lake assets use `BackfillPolicy.single_run()`: a backfill of many days (or hours) is one run per
asset, so Spark, the Dagster run and the connections start once, while each partition is still written,
checked and published on its own. A partition's function returns its metadata and check results, or
raises `BlockedPartition` when a blocking check failed (its staged data is then thrown away).

Dagster's record follows the published data, partition by partition:
- when the whole range is done, one `MaterializeResult`: Dagster records one materialization per
  partition, each with that partition's own metadata (`context.add_asset_metadata(partition_key=...)`),
  its check results included (`checks`, `failed_checks`), and one result per check for the range
  (`failed_partitions` names the days that failed it). A one-partition run (the daily schedule) records
  its check results as Dagster's own partitioned check evaluations;
- when a partition fails (a blocking check, or any error), the partitions already published are
  recorded with an `AssetMaterialization` each before the error goes on, so the instance shows exactly
  the published partitions, and the failed partition's check results are evaluations of that partition.
  A blocking failure is not retried (the same data fails the same way); any other error is, by the
  asset's retry policy.

The assets are single-asset `@multi_asset`s (`can_subset=True`), so that a failed range records its
published partitions without yielding every check's result.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

from dagster import (
    AssetCheckEvaluation,
    AssetIn,
    AssetCheckResult,
    AssetExecutionContext,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    multi_asset,
)

from ubm_platform.defs import quality
from ubm_platform.defs.metadata import markdown_table, table_schema
from ubm_platform.partitions import FRESHNESS, partitions_def

LAKE_IO_MANAGER = "lake"  # the resource key of resources.lake.LakeIOManager


def lake_input() -> AssetIn:
    """An upstream lake asset as an input, loaded by the lake I/O manager (also when the upstream asset is
    not part of the same definitions, as in a test of one asset)."""
    return AssetIn(input_manager_key=LAKE_IO_MANAGER)


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


def partitioned_lake_asset(
    name: str, *, group: str, kinds: set[str], description: str, schema,
    blocking: dict[str, str], warning: dict[str, str], inputs: tuple[str, ...] = (), deps: list = (),
    retry_policy: RetryPolicy | None = None,
):
    """The decorator of a partitioned lake asset: one asset, its checks partitioned like it; the lake
    I/O manager hands it its upstream lake assets (`inputs`, function arguments of the same names) and
    is shown as its I/O manager; `deps` are upstream assets it reads itself (the OLTP tables)."""
    with warnings.catch_warnings():
        # AssetCheckSpec(partitions_def=...) is a preview API (dagster-io/dagster#17005 tracks partitioned
        # checks); it is what ties a one-day run's results, and a blocked day's, to their partition.
        warnings.simplefilter("ignore")
        check_specs = quality.specs(name, blocking=blocking, warning=warning, partitions_def=partitions_def)
    return multi_asset(
        name=name,
        specs=[AssetSpec(
            name, group_name=group, kinds=kinds, description=description, deps=[*inputs, *deps],
            owners=["team:data-platform"], partitions_def=partitions_def, freshness_policy=FRESHNESS,
            metadata={"dagster/column_schema": table_schema(schema)},
        ).with_io_manager_key(LAKE_IO_MANAGER)],
        ins={upstream: lake_input() for upstream in inputs},
        check_specs=check_specs,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=retry_policy,
    )


def _selected_specs(context: AssetExecutionContext) -> dict[str, AssetCheckSpec]:
    return {spec.name: spec for spec in context.assets_def.check_specs
            if spec.asset_key == context.asset_key and spec.key in context.selected_asset_check_keys}


def _evaluations(context: AssetExecutionContext, key: str, checks: list[AssetCheckResult]) -> Iterator:
    """A partition's check results as evaluations of that partition (only the selected checks): as
    `AssetCheckResult`s in a one-partition run (Dagster ties them to the partition's materialization, as
    the UI's per-partition check status needs), as `AssetCheckEvaluation`s naming the partition in a range."""
    specs = _selected_specs(context)
    for result in checks:
        spec = specs.get(result.check_name)
        if spec is None:
            continue
        if context.has_partition_key:
            yield result
        else:
            yield AssetCheckEvaluation(
                asset_key=spec.asset_key, check_name=spec.name, passed=result.passed, metadata=result.metadata,
                severity=result.severity, description=result.description, blocking=spec.blocking, partition=key,
            )


def _with_checks(outcome: PartitionOutcome) -> dict:
    """A partition's metadata with its check results: in a range run each partition's materialization is
    where its results are recorded (an evaluation event per partition and check would cost the local
    SQLite instance ~12 ms each: +57 – 70 % on a 181-day run)."""
    rows = [(c.check_name, "passed" if c.passed else f"FAILED ({c.severity.value.lower()})",
             ", ".join(f"{k}={v.value}" for k, v in c.metadata.items()))
            for c in outcome.checks]
    failed = [c.check_name for c in outcome.checks if not c.passed]
    return {**outcome.metadata, "failed_checks": ", ".join(failed) or "none",
            "checks": MetadataValue.md(markdown_table(["check", "result", "numbers"], rows))}


def _range_results(context: AssetExecutionContext, published: dict[str, PartitionOutcome]) -> list[AssetCheckResult]:
    """One result per selected check for a range run: passed when it passed on every partition, with the
    partitions that failed it and the numbers of the first of them (or of the last partition)."""
    results = []
    for name in _selected_specs(context):
        by_key = {key: check for key, outcome in published.items() for check in outcome.checks if check.check_name == name}
        failed = [key for key, check in by_key.items() if not check.passed]
        shown_key = failed[0] if failed else next(reversed(by_key))
        shown = by_key[shown_key]
        results.append(AssetCheckResult(
            check_name=name, passed=not failed, severity=shown.severity,
            metadata={**shown.metadata, "partitions_checked": len(by_key), "failed_partitions": ", ".join(failed) or "none",
                      "numbers_from_partition": shown_key},
        ))
    return results


def _recorded(context: AssetExecutionContext, published: dict[str, PartitionOutcome]) -> Iterator:
    """The published partitions of a range that did not finish, each recorded with its check results."""
    for key, outcome in published.items():
        yield AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=_with_checks(outcome))


def materialize_partitions(
    context: AssetExecutionContext, materialize_partition: Callable[[str], PartitionOutcome]
) -> Iterator:
    """Run `materialize_partition(key)` for every partition of the run's range and yield Dagster's record:
    one materialization per published partition, with its check results, also when a later one fails."""
    published: dict[str, PartitionOutcome] = {}
    try:
        for key in context.partition_keys:
            try:
                published[key] = outcome = materialize_partition(key)
                # when the data landed (a range's materializations are recorded after its last partition)
                outcome.metadata["published_at"] = MetadataValue.timestamp(time.time())
            except BlockedPartition as blocked:
                done, published = published, {}  # recorded here, not again below
                yield from _recorded(context, done)
                yield from _evaluations(context, key, blocked.checks)  # it has no materialization to carry them
                raise quality.refuse(blocked.what, quality.blocking_failures(blocked.checks)) from None
    except GeneratorExit:
        raise
    except BaseException:  # an error (retried if transient) or the run's termination
        yield from _recorded(context, published)
        raise
    if context.has_partition_key:
        [(key, outcome)] = published.items()
        yield MaterializeResult(asset_key=context.asset_key, metadata=outcome.metadata)
        yield from _evaluations(context, key, outcome.checks)
        return
    for key, outcome in published.items():
        context.add_asset_metadata(_with_checks(outcome), partition_key=key)
    yield MaterializeResult(asset_key=context.asset_key, check_results=_range_results(context, published))
