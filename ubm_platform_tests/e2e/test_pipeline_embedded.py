"""The whole pipeline on the embedded default, run as a user runs it (`ubm seed`, then everything built
by one `dagster asset materialize --select '*'`, `ubm run`, `dg launch`), compared with an independent
computation; and Dagster's record compared with the published data, partition by partition."""

from __future__ import annotations

import codecs
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import psycopg
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from ubm_platform.resources.oltp import embedded_dsn
from ubm_platform.resources.warehouse import open_duckdb
from ubm_platform_tests.conftest import PROJECT_ROOT, run_cli, ubm_env
from ubm_platform_tests.expected import expected_metric_in_home, review_rows, star_rows, warehouse_metric

DAYS = ["2022-01-02", "2022-01-03"]
FIRST_RANGE = "2022-01-01...2022-01-05"
PARTITIONED_ASSETS = ["user_purchase_staging", "movie_review_raw", "classified_movie_review", "rental_staging",
                      "fact_rental", "fact_payment", "fact_review", "user_behavior_metric"]
# the daily job's assets: the partitioned ones, the extracted snapshots and the star schema's dimensions
DAILY_ASSETS = ",".join([*PARTITIONED_ASSETS, "customer_staging", "film_staging", "film_category_staging",
                         "film_actor_staging", "customer_history", "dim_customer", "dim_date", "dim_film",
                         "bridge_film_category", "bridge_film_actor"])
LAKE_PATHS = {"user_purchase_staging": "stage/user_purchase", "movie_review_raw": "raw/movie_review",
              "classified_movie_review": "stage/classified_movie_review"}


@pytest.fixture(scope="module")
def platform(state_dirs):
    home = state_dirs("ubm_home")
    env = ubm_env(home)
    run_cli(["seed", "--from", "2022-01-01", "--to", "2022-01-17", "--scale", "1"], env)
    # From an empty state, every asset over a range in one launch of Dagster's own CLI: the order (land the
    # reviews, train the first model on their scores, classify, build the metric) comes from the asset graph.
    result = run_cli(["-m", "dagster", "asset", "materialize", "-m", "ubm_platform.definitions",
                      "--select", "*", "--partition-range", FIRST_RANGE], env)
    return home, env, result.stdout


def _instance(home: Path) -> DagsterInstance:
    return DagsterInstance.from_config(str(home / "dagster"))


def test_the_first_launch_landed_each_day_once_and_trained_the_model_once_in_one_run(platform):
    home, _env, _out = platform
    with _instance(home) as instance:
        landed = instance.fetch_materializations(AssetKey("movie_review_raw"), limit=100).records
        models = instance.fetch_materializations(AssetKey("sentiment_model"), limit=100).records
        runs = instance.get_runs()
    assert sorted(r.partition_key for r in landed) == [f"2022-01-0{d}" for d in range(1, 6)]
    assert len(models) == 1 and len(runs) == 1 and {r.run_id for r in landed} == {runs[0].run_id}
    for day in FIRST_RANGE.split("..."):
        assert warehouse_metric(home / "warehouse.duckdb", day) == expected_metric_in_home(home, day)


def test_the_star_schema_holds_the_oltp_databases_rows_and_the_vendors_reviews(platform):
    home, _env, _out = platform
    first, last = FIRST_RANGE.split("...")
    for table, (expected, built) in star_rows(embedded_dsn(home / "oltp-pgdata"), home / "warehouse.duckdb",
                                              first, last).items():
        assert built == expected, table
        assert len(expected) > 50, table
    days = [f"2022-01-0{d}" for d in range(1, 6)]
    expected, built = review_rows({day: _vendor_file(home, day) for day in days}, home / "warehouse.duckdb")
    assert built == expected and len(expected) > 50


def _vendor_file(home, day):
    return home / "landing" / "movie_review" / day / "movie_review.csv"


@pytest.fixture
def dashboard_url(platform):
    """`ubm dashboard` serving the page the first launch built, on a free port."""
    _home, env, _out = platform
    server = subprocess.Popen([sys.executable, "-m", "ubm_platform.cli", "dashboard", "--port", "0"], env=env,
                              cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"http://[\d.:]+/", line)
        assert url, line + server.stdout.read() if server.poll() is not None else line
        yield url.group(0)
    finally:
        server.terminate()
        server.wait(timeout=30)


CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(chart => ({
    id: chart.id,
    drawn: chart.querySelectorAll('.main-svg').length > 0
           && chart.querySelectorAll('.cartesianlayer .trace, .hm').length >= chart.data.length,
    data: chart.data.map(trace => ({x: trace.x && Array.from(trace.x), y: trace.y && Array.from(trace.y),
                                    z: trace.z && Array.from(trace.z, row => Array.from(row)),
                                    text: trace.text && Array.from(trace.text, row => Array.from(row)),
                                    name: trace.name, error_y: trace.error_y}))}))"""


def test_the_dashboard_shows_the_warehouses_numbers_in_a_browser(platform, dashboard_url, chromium):
    """Opened in Chromium from `ubm dashboard`: every chart drawn, nothing fetched from elsewhere, and its
    numbers equal to what the warehouse's tables say, read by this test's own queries."""
    from playwright.sync_api import sync_playwright

    from ubm_platform_tests.conftest import CHROMIUM_ARGS

    home, _env, _out = platform
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests, errors = [], []
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto(dashboard_url)
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6 * 3")
            charts = {chart["id"].removeprefix("chart-"): chart for chart in page.evaluate(CHARTS_JS)}
            answers = [page.inner_text(f"#answer-{n} .finding") for n in (1, 2, 3)]
        finally:
            page.screenshot(path=PROJECT_ROOT / "test-artifacts" / "dashboard.png", full_page=True)
            browser.close()
    assert not errors and requests == [dashboard_url], (errors, requests)  # opens offline
    assert sorted(charts) == ["checks", "genre-transition", "metric-distribution", "review-effect",
                              "similarity-by-activity", "spend-and-reviews"]
    assert all(chart["drawn"] for chart in charts.values()), charts

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        def rows(sql):
            return conn.execute(sql).fetchall()

        spend = dict(rows("SELECT payment_date::VARCHAR, SUM(amount)::DOUBLE FROM fact_payment GROUP BY 1"))
        reviews = rows("SELECT review_date::VARCHAR, sentiment, COUNT(*) FROM fact_review GROUP BY 1, 2")
        metric = rows("SELECT amount_spent, purchase_count, review_count FROM user_behavior_metric")
        transitions = rows("SELECT from_category, to_category, weight FROM genre_transition")
        similarity = rows("SELECT mean_similarity FROM similarity_by_activity ORDER BY activity_quartile")
        effect = dict(rows("SELECT sentiment, same_genre_share FROM review_rental_effect"))
        (difference, low, high, p_value), = rows(
            "SELECT share_difference, ci_low, ci_high, p_value FROM review_rental_effect_comparison")
        (lift, lift_low, lift_high, pairs), = rows(
            "SELECT lift, lift_ci_low, lift_ci_high, consecutive_pairs FROM genre_affinity")

    over_time = {trace["name"]: dict(zip(trace["x"], trace["y"])) for trace in charts["spend-and-reviews"]["data"]}
    assert over_time["spend"] == pytest.approx(spend) and len(spend) == 5
    for sentiment in ("negative", "neutral", "positive"):
        shown = {day: n for day, n in over_time[f"{sentiment} reviews"].items() if n}
        assert shown == {day: n for day, s, n in reviews if s == sentiment}, sentiment

    for trace, values in zip(charts["metric-distribution"]["data"], zip(*metric)):
        counted = {}
        for value in values:
            counted[int(value)] = counted.get(int(value), 0) + 1  # whole units, rounded down
        assert dict(zip(trace["x"], trace["y"])) == counted

    heat_map = charts["genre-transition"]["data"][0]
    shown = {(a, b): heat_map["z"][i][j] for i, a in enumerate(heat_map["y"]) for j, b in enumerate(heat_map["x"])}
    assert {key: weight for key, weight in shown.items() if weight} == pytest.approx(
        {(a, b): w for a, b, w in transitions})
    assert charts["similarity-by-activity"]["data"][0]["y"] == pytest.approx([s for s, in similarity])
    shares, interval = charts["review-effect"]["data"]
    assert dict(zip(shares["x"], shares["y"])) == pytest.approx(effect)
    assert interval["y"] == pytest.approx([difference])
    assert interval["error_y"]["array"] == pytest.approx([high - difference])
    assert interval["error_y"]["arrayminus"] == pytest.approx([difference - low])
    assert f"lift {lift:.2f} (95% {lift_low:.2f} to {lift_high:.2f})" in answers[0] and f"{pairs} consecutive" in answers[0]
    assert f"{difference:+.3f}" in answers[2] and f"p {p_value:.3f}" in answers[2]

    with _instance(home) as instance:  # the first launch was the only run when the page was built
        (run,) = instance.get_runs()
        evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in
                       instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records]
    checks = charts["checks"]["data"][0]
    assert checks["x"] == [FIRST_RANGE]
    shown = {check: text[0] for check, text in zip(checks["y"], checks["text"])}
    assert shown == {f"{e.asset_key.to_user_string()}.{e.check_name}": "passed" if e.passed else "warning"
                     for e in evaluations}
    assert len(shown) > 40 and "user_behavior_metric.user_behavior_metric_reconciles" in shown




# what an analyst would notice half built: each table's rows per day
BUILT_SQL = " UNION ALL ".join(
    f"SELECT '{table}', {day}::VARCHAR, count(*) FROM {table} GROUP BY ALL"
    for table, day in (("user_behavior_metric", "insert_date"), ("fact_payment", "payment_date"),
                       ("fact_rental", "rental_date"), ("fact_review", "review_date"), ("dim_customer", "'-'")))


# An analyst's session in a process of its own (within one process DuckDB hands every connection to a file
# the database the first one opened): what it sees when it opens, and again after the run.
ANALYST_SESSION = """
import duckdb, json, sys
conn = duckdb.connect(sys.argv[1], read_only=True)
for _ in range(2):
    print(json.dumps(conn.execute(sys.argv[2]).fetchall()), flush=True)
    sys.stdin.readline()
