"""`ubm run`'s progress lines: one per partition, also when an asset logs several partitions in one message."""

from __future__ import annotations

import logging

import pytest
from dagster import MaterializeResult

from ubm_platform.defs.partitioned import PartitionLog, PartitionOutcome, materialize_partitions
from ubm_platform.defs.progress import _ProgressHandler


def _emit(message: str, step_key: str = "user_purchase_staging") -> None:
    record = logging.LogRecord("dagster", logging.INFO, __file__, 1, message, None, None)
    record.dagster_meta = {"orig_message": message, "step_key": step_key}
    _ProgressHandler().emit(record)


def test_a_message_with_several_partitions_prints_one_line_each(capsys):
    _emit("2022-01-01: 5 payments from here\n2022-01-02-05:00: 0 payments from here")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["2022-01-01", "user_purchase_staging", "5"], ["2022-01-02-05:00", "user_purchase_staging", "0"]]


def test_a_partition_message_spanning_lines_stays_one_entry(capsys):
    _emit("2022-01-01: blocked\nbecause of this")
    out = capsys.readouterr().out
    assert out.count("2022-01-01") == 1 and "because of this" in out


class _Log:
    def __init__(self):
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)


class _Context:
    def __init__(self):
        self.log = _Log()


def test_partition_log_groups_lines_and_logs_the_rest_at_the_end_even_on_failure():
    context = _Context()
    with pytest.raises(RuntimeError):
        with PartitionLog(context, interval_s=3600) as progress:
            progress.info("2022-01-01", "1 payments")
            progress.info("2022-01-02", "2 payments")
            raise RuntimeError("the third day failed")
    assert context.log.messages == ["2022-01-01: 1 payments\n2022-01-02: 2 payments"]


def test_partition_log_with_no_interval_logs_each_line():
    context = _Context()
    with PartitionLog(context, interval_s=0) as progress:
        progress.info("2022-01-01", "1 payments")
        progress.info("2022-01-02", "2 payments")
    assert context.log.messages == ["2022-01-01: 1 payments", "2022-01-02: 2 payments"]


def test_the_lines_are_logged_before_the_range_results_go_to_dagster():
    """Dagster stores a range's results (an event per partition) before the asset resumes: the
    progress lines must not wait for that."""
    context = _Context()
    context.partition_keys = ["2022-01-01", "2022-01-02"]

    def materialize_partition(key: str, progress: PartitionLog) -> PartitionOutcome:
        progress.info(key, "done")
        return PartitionOutcome({"dagster/row_count": 1}, [])

    results = materialize_partitions(context, materialize_partition, log_interval_s=3600)
    assert isinstance(next(results), MaterializeResult)
    assert context.log.messages == ["2022-01-01: done\n2022-01-02: done"]
