"""The local lake: partitions are written aside and published whole."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ubm_platform.resources.lake import LakeResource, ParquetFileWriter


@pytest.fixture
def lake(tmp_path):
    return LakeResource(root=str(tmp_path / "lake"))


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