"""


def _built(conn) -> frozenset:
    return frozenset(conn.execute(BUILT_SQL).fetchall())


def test_an_analyst_reading_the_warehouse_neither_blocks_a_run_nor_sees_half_of_one(platform):
    """An analyst's session is open on the warehouse across a run, and others open it again and again while
    the run builds: the run succeeds, the open session keeps what it opened, and every session sees the
    warehouse before the run or after it, never in between."""
    home, env, _out = platform
    published = home / "warehouse.duckdb"
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST_SESSION, str(published), BUILT_SQL],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def analyst_sees() -> frozenset:
        return frozenset(tuple(row) for row in json.loads(analyst.stdout.readline()))

    seen, failures, done = set(), [], threading.Event()

    def look_again_and_again():
        while not done.is_set():
            try:
                with duckdb.connect(str(published), read_only=True) as conn:
                    seen.add(_built(conn))
            except duckdb.Error as error:
                failures.append(error)
            done.wait(0.1)

    looking = threading.Thread(target=look_again_and_again)
    try:
        before = analyst_sees()
        looking.start()
        run_cli(["run", "--from", "2022-01-06", "--to", "2022-01-06"], env)
    finally:
        done.set()
        looking.join()
        analyst.stdin.write("\n")
        analyst.stdin.flush()
    assert analyst_sees() == before
    analyst.communicate("\n", timeout=30)
    with duckdb.connect(str(published), read_only=True) as conn:
        after = _built(conn)
        views = [sql for (sql,) in conn.execute("SELECT sql FROM duckdb_views() WHERE schema_name = 'spectrum'").fetchall()]
    assert {(table, day) for table, day, _ in after - before} >= {
        ("user_behavior_metric", "2022-01-06"), ("fact_payment", "2022-01-06")}
    assert not failures and seen <= {before, after} and after in seen, "looked while the run built"
    # the lake is named relative to UBM_HOME: the warehouse can be moved with it
    assert len(views) >= 6 and not any(str(home) in sql for sql in views)


@pytest.mark.parametrize("day", DAYS)
def test_metric_matches_independent_computation(platform, day):
    home, _env, _out = platform
    expected = expected_metric_in_home(home, day)
    actual = warehouse_metric(home / "warehouse.duckdb", day)
    assert len(expected) > 20, "the seeded day has activity"
    assert actual == expected


def test_rerunning_partitions_replaces_them_and_reports_each_day_and_asset(platform):
    home, env, _out = platform
    staged = {day: home / "lake" / "stage" / "user_purchase" / f"insert_date={day}" for day in DAYS}
    before_rows = {day: warehouse_metric(home / "warehouse.duckdb", day) for day in DAYS}
    before_stage = {day: ds.dataset(str(staged[day])).to_table().sort_by("payment_id") for day in DAYS}
    out = run_cli(["run", "--from", DAYS[0], "--to", DAYS[-1]], env).stdout
    for day in DAYS:
        assert warehouse_metric(home / "warehouse.duckdb", day) == before_rows[day]
        assert ds.dataset(str(staged[day])).to_table().sort_by("payment_id").equals(before_stage[day])
        assert len(list(staged[day].glob("*.parquet"))) == 1
        for asset in PARTITIONED_ASSETS:  # `ubm run` prints a line per partition and asset, with its rows
            assert any(line.split()[:3] == [day, asset, str(_recorded_rows(home, asset, day))]
                       for line in out.splitlines()), (day, asset, out)
    assert "sentiment_model" not in out, "a model exists: not trained again"


def _recorded_rows(home: Path, asset: str, day: str) -> int:
    with _instance(home) as instance:
        record = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    return next(r.asset_materialization.metadata["dagster/row_count"].value for r in record if r.partition_key == day)


def test_plain_dagster_cli_backfills_a_partition_range_in_one_run(platform):
    home, env, _out = platform
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "ubm_platform.definitions",
         "--select", DAILY_ASSETS, "--partition-range", "2022-01-06...2022-01-07"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for day in ("2022-01-06", "2022-01-07"):
        assert warehouse_metric(home / "warehouse.duckdb", day) == expected_metric_in_home(home, day)
        assert (home / "lake" / "stage" / "user_purchase" / f"insert_date={day}" / "part-00000.parquet").exists()


def test_dg_launch_backfills_a_partition_range_in_one_run(platform):
    home, env, _out = platform
    days = ("2022-01-08", "2022-01-09")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "launch", "--assets", DAILY_ASSETS, "--partition-range", f"{days[0]}...{days[-1]}"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for day in days:
        assert warehouse_metric(home / "warehouse.duckdb", day) == expected_metric_in_home(home, day)


def test_missing_vendor_file_fails_the_run_and_names_the_path(platform):
    home, env, _out = platform
    expected_path = _vendor_file(home, "2022-01-09")
    expected_path.unlink()
    result = run_cli(["run", "--from", "2022-01-09", "--to", "2022-01-09"], env, check=False)
    assert result.returncode != 0
    assert str(expected_path) in result.stdout


HEADER = "review_id,cid,film_id,score,review_str\n"


def _quiet_days(home, tmp_path) -> dict:
    """2022-01-10: the header and no row; 2022-01-11: only rows the validator must quarantine; and for
    each, a file of the reviews that count (none), for the independent computation."""
    _vendor_file(home, "2022-01-10").write_text(HEADER, encoding="utf-8")
    bad_rows = ["r1,abc,1,5,a cid that is not a number", "r2,7,1,5,", "r3,7,1,9,score out of range"]
    _vendor_file(home, "2022-01-11").write_text(HEADER + "\n".join(bad_rows) + "\n", encoding="utf-8")
    no_reviews = tmp_path / "no_reviews.csv"
    no_reviews.write_text(HEADER, encoding="utf-8")
    return {"2022-01-10": (no_reviews, 0), "2022-01-11": (no_reviews, len(bad_rows))}


def _assert_quiet_day(home, day, review_file, quarantined):
    metric = warehouse_metric(home / "warehouse.duckdb", day)
    assert metric == expected_metric_in_home(home, day, review_file)
    assert metric and all(review_count == 0 for *_, review_count in metric.values()), "purchases alone"
    classified = home / "lake" / "stage" / "classified_movie_review" / f"insert_date={day}"
    assert ds.dataset(str(classified)).count_rows() == 0
    quarantine = home / "lake" / "quarantine" / "movie_review" / f"insert_date={day}"
    assert sum(pq.read_metadata(f).num_rows for f in quarantine.glob("*.parquet")) == quarantined


def test_a_run_of_days_without_a_valid_review_builds_the_metric_from_purchases(platform, tmp_path):
    home, env, _out = platform
    quiet = _quiet_days(home, tmp_path)
    run_cli(["run", "--from", "2022-01-10", "--to", "2022-01-11"], env)
    for day, (review_file, quarantined) in quiet.items():
        _assert_quiet_day(home, day, review_file, quarantined)


def test_a_range_mixing_quiet_days_and_a_utf16_day(platform, tmp_path):
    home, env, _out = platform
    quiet = _quiet_days(home, tmp_path)
    # The vendor sends 2022-01-12 in UTF-16 with a byte-order mark: the same reviews as the seeded file.
    seeded = tmp_path / "2022-01-12.csv"
    seeded.write_bytes(_vendor_file(home, "2022-01-12").read_bytes())
    _vendor_file(home, "2022-01-12").write_bytes(
        codecs.BOM_UTF16_LE + seeded.read_text(encoding="utf-8").encode("utf-16-le"))
    run_cli(["run", "--from", "2022-01-10", "--to", "2022-01-12"], env)
    for day, (review_file, quarantined) in quiet.items():
        _assert_quiet_day(home, day, review_file, quarantined)
    full_day = warehouse_metric(home / "warehouse.duckdb", "2022-01-12")
    assert full_day == expected_metric_in_home(home, "2022-01-12", seeded)
    assert sum(review_count for *_, review_count in full_day.values()) > 20


def _published(home: Path) -> dict[str, set[str]]:
    """The partitions present in the lake's published area and in the warehouse, per asset."""
    present = {asset: {p.name.split("=")[1] for p in (home / "lake" / path).glob("insert_date=*")}
               for asset, path in LAKE_PATHS.items()}
    with open_duckdb(home / "warehouse.duckdb", home, read_only=True) as conn:  # as `ubm sql` opens it
        for asset in ("user_purchase_staging", "classified_movie_review"):  # the lake's external views
            seen = {str(d) for (d,) in conn.execute(f"SELECT DISTINCT insert_date FROM spectrum.{asset}").fetchall()}
            with_rows = {day for day in present[asset]
                         if ds.dataset(str(home / "lake" / LAKE_PATHS[asset] / f"insert_date={day}")).count_rows()}
            assert seen == with_rows, asset  # a quiet day's partition is there, with no row to show
        present["user_behavior_metric"] = {
            str(d) for (d,) in conn.execute("SELECT DISTINCT insert_date FROM user_behavior_metric").fetchall()}
    return present


