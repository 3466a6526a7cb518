"""`ubm sql`, `ubm summary`, and how accuracies are printed: with their sample size and interval."""

from __future__ import annotations

import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ubm_platform.cli import main
from ubm_platform.defs.sentiment.assets import accuracy_text, report_metadata, wilson_interval

METRIC_ROWS = [  # customerid, amount_spent, purchase_count, review_score, review_count, insert_date
    (1, 4.99, 1, 1, 1, "2022-01-03"), (2, 0.99, 1, 0, 0, "2022-01-03"), (1, 2.99, 1, 0, 2, "2022-01-04"),
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("UBM_HOME", str(tmp_path))
    monkeypatch.delenv("UBM_ENV", raising=False)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE TABLE user_behavior_metric (customerid BIGINT, amount_spent DECIMAL(18,5), "
                     "purchase_count BIGINT, review_score BIGINT, review_count BIGINT, insert_date DATE)")
        conn.executemany("INSERT INTO user_behavior_metric VALUES (?, ?, ?, ?, ?, ?)", METRIC_ROWS)
    return tmp_path


def test_sql_command_prints_the_result_as_a_table(home, capsys):
    assert main(["sql", "-c", "SELECT insert_date, sum(review_count) AS reviews FROM user_behavior_metric "
                              "GROUP BY ALL ORDER BY 1"]) == 0
    out = capsys.readouterr().out
    assert "│ 2022-01-03  │       1 │" in out and "│ 2022-01-04  │       2 │" in out


def test_sql_prompt_reads_statements_across_lines_and_goes_on_after_an_error(home, capsys, monkeypatch):
    statements = "SELECT count(*)\n  AS n FROM user_behavior_metric;\nSELECT nope;\nSELECT 40 + 2 AS answer\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(statements))
    assert main(["sql"]) == 1  # one statement failed
    out = capsys.readouterr().out
    assert "│     3 │" in out  # the three rows
    assert "Error: Binder Error" in out and "nope" in out
    assert "│     42 │" in out  # the last statement, run at the end of input without its ';'


def test_sql_is_read_only(home, capsys):
    assert main(["sql", "-c", "DELETE FROM user_behavior_metric"]) == 1
    assert "read-only" in capsys.readouterr().out
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM user_behavior_metric").fetchone()[0] == len(METRIC_ROWS)


def test_sql_without_a_warehouse_says_how_to_build_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UBM_HOME", str(tmp_path))
    monkeypatch.delenv("UBM_ENV", raising=False)
    assert main(["sql"]) == 1
    assert "ubm run" in capsys.readouterr().out


def test_sql_on_aws_names_the_redshift_settings(monkeypatch, capsys):
    monkeypatch.setenv("UBM_ENV", "aws")
    monkeypatch.setenv("UBM_REDSHIFT_HOST", "cluster.example.internal")
    monkeypatch.setenv("UBM_REDSHIFT_PASSWORD", "not-to-be-printed")
    assert main(["sql"]) == 1
    out = capsys.readouterr().out
    assert "UBM_REDSHIFT_HOST=cluster.example.internal" in out and "public.user_behavior_metric" in out
    assert "not-to-be-printed" not in out


def test_summary_says_what_was_built_and_what_to_do_next(home, capsys):
    for day in ("2022-01-03", "2022-01-04"):
        raw = home / "lake" / "raw" / "movie_review" / f"insert_date={day}"
        raw.mkdir(parents=True)
        pq.write_table(pa.table({"cid": [1]}), raw / "part-0.parquet")
    quarantine = home / "lake" / "quarantine" / "movie_review" / "insert_date=2022-01-04"
    quarantine.mkdir(parents=True)
    pq.write_table(pa.table({"line_number": [3, 9]}), quarantine / "part-0.parquet")
    models = home / "lake" / "models" / "sentiment"
    models.mkdir(parents=True)
    (models / "current.json").write_text(json.dumps({"version": "sentiment-abc", "path": "x"}))
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "raw/movie_review               2 days, 2022-01-03 .. 2022-01-04" in out
    assert "quarantine/movie_review        1 days, 2022-01-04 .. 2022-01-04, 2 bad rows" in out
    assert "stage/user_purchase            empty" in out
    assert "current: sentiment-abc" in out
    assert f"{home / 'warehouse.duckdb'}: user_behavior_metric, 3 rows over 2 days (2022-01-03 .. 2022-01-04)" in out
    assert "http://127.0.0.1:3000" in out and ".venv/bin/ubm sql" in out
    assert "answers" not in out  # the questions are not built yet

    with duckdb.connect(str(home / "warehouse.duckdb")) as conn:
        conn.execute("CREATE TABLE genre_affinity AS SELECT 1.25 AS lift, 1.104 AS lift_ci_low, 1.396 AS lift_ci_high, "
                     "0.004 AS p_value, 812 AS consecutive_pairs")
        conn.execute("CREATE TABLE similarity_by_activity_summary AS SELECT -0.05 AS spearman_rho, 0.5 AS p_value, "
                     "300 AS customers")
        conn.execute("CREATE TABLE review_rental_effect_comparison AS SELECT 0.02 AS share_difference, -0.1 AS ci_low, "
                     "0.14 AS ci_high, 0.7 AS p_value, 50 AS positive_reviews, 40 AS negative_reviews")
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "next rental in the same genre:   lift 1.25 (95% 1.10 .. 1.40), p 0.004, 812 consecutive pairs" in out
    assert "alike rentals vs activity:       Spearman rho -0.050, p 0.500, 300 customers" in out
    assert ("same genre after positive vs negative reviews: +0.020 (95% -0.100 .. +0.140), p 0.700, "
            "50 positive / 40 negative reviews") in out


@pytest.mark.parametrize("successes, n, low, high", [
    # 95% Wilson intervals from Newcombe (1998, Statistics in Medicine 17:857) for 81/263 and 0/10, and worked
    # by hand from z = 1.96 for 10/10 and 5/10
    (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (81, 263, 0.2553, 0.3662),
])
def test_wilson_interval(successes, n, low, high):
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


def test_accuracy_is_printed_with_its_sample_size_and_small_samples_with_their_interval():
    assert accuracy_text(0.5, 10) == "0.500 on 10 reviews (95% CI 0.237-0.763)"
    assert accuracy_text(0.9, 1000) == "0.900 on 1000 reviews"


def test_model_metadata_carries_each_accuracys_sample_size_and_interval():
    labels = ["negative", "neutral", "positive"]
    per_class = {label: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 5} for label in labels}
    average = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 10}
    metadata = report_metadata({
        "accuracy_3class": 0.5, "n": 10, "accuracy_binary": 1.0, "n_binary": 10, "macro_f1_3class": 0.5,
        "per_class": per_class, "macro_avg": average, "weighted_avg": average,
        "confusion_matrix": {"labels": labels, "matrix": [[2, 2, 1], [1, 2, 2], [0, 1, 4]]},
    })
    assert (metadata["accuracy_3class_n"], metadata["accuracy_3class_ci95_low"],
            metadata["accuracy_3class_ci95_high"]) == (10, 0.2366, 0.7634)
    assert (metadata["accuracy_binary_n"], metadata["accuracy_binary_ci95_low"],
            metadata["accuracy_binary_ci95_high"]) == (10, 0.7225, 1.0)
