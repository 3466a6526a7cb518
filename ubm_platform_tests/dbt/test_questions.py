"""The analysts' three questions (sql/dbt/models/questions), built for real by dbt on DuckDB over rentals and
reviews a test generates: their counts and shares against a computation in plain Python from the generated
rows, a planted effect found, and none found where there is none."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ubm_platform.defs.movie_review.assets import CLASSIFIED_SCHEMA
from ubm_platform.defs.pagila.assets import RENTAL_SCHEMA, SNAPSHOTS
from ubm_platform.partitions import DAILY
from ubm_platform_tests.dbt.project import run_dbt
from ubm_platform_tests.expected_questions import (
    Answers,
    Films,
    consecutive_pairs,
    expected_same,
    follow_rentals,
    genre_affinity,
    genre_transitions,
    similarity_by_activity,
)

FIRST_DAY, DAYS = dt.date(2022, 1, 1), 90
GENRES = ["Action", "Drama", "Comedy", "Horror"]
FILMS = range(1, 41)
UTC = dt.timezone.utc


def film_genres(film: int) -> set[str]:
    genres = {GENRES[(film - 1) % 4]}
    return genres | {GENRES[film % 4]} if film > 36 else genres  # films 37-40 have two genres


def film_actors(film: int) -> set[int]:
    return set() if film > 38 else {film * 7 % 25 + 1, film * 11 % 25 + 1, film * 13 % 25 + 1}


@dataclass
class Behaviour:
    """Rentals (customer, ts, rental_id, film) and reviews (review_id, customer, film, day, sentiment)."""

    rentals: list[tuple] = field(default_factory=list)
    reviews: list[tuple] = field(default_factory=list)

    def rent(self, customer: int, day: int, film: int) -> None:
        moment = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=day), dt.time(10), UTC)
        self.rentals.append((customer, moment + dt.timedelta(seconds=len(self.rentals)), len(self.rentals) + 1, film))


def behaviour(planted: bool, seed: int) -> Behaviour:
    """Planted: customers with few rentals mostly rent the same film again (more alike pairs for the less
    active), the others often stay in a genre; a positive review is followed by rentals of its genre.
    Otherwise every film is drawn at random and the sentiments are shuffled."""
    rng = random.Random(seed)
    by_genre = {g: [f for f in FILMS if g in film_genres(f)] for g in GENRES}
    out = Behaviour()
    for customer in range(1, 241):
        n, first_day = 2 + customer % 29, rng.randrange(DAYS - 31)
        film = rng.choice(FILMS)
        for i in range(n):  # a rental a day
            out.rent(customer, first_day + i, film)
            if not planted:
                film = rng.choice(FILMS)
            elif n <= 8 and rng.random() < 0.7:
                pass  # the same film again
            elif rng.random() < 0.4:
                film = rng.choice(by_genre[sorted(film_genres(film))[0]])
            else:
                film = rng.choice(FILMS)
    sentiments = ["positive", "negative", "neutral"]
    labels = [sentiments[i % 3] for i in range(300)]
    if not planted:
        rng.shuffle(labels)
    for i, sentiment in enumerate(labels):
        customer, day, film = 1001 + i, rng.randrange(DAYS - 9), rng.choice(FILMS)
        out.reviews.append((f"r{i}", customer, film, FIRST_DAY + dt.timedelta(days=day), sentiment))
        # one rental after the review: a reviewer adds no consecutive pair to the other questions
        follows_genre = planted and sentiment == "positive" and rng.random() < 0.8
        rented = rng.choice(by_genre[sorted(film_genres(film))[0]]) if follows_genre else rng.choice(FILMS)
        out.rent(customer, day + rng.randint(1, 7), rented)
    return out


def write_lake(root: Path, data: Behaviour) -> None:
    def write(folder: str, table: pa.Table) -> None:
        (root / folder).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / folder / "part-00000.parquet")

    customers = sorted({r[0] for r in data.rentals} | {r[1] for r in data.reviews})
    n = len(customers)
    write("stage/customer", pa.table({
        "customer_id": customers, "store_id": [1] * n, "first_name": ["F"] * n, "last_name": ["L"] * n,
        "email": [None] * n, "active": [True] * n, "create_date": [FIRST_DAY] * n, "address_id": customers,
        "address": ["A"] * n, "district": ["D"] * n, "postal_code": ["0"] * n, "city": ["C"] * n, "country": ["K"] * n,
    }, schema=SNAPSHOTS["customer_staging"].schema))
    write("stage/film", pa.table({
        "film_id": list(FILMS), "title": [f"F{f}" for f in FILMS], "release_year": [2000] * 40, "language": ["English"] * 40,
        "rating": ["G"] * 40, "length": [90] * 40, "rental_rate": [None] * 40, "rental_duration": [3] * 40,
        "replacement_cost": [None] * 40}, schema=SNAPSHOTS["film_staging"].schema))
    categories = [(f, g) for f in FILMS for g in sorted(film_genres(f))]
    write("stage/film_category", pa.table({"film_id": [f for f, _ in categories], "category": [g for _, g in categories]},
                                          schema=SNAPSHOTS["film_category_staging"].schema))
    actors = [(f, a) for f in FILMS for a in sorted(film_actors(f))]
    write("stage/film_actor", pa.table({"film_id": [f for f, _ in actors], "actor_id": [a for _, a in actors],
                                        "first_name": ["A"] * len(actors), "last_name": ["B"] * len(actors)},
                                       schema=SNAPSHOTS["film_actor_staging"].schema))
    for day in range(DAYS):
        date = FIRST_DAY + dt.timedelta(days=day)
        rows = [r for r in data.rentals if r[1].date() == date]
        write(f"stage/rental/insert_date={date}", pa.table({
            "rental_id": [r[2] for r in rows], "customer_id": [r[0] for r in rows], "inventory_id": [r[2] for r in rows],
            "film_id": [r[3] for r in rows], "store_id": [1] * len(rows), "staff_id": [1] * len(rows),
            "rental_ts": [r[1] for r in rows], "return_ts": [None] * len(rows)}, schema=RENTAL_SCHEMA))
        reviews = [r for r in data.reviews if r[3] == date]
        write(f"stage/classified_movie_review/insert_date={date}", pa.table({
            "cid": [r[1] for r in reviews], "review_id": [r[0] for r in reviews],
            "positive_review": [r[4] == "positive" for r in reviews], "sentiment": [r[4] for r in reviews],
            "probability": [0.9] * len(reviews), "model_version": ["m"] * len(reviews), "film_id": [r[2] for r in reviews],
        }, schema=CLASSIFIED_SCHEMA))


def build(tmp_path: Path, data: Behaviour, **settings) -> Answers:
    write_lake(tmp_path / "lake", data)
    env = {"UBM_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"), "UBM_LAKE_ROOT": str(tmp_path / "lake"),
           "UBM_PARTITION": "daily", **settings}
    window = (DAILY.window(FIRST_DAY.isoformat()), DAILY.window((FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat()))
    run = run_dbt(["build", "--select", "+tag:question", "--indirect-selection", "buildable"], tmp_path, env, window)
    assert run.returncode == 0, run.output
    return Answers(tmp_path / "warehouse.duckdb")


# -- the same answers in plain Python ------------------------------------------------------------------
CATALOGUE = Films(genres={f: frozenset(film_genres(f)) for f in FILMS}, actors={f: frozenset(film_actors(f)) for f in FILMS})


def expected_same_by_enumeration(films: list[int]) -> float:
    """The mean number of adjacent same-genre pairs over every order of `films`."""
    orders = list(itertools.permutations(films))
    return sum(sum(CATALOGUE.share_genre(a, b) for a, b in zip(o, o[1:])) for o in orders) / len(orders)


# -- the tests -----------------------------------------------------------------------------------------
def test_the_expected_share_is_the_mean_over_every_order_of_a_customers_rentals():
    rng = random.Random(3)
    for _ in range(30):
        films = [rng.choice(FILMS) for _ in range(rng.randint(2, 6))]
        assert expected_same(films, CATALOGUE) == pytest.approx(expected_same_by_enumeration(films))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    data = behaviour(planted=True, seed=11)
    return data, build(tmp_path_factory.mktemp("planted"), data)


@pytest.fixture(scope="module")
def without_effect(tmp_path_factory):
    data = behaviour(planted=False, seed=12)
    return data, build(tmp_path_factory.mktemp("without_effect"), data)


def test_genre_affinity_counts_and_finds_a_planted_affinity(planted):
    data, answers = planted
    pairs = consecutive_pairs(data.rentals)
    expected = genre_affinity(pairs, CATALOGUE)
    row = answers.one("genre_affinity")
    assert {name: row[name] for name in expected} == pytest.approx(expected)
    assert 1 < row["lift_ci_low"] < row["lift"] < row["lift_ci_high"] and row["p_value"] < 0.01
    transitions = {(r["from_category"], r["to_category"]): r["weight"] for r in answers.rows("genre_transition")}
    assert transitions == pytest.approx(genre_transitions(pairs, CATALOGUE))
    assert sum(transitions.values()) == pytest.approx(expected["consecutive_pairs"])


def test_similarity_by_activity_quartiles_and_a_planted_effect(planted):
    data, answers = planted
    expected, summary = similarity_by_activity(consecutive_pairs(data.rentals), CATALOGUE)
    rows = {r["activity_quartile"]: (r["customers"], r["min_rentals"], r["max_rentals"], r["pairs"], r["mean_similarity"])
            for r in answers.rows("similarity_by_activity")}
    assert {q: (*row[:4], pytest.approx(row[4])) for q, row in expected.items()} == rows
    assert rows[1][4] > rows[4][4]  # planted: the least active rent the most alike films
    built = answers.one("similarity_by_activity_summary")
    assert built["customers"] == summary["customers"] and built["spearman_rho"] == pytest.approx(summary["spearman_rho"])
    assert summary["spearman_rho"] < 0 and built["p_value"] < 0.01


def test_review_rental_effect_counts_and_finds_a_planted_effect(planted):
    data, answers = planted
    expected = follow_rentals(data.rentals, data.reviews, CATALOGUE)
    rows = {r["sentiment"]: [r["reviews"], r["follow_rentals"], r["same_genre_rentals"]]
            for r in answers.rows("review_rental_effect")}
    assert rows == expected
    share = {s: v[2] / v[1] for s, v in expected.items()}
    comparison = answers.one("review_rental_effect_comparison")
    assert comparison["share_difference"] == pytest.approx(share["positive"] - share["negative"])
    assert (comparison["positive_reviews"], comparison["negative_reviews"]) == (100, 100)
    assert 0 < comparison["ci_low"] < comparison["share_difference"] < comparison["ci_high"]
    assert comparison["p_value"] < 0.01


def test_without_an_effect_no_question_claims_one(without_effect):
    data, answers = without_effect
    genre = answers.one("genre_affinity")
    assert genre["lift_ci_low"] < 1 < genre["lift_ci_high"] and genre["p_value"] > 0.05
    assert answers.one("similarity_by_activity_summary")["p_value"] > 0.05
    review = answers.one("review_rental_effect_comparison")
    assert review["ci_low"] < 0 < review["ci_high"] and review["p_value"] > 0.05
    assert Counter(r["reviews"] for r in answers.rows("review_rental_effect")) == Counter({100: 3})


def test_the_window_limits_what_the_questions_look_at(tmp_path):
    data = behaviour(planted=True, seed=13)
    answers = build(tmp_path, data, UBM_QUESTION_FROM="2022-02-01", UBM_QUESTION_TO="2022-02-28")
    in_window = Behaviour(rentals=[r for r in data.rentals if dt.date(2022, 2, 1) <= r[1].date() <= dt.date(2022, 2, 28)])
    pairs = consecutive_pairs(in_window.rentals)
    assert answers.one("genre_affinity")["consecutive_pairs"] == sum(len(p) for p in pairs.values())
    reviews = sum(1 for r in data.reviews if dt.date(2022, 2, 1) <= r[3] <= dt.date(2022, 2, 28))
    assert sum(r["reviews"] for r in answers.rows("review_rental_effect")) == reviews


def test_the_permutation_deals_as_often_as_its_budget_pays_for(tmp_path):
    """A deal costs a row per customer: with a budget of 20 rows per customer the similarity permutation
    deals 20 times (fewer shuffles than deals: they are shared), and its p-value is a count of deals over 21."""
    data = behaviour(planted=False, seed=14)
    customers = sum(1 for p in consecutive_pairs(data.rentals).values() if p)
    summary = build(tmp_path, data, UBM_QUESTION_PERMUTATION_BUDGET=str(20 * customers)).one("similarity_by_activity_summary")
    assert "dealt out again at random 20 times" in summary["method"]
    assert summary["p_value"] * 21 == pytest.approx(round(summary["p_value"] * 21))
