"""The partitioned lake assets, and how one run materializes a partition or a range of them.

The lake assets use `BackfillPolicy.single_run()`: a backfill of many days (or hours) is one run per
asset, so Spark, the Dagster run and the connections start once, while each partition is still written,
checked and published on its own. A partition's function returns its metadata and check results, or
raises `BlockedPartition` when a blocking check failed (its staged data is then thrown away).

Dagster's record follows the published data, partition by partition:
- when the whole range is done, one `MaterializeResult`: Dagster records one materialization per
  partition, each with that partition's own metadata (`context.add_asset_metadata(partition_key=...)`);
- when a partition fails (a blocking check, or any error), the partitions already published are
  recorded with an `AssetMaterialization` each before the error goes on, so the instance shows exactly
  the published partitions. A blocking failure is not retried (the same data fails the same way); any
  other error is, by the asset's retry policy;
- each partition's check results are `AssetCheckEvaluation`s of that partition, on check specs
  partitioned like the asset.

The assets are single-asset `@multi_asset`s (`can_subset=True`): with `@asset` every check output is
required, and evaluations recorded per partition do not produce them.
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
    Output,
    RetryPolicy,
    multi_asset,
)

from ubm_platform.defs import quality
from ubm_platform.defs.metadata import table_schema
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
    blocking: dict[str, str], warning: dict[str, str], ins: dict[str, AssetIn] | None = None,
    retry_policy: RetryPolicy | None = None,
):
    """The decorator of a partitioned lake asset: one asset, its checks partitioned like it; the lake
    I/O manager hands it its inputs (`ins`) and is shown as its I/O manager."""
    with warnings.catch_warnings():
        # AssetCheckSpec(partitions_def=...) is a preview API (dagster-io/dagster#17005 tracks partitioned
        # checks); it is what records a range's check results partition by partition.
        warnings.simplefilter("ignore")
        check_specs = quality.specs(name, blocking=blocking, warning=warning, partitions_def=partitions_def)
    return multi_asset(
        name=name,
        specs=[AssetSpec(
            name, group_name=group, kinds=kinds, description=description, deps=list(ins or {}),
            owners=["team:data-platform"], partitions_def=partitions_def, freshness_policy=FRESHNESS,
            metadata={"dagster/column_schema": table_schema(schema)},
        ).with_io_manager_key(LAKE_IO_MANAGER)],
        ins=ins or {},
        check_specs=check_specs,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=retry_policy,
    )


def _selected_specs(context: AssetExecutionContext) -> dict[str, AssetCheckSpec]:
    return {spec.name: spec for spec in context.assets_def.check_specs
            if spec.asset_key == context.asset_key and spec.key in context.selected_asset_check_keys}


def _evaluations(context: AssetExecutionContext, checks_by_key: dict[str, list[AssetCheckResult]]) -> Iterator:
    """Each partition's check results, recorded against that partition (only the selected checks).

    A one-partition run yields them as `AssetCheckResult`s: Dagster ties each to the partition's latest
    materialization, as the UI's per-partition check status needs. A range run yields an
    `AssetCheckEvaluation` per partition and check: those carry no `target_materialization_data` (its type
    is not exported by `dagster`; partitioned checks are tracked in dagster-io/dagster#17005), so the UI's
    per-partition check bar shows a passed check of a range run as not evaluated; every evaluation is in
    the partition's check history, and failures show on the bar."""
    specs = _selected_specs(context)
    for key, checks in checks_by_key.items():
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


def _recorded(context: AssetExecutionContext, published: dict[str, PartitionOutcome]) -> Iterator:
    """The published partitions of a range that did not finish, each recorded with its checks."""
    for key, outcome in published.items():
        yield AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=outcome.metadata)
    yield from _evaluations(context, {key: outcome.checks for key, outcome in published.items()})


def materialize_partitions(
    context: AssetExecutionContext, materialize_partition: Callable[[str], PartitionOutcome]
) -> Iterator:
    """Run `materialize_partition(key)` for every partition of the run's range and yield Dagster's record:
    one materialization and its check evaluations per published partition, also when a later one fails."""
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
                yield from _evaluations(context, {key: blocked.checks})
                raise quality.refuse(blocked.what, quality.blocking_failures(blocked.checks)) from None
    except GeneratorExit:
        raise
    except BaseException:  # an error (retried if transient) or the run's termination
        yield from _recorded(context, published)
        raise
    for key, outcome in published.items():
        context.add_asset_metadata(outcome.metadata, partition_key=key)
    yield MaterializeResult(asset_key=context.asset_key)
    yield from _evaluations(context, {key: outcome.checks for key, outcome in published.items()})
    if not context.has_partition_key:
        # The checks' outputs, as Dagster yields them after an AssetCheckResult: the evaluations above are
        # the results (Dagster Pipes, on EMR, requires every selected check output to be yielded).
        for spec in _selected_specs(context).values():
            yield Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(spec.key))
