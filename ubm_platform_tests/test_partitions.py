"""The partition scheme: keys, windows, lake paths, landing folders and SQL fragments, daily and hourly."""

from __future__ import annotations

import datetime as dt

import pytest

from ubm_platform import sql_files
from ubm_platform.partitions import DAILY, HOURLY, GRANULARITIES
from ubm_platform.settings import SettingsError, load_settings
from ubm_platform_tests.conftest import use_granularity

UTC = dt.timezone.utc


def test_a_daily_key_is_a_utc_day():
    window = DAILY.window("2022-03-14")
    assert (window.start, window.end) == (dt.datetime(2022, 3, 14, tzinfo=UTC), dt.datetime(2022, 3, 15, tzinfo=UTC))
    assert window.path == "insert_date=2022-03-14"
    assert window.landing_folder == "2022-03-14"
    assert window.sql_params == {"insert_date": "2022-03-14"}
    assert window.spectrum_partition_spec == "insert_date='2022-03-14'"


def test_an_hourly_key_is_a_utc_hour():
    window = HOURLY.window("2022-03-14-05:00")
    assert (window.start, window.end) == (dt.datetime(2022, 3, 14, 5, tzinfo=UTC), dt.datetime(2022, 3, 14, 6, tzinfo=UTC))
    assert window.path == "insert_date=2022-03-14/insert_hour=05"
    assert window.landing_folder == "2022-03-14/05"
    assert window.sql_params == {"insert_date": "2022-03-14", "insert_hour": 5}
    assert window.spectrum_partition_spec == "insert_date='2022-03-14', insert_hour='05'"


@pytest.mark.parametrize("scheme, key", [(DAILY, "2022-03-14-05:00"), (DAILY, "2022-3-14x"), (HOURLY, "2022-03-14"),
                                         (HOURLY, "2022-03-14-25:00"), (DAILY, "../etc"), (DAILY, None)])
def test_keys_of_another_granularity_or_no_key_at_all_are_refused(scheme, key):
    with pytest.raises(SettingsError, match=f"not a {scheme.name} key"):
        scheme.window(key)


def test_keys_between_covers_whole_days_and_matches_dagster():
    days = DAILY.keys_between(dt.date(2022, 1, 30), dt.date(2022, 2, 2))
    assert days == ["2022-01-30", "2022-01-31", "2022-02-01", "2022-02-02"]
    hours = HOURLY.keys_between(dt.date(2022, 1, 31), dt.date(2022, 2, 1))
    assert len(hours) == 48 and hours[0] == "2022-01-31-00:00" and hours[23] == "2022-01-31-23:00"
    assert hours[24] == "2022-02-01-00:00"
    for scheme, keys in ((DAILY, days), (HOURLY, hours)):
        dagster_keys = scheme.definition("2022-01-01").get_partition_keys(
            current_time=dt.datetime(2022, 3, 1, tzinfo=UTC))
        assert set(keys) <= set(dagster_keys), "our keys are Dagster's keys"
        windows = [scheme.window(k) for k in keys]
        assert all(a.end == b.start for a, b in zip(windows, windows[1:])), "windows tile the range"


@pytest.mark.parametrize("scheme, folder, key", [
    (DAILY, "2022-01-02", "2022-01-02"), (DAILY, "2022-01-02/05", None), (DAILY, "2022-1-2", None),
    (DAILY, "incoming", None), (HOURLY, "2022-01-02/05", "2022-01-02-05:00"), (HOURLY, "2022-01-02", None),
    (HOURLY, "2022-01-02/5", None), (HOURLY, "2022-01-02/24", None),
])
def test_landing_folders_map_back_to_their_partition(scheme, folder, key):
    assert scheme.key_for_landing_folder(folder) == key


def test_the_sql_fragments_name_every_partition_column(monkeypatch):
    use_granularity(monkeypatch, "hourly")
    rendered = sql_files.render("warehouse/user_behavior_metric_partition_preview.sql")
    assert "WHERE insert_date = CAST(:insert_date AS DATE) AND insert_hour = CAST(:insert_hour AS SMALLINT)\n" in rendered
    assert "GROUP BY insert_date, insert_hour" in sql_files.render("warehouse/partition_counts.sql", table="fact_rental")
    use_granularity(monkeypatch, "daily")
    rendered = sql_files.render("warehouse/user_behavior_metric_partition_preview.sql")
    assert "WHERE insert_date = CAST(:insert_date AS DATE)\n" in rendered
    assert "{{" not in sql_files.render("warehouse/partition_counts.sql", table="fact_rental")


def test_the_granularity_setting_is_validated(monkeypatch):
    assert load_settings().partition in GRANULARITIES
    monkeypatch.setenv("UBM_PARTITION", "weekly")
    with pytest.raises(SettingsError, match="UBM_PARTITION must be 'daily' or 'hourly'"):
        load_settings()
