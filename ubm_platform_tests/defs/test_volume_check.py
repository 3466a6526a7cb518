"""The volume check warns on a day far outside the trailing mean and standard deviation."""

from dagster import AssetKey, AssetMaterialization, DagsterInstance

from ubm_platform.defs.quality import VolumeBaseline


def _instance_with_history(counts):
    instance = DagsterInstance.ephemeral()
    for i, count in enumerate(counts):
        instance.report_runless_asset_event(AssetMaterialization(
            AssetKey("a"), partition=f"2022-01-{i + 1:02d}", metadata={"dagster/row_count": count}))
    return instance


def test_normal_day_passes_and_outlier_warns():
    baseline = VolumeBaseline(_instance_with_history([100, 104, 98, 101, 97, 103, 99]), "a")
    normal = baseline.result("volume", "2022-01-08", 102)
    assert normal.passed and normal.metadata["history"].value == 7
    outlier = baseline.result("volume", "2022-01-09", 1000)
    assert not outlier.passed and outlier.severity.value == "WARN"


def test_too_little_history_passes_with_a_note():
    result = VolumeBaseline(_instance_with_history([5, 500]), "a").result("volume", "2022-01-03", 10_000)
    assert result.passed and "not enough history" in result.metadata["note"].value


def test_a_rerun_day_is_not_compared_with_itself():
    baseline = VolumeBaseline(_instance_with_history([100, 101, 99, 100, 102, 98, 5000]), "a")
    rerun = baseline.result("volume", "2022-01-07", 100)  # the old 5000 of this very day is left out
    assert rerun.passed and rerun.metadata["history"].value == 6
