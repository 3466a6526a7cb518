"""The three questions (docs/analytics.md's definitions) computed in plain Python, sharing no code with the
dbt models: for the generated behaviour of ubm_platform_tests/dbt/test_questions.py and for real Pagila."""

from __future__ import annotations

import datetime as dt
import itertools
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

SENTIMENTS = ("negative", "neutral", "positive")


@dataclass
class Answers:
    """The question tables, read back from the warehouse."""

    path: Path

    def rows(self, table: str) -> list[dict]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            cursor = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def one(self, table: str) -> dict:
        [row] = self.rows(table)
        return row


@dataclass(frozen=True)
class Films:
    """Each film's genres and actors."""

    genres: dict[int, frozenset[str]]
    actors: dict[int, frozenset[int]]

    def share_genre(self, a: int, b: int) -> bool:
        return bool(self.genres.get(a, frozenset()) & self.genres.get(b, frozenset()))

    def similarity(self, a: int, b: int) -> float:
        first, second = self.actors.get(a, frozenset()), self.actors.get(b, frozenset())
        union = first | second
        jaccard = len(first & second) / len(union) if union else 0.0
        return 0.5 * self.share_genre(a, b) + 0.5 * jaccard


def consecutive_pairs(rentals: list[tuple]) -> dict[int, list[tuple[int, int]]]:
    """rentals (customer, ts, rental_id, film) -> each customer's consecutive (film, next film) pairs."""
    by_customer = defaultdict(list)
    for customer, _moment, _rental_id, film in sorted(rentals, key=lambda r: (r[0], r[1], r[2])):
        by_customer[customer].append(film)
    return {c: list(zip(films, films[1:])) for c, films in by_customer.items()}


def expected_same(films: list[int], catalogue: Films) -> float:
    """The mean number of adjacent same-genre pairs over every order of `films`: each of the n - 1 adjacent
    pairs is a uniformly random pair of them."""
    pairs = list(itertools.combinations(films, 2))
    return (len(films) - 1) * sum(catalogue.share_genre(a, b) for a, b in pairs) / len(pairs)


def genre_affinity(pairs: dict[int, list[tuple[int, int]]], catalogue: Films) -> dict:
    n_pairs = sum(len(p) for p in pairs.values())
    same = sum(catalogue.share_genre(a, b) for p in pairs.values() for a, b in p)
    expected = sum(expected_same([a for a, _ in p] + [p[-1][1]], catalogue) for p in pairs.values() if p)
    return {"consecutive_pairs": n_pairs, "same_genre_pairs": same, "observed_share": same / n_pairs,
            "expected_share": expected / n_pairs, "lift": same / expected}


def genre_transitions(pairs: dict[int, list[tuple[int, int]]], catalogue: Films) -> dict[tuple[str, str], float]:
    weights = defaultdict(float)
    for p in pairs.values():
        for a, b in p:
            first, second = catalogue.genres.get(a) or {"(none)"}, catalogue.genres.get(b) or {"(none)"}
            for pair in itertools.product(first, second):
                weights[pair] += 1 / (len(first) * len(second))
    return dict(weights)


def average_ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return sxy / (sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y)) ** 0.5


def similarity_by_activity(pairs: dict[int, list[tuple[int, int]]], catalogue: Films) -> tuple[dict, dict]:
    """(quartile -> (customers, min_rentals, max_rentals, pairs, mean_similarity), the summary's
    spearman_rho and customers), over the customers with at least two rentals."""
    activity = {c: len(p) + 1 for c, p in pairs.items() if p}
    ordered = sorted(activity, key=lambda c: (activity[c], c))
    sizes = [len(ordered) // 4 + (q < len(ordered) % 4) for q in range(4)]  # NTILE(4)
    quartile, start = {}, 0
    for q, size in enumerate(sizes, start=1):
        quartile.update({c: q for c in ordered[start:start + size]})
        start += size
    rows = {}
    for q in range(1, 5):
        members = [c for c in ordered if quartile[c] == q]
        similarities = [catalogue.similarity(a, b) for c in members for a, b in pairs[c]]
        rows[q] = (len(members), min(activity[c] for c in members), max(activity[c] for c in members),
                   len(similarities), sum(similarities) / len(similarities))
    means = {c: round(sum(catalogue.similarity(a, b) for a, b in pairs[c]) / len(pairs[c]), 12) for c in ordered}
    rho = pearson(average_ranks([activity[c] for c in ordered]), average_ranks([means[c] for c in ordered]))
    return rows, {"spearman_rho": rho, "customers": len(ordered)}


def follow_rentals(rentals: list[tuple], reviews: list[tuple], catalogue: Films) -> dict[str, list[int]]:
    """reviews (review_id, customer, film, day, sentiment) of films -> sentiment -> [reviews, follow rentals
    (the reviewer's rentals 1 to 7 UTC days after the review's day), same-genre follow rentals]."""
    days = defaultdict(list)
    for customer, moment, _rental_id, film in rentals:
        days[customer].append((moment.astimezone(dt.timezone.utc).date(), film))
    for rented in days.values():
        rented.sort()
    result = {s: [0, 0, 0] for s in SENTIMENTS}
    for _id, customer, film, day, sentiment in reviews:
        if film is None:
            continue
        result[sentiment][0] += 1
        rented = days.get(customer, [])
        dates = [d for d, _ in rented]
        for _day, other in rented[bisect_left(dates, day + dt.timedelta(days=1)):
                                  bisect_right(dates, day + dt.timedelta(days=7))]:
            result[sentiment][1] += 1
            result[sentiment][2] += catalogue.share_genre(film, other)
    return result
