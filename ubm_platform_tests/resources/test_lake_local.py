"""The local lake: partitions are written aside and published whole."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from dagster import AssetKey, Failure, PartitionKeyRange, build_input_context, build_output_context

from ubm_platform.partitions import partitions_def
from ubm_platform.resources.lake import LakeIOManager, LakePartitions, ParquetFileWriter


@pytest.fixture
def lake(tmp_path):
    return LakeIOManager(root=str(tmp_path / "lake"))


def _write_partition(lake, day, values):
    partition = lake.partition_path("user_purchase_staging", day)
    with lake.staged_directory(partition) as staging:
        with ParquetFileWriter(lake, f"{staging.path}/part-00000.parquet", pa.schema([("v", pa.int64())])) as w:
            w.write(pa.table({"v": values}))
    return partition


def test_partition_layout_matches_hive_and_spectrum(lake):
    assert lake.partition_path("user_purchase_staging", "2022-01-02") == "stage/user_purchase/insert_date=2022-01-02"
    assert lake.partition_path("classified_movie_review", "2022-01-02").startswith("stage/classified_movie_review/")
    with pytest.raises(ValueError):
        lake.partition_path("movie_review_raw", "2022-01-02/../../etc")


def test_publishing_replaces_the_previous_partition(lake, tmp_path):
    partition = _write_partition(lake, "2022-01-02", [1, 2, 3])
    (tmp_path / "lake" / partition / "stale-extra-file.parquet").write_bytes(b"old")
    _write_partition(lake, "2022-01-02", [4])
    assert lake.list_files(partition) == [f"{partition}/part-00000.parquet"]
    import pyarrow.parquet as pq

    assert pq.read_table(lake.local_path(f"{partition}/part-00000.parquet")).column("v").to_pylist() == [4]
    assert not list((tmp_path / "lake" / "stage" / "user_purchase" / "_staging").iterdir())


def test_a_failed_write_leaves_the_published_partition_untouched(lake, tmp_path):
    partition = _write_partition(lake, "2022-01-02", [1, 2, 3])
    with pytest.raises(RuntimeError):
        with lake.staged_directory(partition) as staging:
            lake.write_text(f"{staging.path}/part-00000.parquet", "half a file")
            raise RuntimeError("crash mid-write")
    import pyarrow.parquet as pq

    assert pq.read_table(lake.local_path(f"{partition}/part-00000.parquet")).column("v").to_pylist() == [1, 2, 3]
    assert not list((tmp_path / "lake" / "stage" / "user_purchase" / "_staging").iterdir())


def test_the_io_manager_hands_a_downstream_asset_the_partitions_of_its_run_as_locations(lake):
    for day, values in (("2022-01-02", [1, 2]), ("2022-01-03", [3]), ("2022-01-05", [4, 5, 6])):
        _write_partition(lake, day, values)
    context = build_input_context(asset_key=AssetKey("user_purchase_staging"), asset_partitions_def=partitions_def,
                                  asset_partition_key_range=PartitionKeyRange("2022-01-02", "2022-01-03"))
    handle = lake.load_input(context)
    assert isinstance(handle, LakePartitions) and handle.keys == ("2022-01-02", "2022-01-03")
    assert handle.partition_folders() == {"2022-01-02": "insert_date=2022-01-02", "2022-01-03": "insert_date=2022-01-03"}
    assert sorted(ds.dataset(handle.uri, partitioning="hive").to_table().column("v").to_pylist()) == [1, 2, 3, 4, 5, 6]
    assert sorted(ds.dataset(lake.local_path(handle.partition_path("2022-01-03"))).to_table().column("v")
                  .to_pylist()) == [3]


def test_the_io_manager_hands_out_the_current_model_or_says_there_is_none(lake):
    context = build_input_context(asset_key=AssetKey("sentiment_model"))
    with pytest.raises(Failure, match="No sentiment model yet .*current.json is missing"):
        lake.load_input(context)
    with lake.staged_model() as staging:
        lake.write_text(staging.join("ubm_model.json"), "{}")
        staging.final = lake.model_path("sentiment-v1")
    lake.make_current_model("sentiment-v1")
    assert lake.load_input(context) == lake.uri("models/sentiment/sentiment-v1")
    assert lake.current_model_version() == "sentiment-v1" and lake.exists("models/sentiment/sentiment-v1/ubm_model.json")


def test_the_io_manager_stores_no_in_memory_value(lake):
    lake.handle_output(build_output_context(asset_key=AssetKey("movie_review_raw")), None)
    with pytest.raises(TypeError, match="movie_review_raw returned a list"):
        lake.handle_output(build_output_context(asset_key=AssetKey("movie_review_raw")), [1, 2])
