"""The Dagster UI in a real browser: the asset graph shows the platform, and a run launched from the UI
materializes a partition.

`dagster-webserver` serves the platform's definitions from a temporary UBM_HOME / DAGSTER_HOME (the
vendor's file for one day, a small OLTP database); headless Debian Chromium, driven by Playwright,
opens the asset graph, launches `movie_review_raw` for that day from the asset page's Materialize
dialog and follows the run page until the run succeeds. Screenshots go to test-artifacts/ui/.

Needs Debian's `chromium` at /usr/bin/chromium (Playwright's own browser download is not used):
skipped when it is absent, except in CI, where it fails.
"""

from __future__ import annotations

import re

import pyarrow.dataset as ds
import pytest

from ubm_platform_tests.conftest import CHROMIUM_ARGS, PROJECT_ROOT, ubm_env
from ubm_platform_tests.ops.conftest import DAY, REVIEWS, Webserver, write_vendor_file

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
ASSETS = ["user_purchase_staging", "movie_review_raw", "sentiment_model", "classified_movie_review",
          "user_behavior_metric"]
GROUPS = ["user_purchase", "movie_review", "sentiment", "warehouse"]  # the metric's groups
OTHER_GROUPS = ["oltp", "staging", "star_schema", "analytics"]  # Pagila's tables, the star schema, the answers
# Runs launched from the UI start at once: the test runs no daemon to drain a run queue (Dagster's
# default coordinator, as in the repository's dagster.yaml, queues them).
UI_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def webserver(tmp_path, oltp_dsn):
    """dagster-webserver on the platform's definitions; yields (base URL, UBM_HOME)."""
    home = tmp_path / "ubm_home"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text(UI_DAGSTER_YAML)
    write_vendor_file(home)
    webserver = Webserver(ubm_env(home, UBM_OLTP_DSN=oltp_dsn), tmp_path / "webserver.log",
                          ["-m", "ubm_platform.definitions"])
    try:
        webserver.wait_until_up(timeout_s=60)
        yield webserver.base, home
    finally:
        webserver.stop()


def _dismiss_welcome_dialog(page) -> None:
    """A new instance greets the first visitor with a "Join the Dagster community" dialog."""
    skip = page.get_by_role("dialog").get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=3_000)
    except Exception:  # not shown (already dismissed on this instance)
        return
    skip.click()


def test_asset_graph_and_materialize_from_the_ui(webserver, chromium):
    from playwright.sync_api import expect, sync_playwright

    base, home = webserver
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.set_default_timeout(20_000)
        try:
            # The asset graph: every group; then the metric's groups alone (an asset selection in the graph's
            # filter), with every asset once the groups are expanded.
            page.goto(f"{base}/asset-groups", wait_until="domcontentloaded")
            expect(page.get_by_text("Global asset lineage")).to_be_visible()
            _dismiss_welcome_dialog(page)
            graph = page.locator("svg foreignObject")  # the graph's nodes (not the sidebar's tree)
            for group in GROUPS + OTHER_GROUPS:
                expect(graph.get_by_text(group, exact=True).first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "01-asset-groups.png")
            page.locator(".CodeMirror").first.click()  # the filter is a CodeMirror editor: typed into
            page.keyboard.type(" or ".join(f"group:{group}" for group in GROUPS))
            page.keyboard.press("Enter")
            for group in OTHER_GROUPS:
                expect(graph.get_by_text(group, exact=True)).to_have_count(0)
            if not graph.get_by_text(ASSETS[0], exact=True).is_visible():
                page.mouse.click(1000, 150)  # focus the graph, on an empty spot
                page.keyboard.press("Alt+e")  # the graph's "Expand all groups" (settings menu, ⌥E)
            for asset in ASSETS:
                expect(graph.get_by_text(asset, exact=True)).to_be_visible()
            for group in GROUPS:
                expect(graph.get_by_text(group, exact=True)).to_be_visible()
            page.screenshot(path=ARTIFACTS / "02-asset-graph.png")

            # movie_review_raw's page -> Materialize... -> the partition -> launch one run.
            page.goto(f"{base}/assets/movie_review_raw", wait_until="domcontentloaded")
            _dismiss_welcome_dialog(page)
            page.get_by_role("button", name="Materialize…").first.click()  # "…": partitions to choose
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize movie_review_raw")
            expect(dialog).to_be_visible()
            # The dialog starts on the last 90 days; DAY is older.
            dialog.get_by_role("button", name="Show all partitions").click()
            expect(dialog).to_contain_text("All time")
            partitions = dialog.locator("input[type=text]").first
            partitions.fill(DAY)
            partitions.press("Enter")
            expect(dialog).to_contain_text("1 partition")
            launch = dialog.get_by_role("button", name="Launch 1 run")
            expect(launch).to_be_enabled()
            page.screenshot(path=ARTIFACTS / "03-materialize-dialog.png")
            with page.expect_response(
                lambda r: "/graphql" in r.url and "LaunchPipelineExecution" in (r.request.post_data or "")
            ) as launched:
                launch.click()
            result = launched.value.json()["data"]["launchPipelineExecution"]
            assert result["__typename"] == "LaunchRunSuccess", result
            run_id = result["run"]["id"]

            # The UI's own link to the run, then its page until the run has finished.
            toast = page.get_by_text(f"Launched run {run_id[:8]}")
            expect(toast).to_be_visible()
            page.get_by_role("link", name="View").or_(page.get_by_role("button", name="View")).first.click()
            expect(page).to_have_url(re.compile(rf"/runs/{run_id}"))
            expect(page.get_by_text(f"partition: {DAY}")).to_be_visible()
            status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
            expect(status).to_be_visible(timeout=60_000)
            page.screenshot(path=ARTIFACTS / "04-run.png", full_page=True)
            assert status.inner_text() == "Success", page.inner_text("body")[:3000]

            # The asset's page shows the partition's materialization with its row count.
            page.goto(f"{base}/assets/movie_review_raw?view=partitions&partition={DAY}", wait_until="domcontentloaded")
            row_count = page.locator("tr", has_text="dagster/row_count").first
            expect(row_count).to_be_visible()
            expect(row_count.locator("td").nth(1)).to_have_text(str(len(REVIEWS)))
            page.screenshot(path=ARTIFACTS / "05-asset-partition.png", full_page=True)
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
            raise
        finally:
            browser.close()

    # And the data is where the asset says it is.
    landed = ds.dataset(str(home / "lake" / "raw" / "movie_review" / f"insert_date={DAY}"), format="parquet")
    assert landed.count_rows() == len(REVIEWS)
