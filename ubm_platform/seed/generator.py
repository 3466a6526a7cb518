"""`ubm seed`: deterministic sample sources in the Pagila schema, plus the vendor's daily review files.

At --scale 1 the OLTP data is about Pagila's size (599 customers, 1,000 films, 16 categories,
~16,000 rentals and payments over ~6 months); --scale N multiplies customers and rentals. Rows are
generated and loaded day by day with COPY, so memory does not grow with the scale.

For a dimensional model there are also Pagila's geography (109 countries, 600 cities, an address for
each customer plus Pagila's 4 for stores and staff), its 6 languages, 200 actors and film_actor (1 to
10 actors a film, a few films with none). They draw from their own random streams, so adding them left
the other tables and the review files as a given seed made them before.

Like a real vendor's, the review files hold a few bad rows (`spoil`), so the quarantine and its checks
have something to show.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from ubm_platform import sql_files
from ubm_platform.partitions import DAILY, Granularity
from ubm_platform.seed.reviews import make_reviews

CATEGORIES = [
    "Action", "Animation", "Children", "Classics", "Comedy", "Documentary", "Drama", "Family",
    "Foreign", "Games", "Horror", "Music", "New", "Sci-Fi", "Sports", "Travel",
]
TITLE_WORDS = (
    "academy ace adaptation affair african agent airplane airport alabama aladdin alamo alaska ali alice "
    "alien alley alone amadeus amelie american analyze anaconda angels annie anthem antitrust anything "
    "apache apocalypse apollo arabia arachnophobia argonauts arizona armageddon army arsenic artist "
    "attacks attraction austin autumn baby backlash badman baked ballroom bang banger barbarella "
    "bear beast beauty bed bedazzled beethoven behavior bengal berets betrayed beverly bikini bilko "
    "bird birds blackout blade blanket blindness blood blues boiled bonnie boogie bound bowfinger "
    "brannigan braveheart breakfast bride bringing brooklyn brotherhood bubble bucket bugsy bull "
    "bulworth bunch butch cabin caddyshack california camelot campus candidate candles canyon "
    "caper caribbean carol carrie casablanca casper cat catch cause celebrity center chainsaw "
    "chamber chaplin chariots chasing chicago chicken chill chinatown chisum chitty christmas cider"
).split()
COUNTRIES = (  # Pagila's 109, with today's names
    "Afghanistan; Algeria; American Samoa; Angola; Anguilla; Argentina; Armenia; Australia; Austria; Azerbaijan; "
    "Bahrain; Bangladesh; Belarus; Bolivia; Brazil; Brunei; Bulgaria; Cambodia; Cameroon; Canada; Chad; Chile; "
    "China; Colombia; Democratic Republic of the Congo; Czech Republic; Dominican Republic; Ecuador; Egypt; "
    "Estonia; Ethiopia; Faroe Islands; Finland; France; French Guiana; French Polynesia; Gambia; Germany; Greece; "
    "Greenland; Vatican City; Hong Kong; Hungary; India; Indonesia; Iran; Iraq; Israel; Italy; Japan; Kazakhstan; "
    "Kenya; Kuwait; Latvia; Liechtenstein; Lithuania; Madagascar; Malawi; Malaysia; Mexico; Moldova; Morocco; "
    "Mozambique; Myanmar; Nauru; Nepal; Netherlands; New Zealand; Nigeria; North Korea; Oman; Pakistan; Paraguay; "
    "Peru; Philippines; Poland; Puerto Rico; Romania; Reunion; Russian Federation; "
    "Saint Vincent and the Grenadines; Saudi Arabia; Senegal; Slovakia; South Africa; South Korea; Spain; "
    "Sri Lanka; Sudan; Sweden; Switzerland; Taiwan; Tanzania; Thailand; Tonga; Tunisia; Turkey; Turkmenistan; "
    "Tuvalu; Ukraine; United Arab Emirates; United Kingdom; United States; Venezuela; Vietnam; "
    "U.S. Virgin Islands; Yemen; Serbia; Zambia"
).split("; ")
N_CITIES = 600
# Made-up place names, one start and one ending each: 30 x 25 distinct ones, enough for the cities
PLACE_STARTS = (
    "Al Bel Cor Dun El Fal Gran Hal Is Jor Kal Lin Mar Nor Or Pal Quin Ros San Tor Ul Val Wes Yar Zan "
    "Ash Brig Cam Dor Ev"
).split()
PLACE_ENDINGS = (
    "a ada ang berg bury dale field ford grad ham haven ia ington mouth pur stad ton ville wick polis "
    "abad enza oro sk chester"
).split()
STREET_KINDS = ["Street", "Avenue", "Drive", "Lane", "Way", "Boulevard", "Road", "Parkway", "Manor", "Place"]
LANGUAGES = ["English", "Italian", "Japanese", "Mandarin", "French", "German"]  # Pagila's; every film is in English
N_ACTORS = 200
ACTOR_FIRST_NAMES = (
    "PENELOPE NICK ED JENNIFER JOHNNY BETTE GRACE MATTHEW JOE CHRISTIAN ZERO KARL UMA VIVIEN CUBA FRED HELEN DAN "
    "BOB LUCILLE KIRSTEN ELVIS SANDRA CAMERON KEVIN RIP JULIA WOODY ALEC SISSY TIM MILLA AUDREY JUDY BURT VAL"
).split()
ACTOR_LAST_NAMES = (
    "GUINESS WAHLBERG CHASE DAVIS LOLLOBRIGIDA NICHOLSON MOSTEL JOHANSSON SWANK GABLE CAGE BERRY HOOD TORN TRACY "
    "PALTROW VOIGHT BALE WOOD DEGENERES HOPPER STREEP DUKAKIS BLOOM PECK KILMER DEPP MONROE HACKMAN WILLIS"
).split()
FILMS_WITHOUT_ACTORS = 3  # as in Pagila
RATINGS = ["G", "PG", "PG-13", "R", "NC-17"]
REVIEW_COLUMNS = ["review_id", "cid", "film_id", "score", "review_str"]
RENTALS_PER_CUSTOMER = 16044 / 599  # Pagila's ratio over its ~6 months
BAD_ROW_SHARE = 0.02  # each row is spoiled with this chance (about 1.5% of all rows, with the cap)...
MIN_ROWS_PER_BAD_ROW = 21  # ...but never more than 1 in 21 of a file's rows, under the quarantine_share check's 5%


def _bad_cid(rng: np.random.Generator, row: list) -> list[list]:
    return [[row[0], ["", f"C-{row[1]}", f"{row[1]}.0"][rng.integers(3)], *row[2:]]]


def _empty_review(rng: np.random.Generator, row: list) -> list[list]:
    return [[*row[:4], ""]]


def _bad_score(rng: np.random.Generator, row: list) -> list[list]:
    return [[*row[:3], ["4.5", "10", "five"][rng.integers(3)], row[4]]]


def _missing_field(rng: np.random.Generator, row: list) -> list[list]:
    return [[row[0], row[1], *row[3:]]]  # film_id left out


def _duplicate(rng: np.random.Generator, row: list) -> list[list]:
    return [row, list(row)]  # sent twice: the first one counts


SPOILERS = [_bad_cid, _empty_review, _bad_score, _missing_field, _duplicate]


def spoil(rng: np.random.Generator, rows: list[list]) -> tuple[list[list], int]:
    """(the rows of one vendor file with some of them spoiled the ways vendors spoil rows, how many bad rows)."""
    n_bad = min(int(rng.binomial(len(rows), BAD_ROW_SHARE)), len(rows) // MIN_ROWS_PER_BAD_ROW)
    spoiled = dict.fromkeys(rng.choice(len(rows), n_bad, replace=False).tolist()) if n_bad else {}
    for index in spoiled:
        spoiled[index] = SPOILERS[rng.integers(len(SPOILERS))](rng, rows[index])
    return [out for i, row in enumerate(rows) for out in spoiled.get(i, [row])], n_bad


def _place_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice([start + ending for start in PLACE_STARTS for ending in PLACE_ENDINGS], n, replace=False)


def _load_places(conn: psycopg.Connection, rng: np.random.Generator, n_addresses: int) -> None:
    """country, city and address 1..n_addresses, each address in a city, each city in a country."""
    country_ids = np.arange(1, len(COUNTRIES) + 1)
    _copy(conn, "country", pa.table({"country_id": country_ids, "country": COUNTRIES}))
    # Every country has a city, a few have many (India and China have 60 and 53 in Pagila).
    weight = rng.gamma(0.7, 1.0, len(country_ids))
    extra = rng.choice(country_ids, N_CITIES - len(country_ids), p=weight / weight.sum())
    _copy(conn, "city", pa.table({
        "city_id": np.arange(1, N_CITIES + 1), "city": _place_names(rng, N_CITIES),
        "country_id": rng.permutation(np.concatenate([country_ids, extra])),
    }))
    city_district = rng.choice(_place_names(rng, N_CITIES // 3), N_CITIES)  # a city is in one district
    city_ids = rng.integers(1, N_CITIES + 1, n_addresses)
    _copy(conn, "address", pa.table({
        "address_id": np.arange(1, n_addresses + 1),
        "address": [f"{number} {street.title()} {kind}" for number, street, kind in zip(
            rng.integers(1, 2000, n_addresses), rng.choice(TITLE_WORDS, n_addresses),
            rng.choice(STREET_KINDS, n_addresses))],
        "district": city_district[city_ids - 1],
        "city_id": city_ids,
        "postal_code": [f"{code:05d}" for code in rng.integers(0, 100_000, n_addresses)],
        "phone": rng.integers(10**9, 10**12, n_addresses).astype(str),
    }))


def _load_cast(conn: psycopg.Connection, rng: np.random.Generator, film_ids: np.ndarray) -> None:
    """language, actor and film_actor."""
    _copy(conn, "language", pa.table({"language_id": np.arange(1, len(LANGUAGES) + 1), "name": LANGUAGES}))
    _copy(conn, "actor", pa.table({
        "actor_id": np.arange(1, N_ACTORS + 1), "first_name": rng.choice(ACTOR_FIRST_NAMES, N_ACTORS),
        "last_name": rng.choice(ACTOR_LAST_NAMES, N_ACTORS),
    }))
    cast_size = 1 + rng.binomial(9, 0.5, len(film_ids))  # 1..10, mean 5.5: Pagila's 5,462 for 1,000 films
    cast_size[rng.choice(len(film_ids), FILMS_WITHOUT_ACTORS, replace=False)] = 0
    ranked = rng.random((len(film_ids), N_ACTORS)).argsort(axis=1)  # each film's own order of the actors
    in_cast = np.arange(N_ACTORS) < cast_size[:, None]  # take the first cast_size of them: no actor twice
    _copy(conn, "film_actor", pa.table({"actor_id": ranked[in_cast] + 1, "film_id": film_ids[in_cast.nonzero()[0]]}))


@dataclass
class SeedSummary:
    customers: int = 0
    addresses: int = 0
    films: int = 0
    categories: int = 0
    actors: int = 0
    inventory: int = 0
    rentals: int = 0
    payments: int = 0
    reviews: int = 0
    bad_review_rows: int = 0  # of `reviews`, spoiled in the vendor's files
    days: list[str] = field(default_factory=list)


def review_file_path(landing: str | Path, partition_key: str, partitioning: Granularity = DAILY) -> Path:
    """Where the vendor drops a partition's file: <landing>/movie_review/<YYYY-MM-DD>[/<HH>]/movie_review.csv."""
    return Path(landing) / "movie_review" / partitioning.window(partition_key).landing_folder / "movie_review.csv"


