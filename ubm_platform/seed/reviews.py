"""Deterministic, realistic-looking customer reviews with a known sentiment score.

Each review is built from phrases whose sentiment is known, so the vendor's `score` column is
truthful for the rows that carry one. Texts mix the signals real reviews mix: negation ("not bad"),
contrast ("... but ..."), and neutral filler.
"""

from __future__ import annotations

import numpy as np

POSITIVE = [
    "a delight from start to finish", "beautifully shot and wonderfully acted", "funny and touching",
    "one of the best films this year", "a gripping story with a great cast", "moving and memorable",
    "smart, charming and genuinely entertaining", "the kids loved it", "an absolute classic",
    "brilliant performances all around", "a joy to watch", "clever writing and a superb score",
]
NEGATIVE = [
    "a dull and tedious mess", "badly acted and poorly written", "a waste of two hours",
    "boring from the first scene", "the plot makes no sense", "painfully slow and predictable",
    "one of the worst films I have rented", "the dialogue is awful", "a lazy, forgettable sequel",
    "I wanted my money back", "clumsy and overlong", "the ending ruined it",
]
NEUTRAL = [
    "it was fine for a rainy evening", "some good moments, some slow ones", "about what I expected",
    "average, nothing special", "worth a look if you like the genre", "neither great nor terrible",
    "the first half is better than the second", "ok but forgettable", "decent enough to finish",
]
NEGATED_POSITIVE = ["not good at all", "not funny, not clever", "never as exciting as it thinks"]
NEGATED_NEGATIVE = ["not bad at all", "never boring", "not as slow as people say"]
OPENERS = ["", "Honestly, ", "Well, ", "In short: ", "My take: ", "Rented it on Friday - "]


def make_reviews(rng: np.random.Generator, titles: list[str], n: int) -> tuple[list[str], np.ndarray]:
    """n review texts and their 1-5 scores, one per title given."""
    scores = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.14, 0.2, 0.2, 0.26, 0.2])
    texts = []
    for title, score in zip(titles, scores):
        if score >= 4:
            main, twist = POSITIVE, NEGATED_NEGATIVE
        elif score <= 2:
            main, twist = NEGATIVE, NEGATED_POSITIVE
        else:
            main, twist = NEUTRAL, NEUTRAL
        parts = [main[rng.integers(len(main))]]
        if rng.random() < 0.35:
            parts.append(twist[rng.integers(len(twist))])
        if score in (1, 5) and rng.random() < 0.5:
            parts.append(main[rng.integers(len(main))])
        opener = OPENERS[rng.integers(len(OPENERS))]
        text = f"{opener}{title.title()}: " + ", and ".join(parts) + "."
        texts.append(text[0].upper() + text[1:])
    return texts, scores
