"""The vendor-file sensor launches each day once, and again only when the file is re-delivered."""

from dagster import DagsterInstance, SkipReason, build_sensor_context

from ubm_platform.defs.sensors import vendor_file_sensor
from ubm_platform.resources.lake import LandingResource
from ubm_platform_tests.conftest import use_granularity


def _drop(landing_dir, day, text):
    path = landing_dir / "movie_review" / day / "movie_review.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _tick(instance, landing_dir, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"landing": LandingResource(root=str(landing_dir))})
    result = vendor_file_sensor(context)
    return result, context.cursor


def test_each_arrived_file_launches_its_day_once(tmp_path):
    instance = DagsterInstance.ephemeral()
    _drop(tmp_path, "2022-01-02", "cid,review_str\n1,fine\n")
    _drop(tmp_path, "2022-01-03", "cid,review_str\n2,great\n")
    _drop(tmp_path, "notaday", "cid,review_str\n2,great\n")  # not a day folder
    _drop(tmp_path, "1999-01-01", "cid,review_str\n2,great\n")  # before the first partition
    requests, cursor = _tick(instance, tmp_path)
    assert sorted(r.partition_key for r in requests) == ["2022-01-02", "2022-01-03"]
    assert len({r.run_key for r in requests}) == 2

    again, cursor = _tick(instance, tmp_path, cursor)
    assert isinstance(again, SkipReason)

    _drop(tmp_path, "2022-01-03", "cid,review_str\n2,great\n3,redelivered with more rows\n")
    _drop(tmp_path, "2022-01-04", "cid,review_str\n4,new day\n")
    requests, _ = _tick(instance, tmp_path, cursor)
    assert sorted(r.partition_key for r in requests) == ["2022-01-03", "2022-01-04"]


def test_no_landing_area_yet_is_not_an_error(tmp_path):
    result, _ = _tick(DagsterInstance.ephemeral(), tmp_path / "missing")
    assert isinstance(result, SkipReason)


def test_hourly_vendor_files_map_to_hourly_partition_keys(tmp_path, monkeypatch):
    use_granularity(monkeypatch, "hourly")
    _drop(tmp_path, "2022-01-02/05", "cid,review_str\n1,fine\n")
    _drop(tmp_path, "2022-01-02/23", "cid,review_str\n1,fine\n")
    _drop(tmp_path, "2022-01-03", "cid,review_str\n2,a daily file is not an hour's\n")
    _drop(tmp_path, "2022-01-03/7", "cid,review_str\n2,not an HH folder\n")
    landing = LandingResource(root=str(tmp_path))
    assert sorted(landing.arrived_review_files()) == ["2022-01-02-05:00", "2022-01-02-23:00"]
    assert landing.review_file("2022-01-02-05:00") == "movie_review/2022-01-02/05/movie_review.csv"
