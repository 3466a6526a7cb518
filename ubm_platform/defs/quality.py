"""Data-quality checks shared by the asset families.

The checks run inside the asset, on the staged data, before it is published: when a blocking check
fails, its result is recorded, the staged data is thrown away and the step fails, so bad data never
replaces a good partition nor reaches user_behavior_metric. Each result carries the numbers behind it.
"""

from __future__ import annotations

import statistics
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, Failure

from ubm_platform.resources.lake import LakeIOManager

VOLUME_WINDOW = 14  # trailing materializations the volume check compares with
VOLUME_MIN_HISTORY = 5
VOLUME_Z = 4.0


def specs(asset: str, blocking: dict[str, str], warning: dict[str, str], partitions_def=None) -> list[AssetCheckSpec]:
    """Check specs of an asset: blocking ones stop downstream assets, warnings only report."""
    return [
        AssetCheckSpec(name, asset=asset, blocking=is_blocking, description=description, partitions_def=partitions_def)
        for checks, is_blocking in ((blocking, True), (warning, False)) for name, description in checks.items()
    ]


def result(name: str, passed: bool, warning: bool = False, **numbers) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=name,
        passed=bool(passed),
        severity=AssetCheckSeverity.WARN if warning else AssetCheckSeverity.ERROR,
        metadata={k: v for k, v in numbers.items()},
    )


def blocking_failures(results: Iterable[AssetCheckResult]) -> list[AssetCheckResult]:
    return [r for r in results if not r.passed and r.severity == AssetCheckSeverity.ERROR]


def refuse(what: str, failures: list[AssetCheckResult]) -> Failure:
    names = ", ".join(f"{r.check_name} {dict(r.metadata)}" for r in failures)
    # The same data fails the same way: a retry policy (meant for dropped connections) must not rerun it.
    return Failure(description=f"{what} not published: blocking checks failed: {names}", allow_retries=False)


def scan(lake: LakeIOManager, directory: str, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of a (staged or published) partition, batch by batch."""
    for relative in lake.list_files(directory, ".parquet"):
        with lake.open_input_file(relative) as source:
            yield from pq.ParquetFile(source).iter_batches(batch_size=65_536, columns=columns)


def parquet_schema(lake: LakeIOManager, directory: str) -> pa.Schema | None:
    for relative in lake.list_files(directory, ".parquet"):
        with lake.open_input_file(relative) as source:
            return pq.ParquetFile(source).schema_arrow
    return None


def schema_result(name: str, actual: pa.Schema | None, expected: pa.Schema) -> AssetCheckResult:
    found = {f.name: str(f.type) for f in actual} if actual is not None else {}
    wanted = {f.name: str(f.type) for f in expected}
    differences = {c: f"{found.get(c, 'missing')} (expected {t})" for c, t in wanted.items() if found.get(c) != t}
    return result(name, not differences, columns=len(found), differences=str(differences) if differences else "none")


class VolumeBaseline:
    """Trailing row counts of an asset's partitions, read from the instance once per run.

    Each day of a range is compared with the days before it, including those of the same run.
    """

    def __init__(self, instance, asset: str):
        self.history: list[tuple[str, int]] = []
        for record in instance.fetch_materializations(AssetKey(asset), limit=VOLUME_WINDOW * 3).records:
            materialization = record.asset_materialization
            if materialization is None:
                continue
            count = materialization.metadata.get("dagster/row_count")
            if count is not None:
                self.history.append((materialization.partition, count.value))
        self.history.reverse()  # oldest first

    def result(self, name: str, partition: str, rows: int) -> AssetCheckResult:
        """Warn when a day's row count is far outside the trailing mean and standard deviation."""
        trailing = [n for p, n in self.history if p != partition][-VOLUME_WINDOW:]
        self.history.append((partition, rows))
        if len(trailing) < VOLUME_MIN_HISTORY:
            return result(name, True, warning=True, rows=rows, history=len(trailing), note="not enough history yet")
        mean, stdev = statistics.fmean(trailing), statistics.pstdev(trailing)
        z = (rows - mean) / stdev if stdev else (0.0 if rows == mean else float("inf"))
        return result(name, abs(z) <= VOLUME_Z, warning=True, rows=rows, trailing_mean=round(mean, 2),
                      trailing_stdev=round(stdev, 2), z_score=round(z, 2) if z != float("inf") else 1e9,
                      history=len(trailing))