def _copy(conn: psycopg.Connection, table: str, data: pa.Table) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False))
    columns = ", ".join(data.column_names)
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def seed(
    conn: psycopg.Connection,
    landing: str | Path,
    start: dt.date,
    end: dt.date,
    scale: float = 1.0,
    random_seed: int = 42,
    progress: Callable[[str], None] = lambda _msg: None,
    partitioning: Granularity = DAILY,
) -> SeedSummary:
    """Replace the OLTP tables with generated data for [start, end] and write the review files,
    one per partition (a day, or each hour of it with hourly partitioning: a review goes to the
    hour its rental started)."""
    if end < start:
        raise ValueError(f"seed range is empty: {start} > {end}")
    rng = np.random.default_rng(random_seed)
    spoil_rng = np.random.default_rng([random_seed, 1])  # its own stream: the good rows stay as they were
    # The tables added later have their own streams too (one each, so the cast does not depend on the
    # scale): drawing from rng would have changed every row generated after them.
    places_rng, cast_rng = np.random.default_rng([random_seed, 2]), np.random.default_rng([random_seed, 3])
    summary = SeedSummary()
    conn.execute(sql_files.load("seed/pagila_subset_schema.sql"))

    n_customers = max(1, round(599 * scale))
    customer_ids = np.arange(1, n_customers + 1)
    first = rng.choice(["MARY", "PATRICIA", "LINDA", "BARBARA", "JOHN", "ROBERT", "MICHAEL", "DAVID"], n_customers)
    last = rng.choice(["SMITH", "JOHNSON", "WILLIAMS", "JONES", "BROWN", "DAVIS", "MILLER", "WILSON"], n_customers)
    _copy(conn, "customer", pa.table({
        "customer_id": customer_ids,
        "store_id": rng.integers(1, 3, n_customers),
        "first_name": first,
        "last_name": last,
        "email": [f"{f.lower()}.{l.lower()}.{i}@example.org" for i, f, l in zip(customer_ids, first, last)],
        "address_id": customer_ids + 4,
        "active": np.ones(n_customers, dtype=np.int64),
    }))
    summary.customers = n_customers
    n_addresses = n_customers + 4  # Pagila's first 4 are the stores' and the staff's
    _load_places(conn, places_rng, n_addresses)
    summary.addresses = n_addresses
    progress(f"customers: {n_customers}, addresses: {n_addresses} in {N_CITIES} cities of {len(COUNTRIES)} countries")

    _copy(conn, "category", pa.table({"category_id": np.arange(1, 17), "name": CATEGORIES}))
    summary.categories = len(CATEGORIES)

    n_films = 1000
    film_ids = np.arange(1, n_films + 1)
    words = np.array(TITLE_WORDS)
    titles = [f"{a} {b}".upper() for a, b in zip(rng.choice(words, n_films), rng.choice(words, n_films))]
    rental_rate = rng.choice([0.99, 2.99, 4.99], n_films)
    rental_duration = rng.integers(3, 8, n_films)
    _copy(conn, "film", pa.table({
        "film_id": film_ids, "title": titles, "release_year": rng.integers(1990, 2022, n_films),
        "language_id": np.ones(n_films, dtype=np.int64), "rental_duration": rental_duration,
        "rental_rate": rental_rate, "length": rng.integers(46, 186, n_films),
        "replacement_cost": rng.choice([9.99, 14.99, 19.99, 24.99, 29.99], n_films),
        "rating": cast_rng.choice(RATINGS, n_films),
    }))
    summary.films = n_films
    _load_cast(conn, cast_rng, film_ids)
    summary.actors = N_ACTORS

    fc_film, fc_cat = [], []
    for film_id in film_ids:  # one to three categories a film, as in Pagila
        cats = rng.choice(np.arange(1, 17), size=rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]), replace=False)
        fc_film.extend([film_id] * len(cats))
        fc_cat.extend(cats.tolist())
    _copy(conn, "film_category", pa.table({"film_id": fc_film, "category_id": fc_cat}))

    copies = rng.poisson(4.8, n_films)
    copies[rng.choice(n_films, 42, replace=False)] = 0  # some films are never stocked
    inventory_film = np.repeat(film_ids, copies)
    n_inventory = len(inventory_film)
    _copy(conn, "inventory", pa.table({
        "inventory_id": np.arange(1, n_inventory + 1), "film_id": inventory_film,
        "store_id": rng.integers(1, 3, n_inventory),
    }))
    summary.inventory = n_inventory
    progress(f"films: {n_films}, categories: 16, actors: {N_ACTORS}, inventory: {n_inventory}")

    n_days = (end - start).days + 1
    per_day = RENTALS_PER_CUSTOMER * n_customers / 181  # Pagila: ~16,000 rentals over ~181 days
    activity = rng.gamma(2.0, 1.0, n_customers)
    activity /= activity.sum()
    next_rental_id, next_payment_id = 1, 1
    for offset in range(n_days):
        day = start + dt.timedelta(days=offset)
        weekend = 1.3 if day.weekday() >= 4 else 0.87
        n = int(rng.poisson(per_day * weekend))
        rental_ids = np.arange(next_rental_id, next_rental_id + n)
        next_rental_id += n
        customers = rng.choice(customer_ids, n, p=activity)
        inventory_idx = rng.integers(0, n_inventory, n)
        films = inventory_film[inventory_idx] - 1
        rental_ts = np.datetime64(day.isoformat(), "us") + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]")
        days_out = rng.integers(1, 10, n)
        return_ts = rental_ts + (days_out * 86_400_000_000 + rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]")
        returned = return_ts < np.datetime64((end + dt.timedelta(days=1)).isoformat(), "us")
        _copy(conn, "rental", pa.table({
            "rental_id": rental_ids,
            "rental_date": pa.array(rental_ts, pa.timestamp("us", tz="UTC")),
            "inventory_id": inventory_idx + 1,
            "customer_id": customers,
            "return_date": pa.array(np.where(returned, return_ts, np.datetime64("NaT")), pa.timestamp("us", tz="UTC")),
            "staff_id": rng.integers(1, 3, n),
        }))

        late_days = np.maximum(0, days_out - rental_duration[films])
        amount = np.round(rental_rate[films] + late_days * 1.0, 2)
        amount[rng.random(n) < 0.0015] = 0.0  # free rentals exist in Pagila too
        pay_ts = rental_ts + rng.integers(0, 3 * 3_600_000_000, n).astype("timedelta64[us]")
        extra = rng.random(n) < 0.002  # a rental paid in two payments
        pay_rental = np.concatenate([rental_ids, rental_ids[extra]])
        pay_customer = np.concatenate([customers, customers[extra]])
        pay_amount = np.concatenate([amount, np.full(extra.sum(), 1.0)])
        pay_date = np.concatenate([pay_ts, pay_ts[extra] + np.timedelta64(3_600_000_000, "us")])
        m = len(pay_rental)
        _copy(conn, "payment", pa.table({
            "payment_id": np.arange(next_payment_id, next_payment_id + m),
            "customer_id": pay_customer,
            "staff_id": rng.integers(1, 3, m),
            "rental_id": pay_rental,
            "amount": pay_amount,
            "payment_date": pa.array(pay_date, pa.timestamp("us", tz="UTC")),
        }))
        next_payment_id += m

        reviewed = rng.random(n) < 0.3
        texts, scores = make_reviews(rng, [titles[f] for f in films[reviewed]], int(reviewed.sum()))
        with_score = rng.random(len(texts)) < 0.6  # the vendor scores only some rows
        windows = [partitioning.window(key) for key in partitioning.keys_between(day, day)]
        hours = (rental_ts[reviewed] - np.datetime64(day.isoformat(), "us")) // np.timedelta64(1, "h")
        review_window = hours.astype(int) * len(windows) // 24  # index into windows: 0 when daily
        rows: list[list[list]] = [[] for _ in windows]
        for i, (cid, film, text, score, scored, slot) in enumerate(
            zip(customers[reviewed], films[reviewed] + 1, texts, scores, with_score, review_window)
        ):
            rows[slot].append([f"{day:%Y%m%d}-{i:05d}", int(cid), int(film), int(score) if scored else "", text])
        for window, window_rows in zip(windows, rows):
            path = review_file_path(landing, window.key, partitioning)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(REVIEW_COLUMNS)
                written, bad = spoil(spoil_rng, window_rows)
                writer.writerows(written)
            summary.bad_review_rows += bad
        conn.commit()
        summary.rentals += n
        summary.payments += m
        summary.reviews += len(texts)
        summary.days.append(day.isoformat())
        if offset % 30 == 0 or offset == n_days - 1:
            progress(f"{day}: {summary.rentals} rentals, {summary.payments} payments, {summary.reviews} reviews so far")

    conn.execute(sql_files.load("seed/pagila_subset_indexes.sql"))
    conn.commit()
    return summary
