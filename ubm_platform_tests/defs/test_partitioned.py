"""A range run's record in Dagster agrees with the published data, partition by partition
(defs/partitioned.py, on a toy lake asset writing one small file per day: no Spark, no PostgreSQL),
and `ubm run`'s progress lines come from those records."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pytest
from dagster import AssetKey, DagsterInstance, RetryPolicy, asset, materialize, serialize_value

from ubm_platform.defs import quality
from ubm_platform.defs.partitioned import PartitionOutcome, gate, materialize_partitions, partitioned_lake_asset
from ubm_platform.defs.progress import _ProgressHandler
from ubm_platform.partitions import GRANULARITY, RANGE_END_TAG, RANGE_START_TAG
from ubm_platform.resources.lake import LakeIOManager

pytestmark = pytest.mark.skipif(GRANULARITY.name != "daily", reason="the toy's keys are days")

TOY = AssetKey("toy")
DAYS = ["2022-01-01", "2022-01-02", "2022-01-03", "2022-01-04", "2022-01-05"]


def _rows(day: str) -> int:
    return int(day[-2:]) + 31 * (int(day[5:7]) - 1)  # a different count for every day of the year


def _toy_assets(lake: Path, bad_day: str | None = None, transient_day: str | None = None, warn_day: str | None = None):
    """The toy asset, written as the lake assets are, and a downstream asset of the same run."""

    @partitioned_lake_asset(
        "toy", group="toy", kinds={"parquet"}, description="one file per day", schema=pa.schema([("x", pa.int64())]),
        blocking={"keys": "no bad day"}, warning={"volume": "always passes"},
        retry_policy=RetryPolicy(max_retries=2),
    )
    def toy(context):
        def materialize_partition(day: str) -> PartitionOutcome:
            checks = [quality.result("keys", day != bad_day, null_ids=int(day == bad_day)),
                      quality.result("volume", day != warn_day, warning=True, rows=_rows(day))]
            if day == transient_day and context.retry_number == 0:
                raise ConnectionError("the database went away")
            gate(f"toy {day}", checks)
            (lake / f"{day}.txt").write_text("x\n" * _rows(day))  # publish
            return PartitionOutcome({"dagster/row_count": _rows(day)}, checks)

        yield from materialize_partitions(context, materialize_partition)

    @asset(partitions_def=toy.partitions_def, deps=[toy], backfill_policy=toy.backfill_policy)
    def downstream() -> None:
        return None

    return [toy, downstream]


def _run(instance: DagsterInstance, lake: Path, first: str, last: str, **kwargs):
    lake.mkdir(exist_ok=True)
    return materialize(_toy_assets(lake, **kwargs), instance=instance, raise_on_error=False,
                       resources={"lake": LakeIOManager(root=str(lake))},  # the toy's I/O manager, unused
                       **({"partition_key": first} if first == last else
                          {"tags": {RANGE_START_TAG: first, RANGE_END_TAG: last}}))


def _published(lake: Path) -> set[str]:
    return {p.stem for p in lake.glob("*.txt")}


def _events(result, event_type: str) -> list:
    return [e for e in result.all_events if e.event_type_value == event_type]


def test_a_blocked_third_day_leaves_exactly_the_first_two_recorded_and_published(tmp_path):
    instance = DagsterInstance.ephemeral()
    result = _run(instance, tmp_path / "lake", DAYS[0], DAYS[-1], bad_day=DAYS[2])

    assert not result.success
    assert not _events(result, "STEP_UP_FOR_RETRY"), "a data-quality failure is not retried"
    assert instance.get_materialized_partitions(TOY) == _published(tmp_path / "lake") == set(DAYS[:2])
    records = instance.fetch_materializations(TOY, limit=100).records
    assert {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in records} == {
        d: _rows(d) for d in DAYS[:2]}
    assert len(records) == 2, "each published day recorded once"
    for record in records:  # its check results with it
        assert record.asset_materialization.metadata["failed_checks"].value == "none"
        assert "| keys | passed | null_ids=0 |" in record.asset_materialization.metadata["checks"].value
    evaluations = [e.asset_check_evaluation_data for e in _events(result, "ASSET_CHECK_EVALUATION")]
    assert {(e.partition, e.check_name): e.passed for e in evaluations} == {
        (DAYS[2], "keys"): False, (DAYS[2], "volume"): True}, "the blocked day's results, against that day"
    assert not instance.get_materialized_partitions(AssetKey("downstream"))


def test_a_successful_range_records_each_day_once_with_its_own_numbers_and_downstream_runs(tmp_path, caplog):
    instance = DagsterInstance.ephemeral()
    result = _run(instance, tmp_path / "lake", DAYS[0], DAYS[-1])

    assert result.success
    assert "emitted no result" not in caplog.text, "every selected check's output is yielded"
    records = instance.fetch_materializations(TOY, limit=100).records
    assert sorted(r.partition_key for r in records) == DAYS == sorted(_published(tmp_path / "lake"))
    assert {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in records} == {
        d: _rows(d) for d in DAYS}
    assert all(r.asset_materialization.metadata["failed_checks"].value == "none" for r in records)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"keys", "volume"} and all(e.passed for e in checks.values())
    assert {e.metadata["partitions_checked"].value for e in checks.values()} == {len(DAYS)}
    assert instance.get_materialized_partitions(AssetKey("downstream")) == set(DAYS)
    # the volume check's baseline reads each day's own count from the range's records
    assert sorted(quality.VolumeBaseline(instance, "toy").history) == [(d, _rows(d)) for d in DAYS]


def test_a_range_with_a_warning_on_one_day_records_it_on_that_day_and_in_the_range_s_result(tmp_path):
    instance = DagsterInstance.ephemeral()
    result = _run(instance, tmp_path / "lake", DAYS[0], DAYS[-1], warn_day=DAYS[3])

    assert result.success, "a warning does not stop the range"
    failed = {r.partition_key: r.asset_materialization.metadata["failed_checks"].value
              for r in instance.fetch_materializations(TOY, limit=100).records}
    assert failed == {d: "volume" if d == DAYS[3] else "none" for d in DAYS}
    volume = next(e for e in result.get_asset_check_evaluations() if e.check_name == "volume")
    assert not volume.passed and volume.metadata["failed_partitions"].value == DAYS[3]
    assert volume.metadata["rows"].value == _rows(DAYS[3])


def test_a_one_day_run_ties_its_check_results_to_the_day_s_materialization(tmp_path):
    instance = DagsterInstance.ephemeral()
    result = _run(instance, tmp_path / "lake", DAYS[1], DAYS[1])

    assert result.success
    record = instance.fetch_materializations(TOY, limit=1).records[0]
    evaluations = result.get_asset_check_evaluations()
    assert {(e.check_name, e.partition) for e in evaluations} == {("keys", DAYS[1]), ("volume", DAYS[1])}
    assert {e.target_materialization_data.storage_id for e in evaluations} == {record.storage_id}


def test_a_transient_fault_is_retried_and_what_each_attempt_published_is_recorded(tmp_path):
    instance = DagsterInstance.ephemeral()
    result = _run(instance, tmp_path / "lake", DAYS[0], DAYS[-1], transient_day=DAYS[1])

    assert result.success
    assert len(_events(result, "STEP_UP_FOR_RETRY")) == 1
    # attempt 1 published day 1 (then the fault on day 2): recorded; attempt 2 published all five again
    days = [r.partition_key for r in instance.fetch_materializations(TOY, limit=100).records]
    assert sorted(days) == sorted(DAYS[:1] + DAYS)
    assert instance.get_materialized_partitions(TOY) == _published(tmp_path / "lake") == set(DAYS)


def _event_log(tmp_path: Path, days: int) -> tuple[int, int]:
    instance = DagsterInstance.ephemeral()
    last = _toy_assets(tmp_path)[0].partitions_def.get_partition_keys()[days - 1]
    result = _run(instance, tmp_path / f"lake-{days}", DAYS[0], last)
    assert result.success
    entries = instance.all_logs(result.run_id)
    return len(entries), sum(len(serialize_value(entry)) for entry in entries)


def test_a_range_run_event_log_grows_linearly_with_its_length(tmp_path):
    (e30, b30), (e90, b90), (e150, b150) = (_event_log(tmp_path, days) for days in (30, 90, 150))
    # the same number of events and about the same bytes for every 60 more days: no square term
    assert e150 - e90 == e90 - e30 <= 6 * 60
    assert abs((b150 - b90) - (b90 - b30)) < 0.02 * (b90 - b30)


def test_progress_prints_one_line_per_recorded_partition_and_each_failed_check(tmp_path, capsys):
    result = _run(DagsterInstance.ephemeral(), tmp_path / "lake", DAYS[0], DAYS[-1], bad_day=DAYS[2])
    handler = _ProgressHandler()
    for event in result.all_events:
        record = logging.LogRecord("dagster", logging.INFO, __file__, 1, "", None, None)
        record.dagster_meta = {"dagster_event": event}
        handler.emit(record)
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines == [[DAYS[0], "toy", str(_rows(DAYS[0])), "rows"], [DAYS[1], "toy", str(_rows(DAYS[1])), "rows"],
                     [DAYS[2], "toy", "check", "keys", "failed", "(error)"]]