def _recorded(home: Path) -> dict[str, set[str]]:
    with _instance(home) as instance:
        return {asset: instance.get_materialized_partitions(AssetKey(asset))
                for asset in [*LAKE_PATHS, "user_behavior_metric"]}


def test_a_range_whose_third_day_fails_a_blocking_check_leaves_dagster_and_the_data_in_agreement(platform):
    home, env, _out = platform
    days = [f"2022-01-{d}" for d in range(13, 18)]
    with psycopg.connect(embedded_dsn(home / "oltp-pgdata")) as conn:  # a negative payment on the third day
        conn.execute("INSERT INTO payment SELECT payment_id + 900000, customer_id, staff_id, rental_id, -amount, "
                     "payment_date FROM payment WHERE payment_date::date = %s LIMIT 1", (days[2],))
    result = run_cli(["run", "--from", days[0], "--to", days[-1]], env, check=False)
    assert result.returncode != 0 and "keys_and_values" in result.stdout

    recorded, published = _recorded(home), _published(home)
    assert recorded == published, "for every asset, the instance shows exactly the published partitions"
    # the days before the bad one are published and recorded; the metric of the range was not built
    assert set(days[:2]) <= recorded["user_purchase_staging"] and not set(days[2:]) & recorded["user_purchase_staging"]
    assert set(days) <= recorded["movie_review_raw"] and set(days) <= recorded["classified_movie_review"]
    assert not set(days) & recorded["user_behavior_metric"]
