"""Generate a realistic, deterministic SQLite database of Amazon musical-instrument reviews.

The output has the shape of the 2018 "Musical Instruments 5-core" file at its default size:
231,392 reviews of 10,620 products by 27,530 reviewers, every product with at least 5
reviews and every reviewer with at least 3, dates from 2003-10-28 to 2018-09-28, ratings
skewed to five stars, sparse heavy-tailed helpful votes. The table comes from
migrations/sqlite/schema.sql and the indexes from migrations/sqlite/indexes.sql, so the
generator can never drift from the schema the service reads.

Design
------
Streaming. Rows are generated and inserted in fixed-size batches (numpy-vectorised per
batch, one executemany each), so memory is O(products + reviewers), never O(rows): 10M rows
build in the same memory as 231k. Only small per-product and per-reviewer arrays live for
the whole run.

Exact counts without an N-sized array. Per-product and per-reviewer review counts are
drawn up front (heavy-tailed, floors of 5 and 3, each summing exactly to N). Rows are
emitted in productID order, product p owning c_p consecutive rows, like the real file
sorted by asin, so a row's product is a searchsorted into the cumulative product counts.
Reviewers must be spread across products instead, so each row j is mapped to a "reviewer
slot" s by the bijection  s = (j - offset) * step^-1 mod N  with gcd(step, N) = 1. Slots
are handed out to reviewers in consecutive runs (searchsorted into the cumulative reviewer
counts), so every reviewer gets exactly its count. Seen from a reviewer, its rows are
j = offset + step * s mod N for consecutive s: with step close to N / golden ratio those
rows land far apart, so a reviewer's reviews spread over many products (the golden ratio
keeps the multiples of step evenly spread, which minimises repeat reviews of one product).

Determinism. Every random draw comes from numpy's default_rng, seeded from --seed for the
setup and from (seed, batch number) for each batch, with a fixed batch size: the same seed
and size give identical row content. Per-day date labels are precomputed, so reviewTime and
unixReviewTime (UTC midnight) can never disagree.

Safety. The database is built in a temporary file next to the output and moved into place
with os.replace, so an interrupted run never leaves a half-written database; an existing
output is only replaced with --force.

Usage: python scripts/generate_dev_data.py [--rows 231k] [--seed N] [--output PATH] [--force]
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from math import gcd
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_SQL = REPO_ROOT / "migrations" / "sqlite" / "schema.sql"
INDEXES_SQL = REPO_ROOT / "migrations" / "sqlite" / "indexes.sql"
DEFAULT_OUTPUT = REPO_ROOT / "data" / "musical_instrument_reviews.sqlite"
DEFAULT_SEED = 20180928

# The real 2018 "Musical Instruments 5-core" data, which the default size reproduces.
REAL_ROWS = 231_392
REAL_PRODUCTS = 10_620
REAL_REVIEWERS = 27_530
MIN_REVIEWS_PER_PRODUCT = 5
MIN_REVIEWS_PER_REVIEWER = 3
MAX_REVIEWS_PER_REVIEWER = 264  # a person's output does not grow with the data set
FIRST_DAY = date(2003, 10, 28)
LAST_DAY = date(2018, 9, 28)
SPAN_DAYS = (LAST_DAY - FIRST_DAY).days
FIRST_DAY_EPOCH = (FIRST_DAY - date(1970, 1, 1)).days
SECONDS_PER_DAY = 86_400

# Tail shapes of the Lomax (Pareto II) count distributions, tuned to the real data:
# reviewers 3.6 gives median 6 and a top of 264 at the default size; products 2.0 gives a
# median near 12 and a top product of a few thousand reviews.
REVIEWER_TAIL_SHAPE = 3.6
PRODUCT_TAIL_SHAPE = 2.0

# Rows per executemany. Part of the determinism contract: the per-batch generators are
# seeded by batch number, so changing it changes the content for a given seed.
BATCH_ROWS = 50_000
MAX_ROWS = 2**31 - 1  # row * slot_multiplier < rows**2 must fit in an int64
GOLDEN_RATIO = (1 + 5**0.5) / 2

STAR_SHARES = np.array([0.055, 0.035, 0.07, 0.16, 0.68])  # 1* .. 5*
PRODUCT_QUALITY_SPREAD = 0.35  # per-product tilt of the rating odds, so products differ
VOTE_TAIL_SHAPE = 1.3  # Pareto: mostly 2..20, some hundreds, a handful over 1,000
MIN_VOTE = 2  # the source only records a vote count from 2 up
MAX_VOTE = 9_999
NULL_NAME_SHARE = 0.0001
NULL_TEXT_SHARE = 0.0002
NULL_SUMMARY_SHARE = 0.0002
ALTERNATE_NAME_REVIEWER_SHARE = 0.05
ALTERNATE_NAME_ROW_SHARE = 0.35
AMAZON_CUSTOMER_SHARE = 0.07

ID_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
# Real ASINs are mostly B00..., some B01...B07: the third character is drawn from this.
ASIN_THIRD_CHARACTERS = np.frombuffer(b"00000000011234567", dtype=np.uint8)
ISBN_PRODUCT_SHARE = 0.06  # books and sheet music carry ISBN-10s instead of ASINs

INSERT_ROW = (
    'INSERT INTO "reviews" ("index", "overall", "verified", "reviewTime", "reviewerID",'
    ' "productID", "reviewerName", "reviewText", "summary", "unixReviewTime", "vote")'
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# --- Word lists --------------------------------------------------------------------------
# Short plausible text; sentiment follows the rating. Quotes, apostrophes and a little
# unicode are there on purpose, so consumers get exercised on them.

FIRST_NAMES = (  # noqa: SIM905 - a word list reads best as prose
    "John Mike David Chris James Robert Mark Steve Paul Brian Jennifer Sarah Lisa Karen Emily "
    "Jessica Tom Dan Kevin Jeff Rick Gary Joe Bill Scott Eric Greg Linda Susan Amy José Zoë "
    "Björn Renée André Chloé Jürgen François Dmitri Aiko Raj Wei Carlos Ana Liam Noah Olivia "
    "Mia Hank Earl"
).split()
LAST_NAMES = (  # noqa: SIM905 - as above
    "Smith Johnson Williams Brown Jones Miller Davis Garcia Wilson Anderson Taylor Thomas Moore "
    "Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright "
    "Scott Hill Green Adams O'Brien O'Neil Müller Peña Nuñez Dubois Schröder Kowalski Nakamura "
    "Patel Chen Kim Nguyen Rossi Novak"
).split()
HANDLES = (
    "Amazon Customer",
    "Kindle Customer",
    "Guitar Guy",
    "guitarguy77",
    "BassMan",
    "Drummer Dave",
    "Music Lover",
    "Uke Enthusiast",
    "Old Rocker",
    "Sound Engineer",
    "Weekend Warrior",
    "Studio Rat",
    "mom of 3",
    "Hobbyist",
    "Piano Teacher",
    "Church Musician",
    "Tone Chaser ♪",
    'Dave "Strings" Miller',
    "Ol' Blues Man",
    "shredder_99",
)

OPENERS = {
    "positive": (
        "Great strings for the price.",
        "These sound fantastic on my acoustic.",
        "Works exactly as described.",
        "Excellent cable, no hum at all.",
        "My son's first guitar and he loves it.",
        "Best capo I've owned.",
        "Solid build and easy to set up.",
        "The tuner is accurate and easy to read.",
        "I've been playing for 20 years and these are my go-to strings.",
        "Bought this for my daughter's ukulele.",
        "Sturdy stand, holds my bass without wobbling.",
        "Bright, clear tone right out of the package.",
        "Arrived quickly and well packaged.",
        "Good value.",
        "Does what it's supposed to do.",
        "Love it!",
        "Perfect for gigging.",
        'Finally a pedal that\'s truly "true bypass."',
        "Nice picks, good grip.",
        "Stays in tune much better than the stock strings.",
    ),
    "mixed": (
        "It's okay for the price.",
        "Decent, but not great.",
        "Works, but the build quality is so-so.",
        "The tone is a bit muddy.",
        "Does the job, nothing special.",
        "Strings sounded good for about two weeks.",
        "Had to adjust it out of the box.",
        "Not as bright as I'd hoped.",
        "Fine for practice, not for the stage.",
        "It's a little flimsy but it holds up.",
    ),
    "negative": (
        "Broke after a week.",
        "Arrived damaged.",
        "Cheap plastic, returned it.",
        "The cable crackles when you move it.",
        "Doesn't hold tune at all.",
        "Would not recommend.",
        "Way too noisy for recording.",
        "Not as described.",
        "The strap button came loose the first day.",
        'Stopped working after a month of "light" use.',
    ),
}
MIDDLES = {
    "positive": (
        "",
        "",
        " The finish looks nice too.",
        " I use it with my Fender Blues Jr.",
        " Sounds great through my Vox AC15 ♪",
        " Pairs nicely with my Martin D-28.",
        " Shipping was fast.",
        " My teacher recommended them.",
        " Über-solid construction.",
        " Used it at a café gig last weekend.",
        " The 12-foot length is plenty.",
        " Feels smooth under the fingers.",
    ),
    "mixed": (
        "",
        " The instructions were useless.",
        " You get what you pay for.",
        " The case smelled like chemicals for a week.",
        " It's fine for a beginner.",
        ' I expected a bit more for a "pro" model.',
    ),
    "negative": (
        "",
        " The seller never answered my emails.",
        " The packaging was fine, the product wasn't.",
        " Tried two of them, same problem.",
        " Quality control is nonexistent.",
    ),
}
CLOSERS = {
    "positive": ("", "", " Highly recommend!", " Will buy again.", " ♪♪♪", " Five stars."),
    "mixed": ("", "", " Maybe I got a bad one.", " Three stars."),
    "negative": ("", " Returning it.", " Save your money.", " Très déçu."),
}
SUMMARIES = {
    5: ("Five Stars",) * 8
    + (
        "Great strings",
        "Love it",
        "Excellent",
        "Works great",
        "Great value",
        "Perfect",
        "Awesome!",
        "Best strings ever",
        "Great product",
        "Highly recommended",
        "Exactly what I needed",
        "Great sound",
        "Très bien ♪",
    ),
    4: ("Four Stars",) * 6
    + (
        "Good value",
        "Pretty good",
        "Works well",
        "Nice",
        "Good strings",
        "Solid",
        "Good product",
        "Does the job",
    ),
    3: ("Three Stars",) * 5 + ("OK", "It's okay", "Decent", "Meh", "Average", "Not bad", "So-so"),
    2: ("Two Stars",) * 5
    + ("Disappointed", "Not great", "Flimsy", "Could be better", 'Not "professional" quality'),
    1: ("One Star",) * 5
    + (
        "Junk",
        "Broke quickly",
        "Don't buy",
        "Returned it",
        "Terrible",
        "Waste of money",
        "Arrived broken",
    ),
}
SENTIMENT_BY_STAR = {1: "negative", 2: "negative", 3: "mixed", 4: "positive", 5: "positive"}


@dataclass(frozen=True)
class GenerationStats:
    """What one run produced."""

    rows: int
    products: int
    reviewers: int
    seconds: float
    bytes: int


@dataclass(frozen=True)
class TextPool:
    """Strings for one text part, all ratings concatenated; each star owns a slice."""

    strings: np.ndarray  # object array of str
    start_by_star: np.ndarray  # index 1..5 (0 unused)
    count_by_star: np.ndarray

    @classmethod
    def build(cls, by_star: dict[int, Sequence[str]]) -> TextPool:
        strings: list[str] = []
        starts = np.zeros(6, dtype=np.int64)
        counts = np.zeros(6, dtype=np.int64)
        for star in range(1, 6):
            starts[star], counts[star] = len(strings), len(by_star[star])
            strings.extend(by_star[star])
        return cls(np.array(strings, dtype=object), starts, counts)

    def pick(self, rng: np.random.Generator, stars: np.ndarray) -> np.ndarray:
        """One string per row, uniform within the row's star."""
        offsets = (rng.random(stars.size) * self.count_by_star[stars]).astype(np.int64)
        return self.strings[self.start_by_star[stars] + offsets]


def by_sentiment(parts: dict[str, Sequence[str]]) -> dict[int, Sequence[str]]:
    return {star: parts[sentiment] for star, sentiment in SENTIMENT_BY_STAR.items()}


OPENER_POOL = TextPool.build(by_sentiment(OPENERS))
MIDDLE_POOL = TextPool.build(by_sentiment(MIDDLES))
CLOSER_POOL = TextPool.build(by_sentiment(CLOSERS))
SUMMARY_POOL = TextPool.build(SUMMARIES)


def display_names() -> np.ndarray:
    """Every reviewer display name; index 0 is "Amazon Customer", the most common one."""
    names = list(HANDLES)
    for first in FIRST_NAMES:
        for last in LAST_NAMES:
            names += [f"{first} {last}", f"{first[0]}. {last}", f"{first} {last[0]}."]
        names.append(first)
    return np.array(names, dtype=object)


NAMES = display_names()


# --- Sizes and counts --------------------------------------------------------------------


def parse_row_count(text: str) -> int:
    """'231392', '231k', '2m', '10M', '1.5m' -> a positive row count."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text.replace("_", ""))
    if not match:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (try 231392, 231k, 2m)")
    multiplier = {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
    rows = round(float(match[1]) * multiplier)
    if rows < MIN_REVIEWS_PER_PRODUCT:
        raise argparse.ArgumentTypeError(f"need at least {MIN_REVIEWS_PER_PRODUCT} rows")
    return rows


def scaled(real_count: int, rows: int, floor_per_entity: int) -> int:
    """The real count scaled to `rows`, capped so every entity can still meet its floor."""
    return max(1, min(round(real_count * rows / REAL_ROWS), rows // floor_per_entity))


def lomax_counts(
    rng: np.random.Generator, n: int, total: int, minimum: int, maximum: int, shape: float
) -> np.ndarray:
    """n integer counts in [minimum, maximum] that sum exactly to total, Lomax-tailed.

    Evenly spaced quantiles rather than random draws make median and maximum stable across
    seeds and sizes; the scale is found by bisection so the sum lands on `total`, the few
    leftover units go to random entries, and a shuffle decides who gets which count.
    """
    if n * minimum > total:
        raise ValueError(f"{n:,} entities cannot each have {minimum} of {total:,} rows")
    maximum = max(maximum, -(-total // n))  # a tiny entity count forces a bigger share each
    quantiles = (np.arange(n) + 0.5) / n
    unit_tail = (1.0 - quantiles) ** (-1.0 / shape) - 1.0

    def counts_at(scale: float) -> np.ndarray:
        extra = np.minimum(np.rint(unit_tail * scale), maximum - minimum)
        return minimum + extra.astype(np.int64)

    low, high = 0.0, 1.0
    while counts_at(high).sum() < total:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if counts_at(middle).sum() <= total else (low, middle)
    counts = counts_at(low)
    shortfall = total - int(counts.sum())
    while shortfall > 0:
        has_room = np.flatnonzero(counts < maximum)
        chosen = rng.choice(has_room, size=min(shortfall, has_room.size), replace=False)
        counts[chosen] += 1
        shortfall -= chosen.size
    return rng.permutation(counts)


def coprime_step(rows: int) -> int:
    """The integer nearest rows / golden ratio that is coprime with rows (a bijection step)."""
    step = max(1, round(rows / GOLDEN_RATIO))
    while gcd(step, rows) != 1:
        step += 1
    return step  # < rows: rows - 1 is always coprime with rows


# --- Identities --------------------------------------------------------------------------


def unique_codes(
    rng: np.random.Generator, n: int, make: Callable[[np.random.Generator, int], np.ndarray]
) -> np.ndarray:
    """n distinct fixed-width byte strings from `make(rng, k)`, redrawing any duplicates."""
    codes = make(rng, n)
    while True:
        _, first_seen = np.unique(codes, return_index=True)
        if first_seen.size == n:
            return codes
        duplicate = np.ones(n, dtype=bool)
        duplicate[first_seen] = False
        codes[duplicate] = make(rng, int(duplicate.sum()))


def as_strings(characters: np.ndarray) -> np.ndarray:
    """(n, width) uint8 ASCII, NUL-padded on the right -> n byte strings of dtype S<width>."""
    return np.ascontiguousarray(characters).view(f"S{characters.shape[1]}").ravel()


def reviewer_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """'A' + 12-14 uppercase alphanumerics, like A3FO5AKVTFRCRJ (mostly 13)."""
    characters = np.zeros((n, 15), dtype=np.uint8)
    characters[:, 0] = ord("A")
    characters[:, 1:] = ID_ALPHABET[rng.integers(0, 36, size=(n, 14), dtype=np.uint8)]
    lengths = rng.choice([12, 13, 14], size=n, p=[0.2, 0.7, 0.1])
    characters[:, 1:][np.arange(14) >= lengths[:, None]] = 0  # NUL tail = shorter ID
    return as_strings(characters)


def product_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """ASINs like B000068NW5 (B0, a skewed third char, 7 alphanumerics) or ISBN-10 digits."""
    characters = np.empty((n, 10), dtype=np.uint8)
    characters[:, :2] = np.frombuffer(b"B0", dtype=np.uint8)
    characters[:, 2] = ASIN_THIRD_CHARACTERS[rng.integers(0, ASIN_THIRD_CHARACTERS.size, size=n)]
    characters[:, 3:] = ID_ALPHABET[rng.integers(0, 36, size=(n, 7), dtype=np.uint8)]
    isbn = rng.random(n) < ISBN_PRODUCT_SHARE
    isbn_digits = DIGITS[rng.integers(0, 10, size=(int(isbn.sum()), 10), dtype=np.uint8)]
    isbn_digits[:, 0] = np.frombuffer(b"01", dtype=np.uint8)[rng.integers(0, 2, isbn.sum())]
    characters[isbn] = isbn_digits
    return as_strings(characters)


# --- The plan: everything that is per product or per reviewer -----------------------------


@dataclass(frozen=True)
class Plan:
    """Per-product and per-reviewer arrays (memory O(products + reviewers)) and the mapping
    from row number to reviewer slot."""

    rows: int
    product_ends: np.ndarray  # cumulative review counts, productID order
    product_ids: np.ndarray  # S10, sorted
    product_launch_day: np.ndarray  # days after FIRST_DAY
    product_star_cdf: np.ndarray  # (products, 5) cumulative rating probabilities
    reviewer_ends: np.ndarray  # cumulative review counts, in slot order
    reviewer_ids: np.ndarray  # S15
    reviewer_name: np.ndarray  # index into NAMES
    reviewer_other_name: np.ndarray  # index into NAMES, -1 if the reviewer keeps one name
    slot_multiplier: int  # slot = (row - slot_offset) * slot_multiplier mod rows
    slot_offset: int

    @property
    def products(self) -> int:
        return self.product_ends.size

    @property
    def reviewers(self) -> int:
        return self.reviewer_ends.size


def make_plan(rows: int, products: int, reviewers: int, seed: int) -> Plan:
    if rows > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS:,} rows (the slot arithmetic is int64)")
    rng = np.random.default_rng([seed, 0])
    product_counts = lomax_counts(
        rng, products, rows, MIN_REVIEWS_PER_PRODUCT, rows, PRODUCT_TAIL_SHAPE
    )
    reviewer_counts = lomax_counts(
        rng,
        reviewers,
        rows,
        MIN_REVIEWS_PER_REVIEWER,
        MAX_REVIEWS_PER_REVIEWER,
        REVIEWER_TAIL_SHAPE,
    )
    step = coprime_step(rows)
    return Plan(
        rows=rows,
        product_ends=np.cumsum(product_counts),
        product_ids=np.sort(unique_codes(rng, products, product_codes)),
        product_launch_day=launch_days(rng, products),
        product_star_cdf=star_cdf_per_product(rng, product_counts),
        reviewer_ends=np.cumsum(reviewer_counts),
        reviewer_ids=unique_codes(rng, reviewers, reviewer_codes),
        reviewer_name=reviewer_names(rng, reviewers),
        reviewer_other_name=other_names(rng, reviewers),
        slot_multiplier=pow(step, -1, rows),
        slot_offset=int(rng.integers(0, rows)),
    )


def launch_days(rng: np.random.Generator, products: int) -> np.ndarray:
    """When each product starts getting reviews: a few early ones, most from 2011 on."""
    return np.floor(rng.beta(4.0, 1.6, size=products) * SPAN_DAYS).astype(np.int64)


def star_cdf_per_product(rng: np.random.Generator, product_counts: np.ndarray) -> np.ndarray:
    """Rating odds tilted per product (good and bad products), cumulative over 1..5 stars.

    Tilting skews the overall mix (it fattens both ends), so the shared base odds are
    rescaled until the review-weighted mix is STAR_SHARES again.
    """
    quality = rng.normal(0.0, PRODUCT_QUALITY_SPREAD, size=(product_counts.size, 1))
    tilt = np.exp(quality * (np.arange(1, 6) - 3))
    base = STAR_SHARES.copy()
    for _ in range(50):
        weights = base * tilt
        shares = weights / weights.sum(axis=1, keepdims=True)
        base *= STAR_SHARES / (product_counts @ shares / product_counts.sum())
    cdf = np.cumsum(shares, axis=1)
    cdf[:, -1] = 1.0  # no row can fall past five stars through rounding
    return cdf


def reviewer_names(rng: np.random.Generator, reviewers: int) -> np.ndarray:
    names = rng.integers(0, NAMES.size, size=reviewers, dtype=np.int32)
    names[rng.random(reviewers) < AMAZON_CUSTOMER_SHARE] = 0
    return names


def other_names(rng: np.random.Generator, reviewers: int) -> np.ndarray:
    """A second display name for a few reviewers (renamed accounts, shared accounts)."""
    names = rng.integers(0, NAMES.size, size=reviewers, dtype=np.int32)
    names[rng.random(reviewers) >= ALTERNATE_NAME_REVIEWER_SHARE] = -1
    return names


# --- Rows ---------------------------------------------------------------------------------

DAY_LABELS = np.array(
    [(FIRST_DAY + timedelta(days=day)).strftime("%m %d, %Y") for day in range(SPAN_DAYS + 1)],
    dtype=object,
)


def generate_batch(plan: Plan, start: int, stop: int, seed: int) -> Iterator[tuple]:
    """The rows [start, stop) as INSERT parameter tuples."""
    rng = np.random.default_rng([seed, 1 + start // BATCH_ROWS])
    row = np.arange(start, stop, dtype=np.int64)
    n = row.size
    product = np.searchsorted(plan.product_ends, row, side="right")
    slot = (row - plan.slot_offset) % plan.rows * plan.slot_multiplier % plan.rows
    reviewer = np.searchsorted(plan.reviewer_ends, slot, side="right")

    # Each column draws from the batch generator in this fixed order (determinism).
    day = review_days(rng, plan.product_launch_day[product], row, plan.rows)
    stars = 1 + (rng.random((n, 1)) > plan.product_star_cdf[product]).sum(axis=1)
    verified = rng.random(n) < np.where(day < days_after_start(2012), 0.70, 0.91)
    names = row_names(rng, plan, reviewer)
    text = OPENER_POOL.pick(rng, stars) + MIDDLE_POOL.pick(rng, stars)
    text = with_nulls(rng, text + CLOSER_POOL.pick(rng, stars), NULL_TEXT_SHARE)
    summary = with_nulls(rng, SUMMARY_POOL.pick(rng, stars), NULL_SUMMARY_SHARE)
    vote = votes(rng, day)

    return zip(
        row.tolist(),
        stars.astype(np.float64).tolist(),
        verified.astype(np.int64).tolist(),
        DAY_LABELS[day].tolist(),
        plan.reviewer_ids[reviewer].astype(str).tolist(),
        plan.product_ids[product].astype(str).tolist(),
        names,
        text,
        summary,
        ((FIRST_DAY_EPOCH + day) * SECONDS_PER_DAY).tolist(),
        vote,
        strict=True,
    )


def days_after_start(year: int) -> int:
    return (date(year, 1, 1) - FIRST_DAY).days


def review_days(
    rng: np.random.Generator, launch_day: np.ndarray, row: np.ndarray, rows: int
) -> np.ndarray:
    """A day between the product's launch and the end, front-loaded after launch; the first
    and last rows pin the real data's first and last review dates."""
    life = SPAN_DAYS - launch_day + 1
    day = launch_day + np.floor(life * rng.beta(1.1, 1.6, size=row.size)).astype(np.int64)
    day = np.clip(day, 0, SPAN_DAYS)
    day[row == 0] = 0
    day[row == rows - 1] = SPAN_DAYS
    return day


def row_names(rng: np.random.Generator, plan: Plan, reviewer: np.ndarray) -> list:
    name = plan.reviewer_name[reviewer]
    other = plan.reviewer_other_name[reviewer]
    use_other = (other >= 0) & (rng.random(reviewer.size) < ALTERNATE_NAME_ROW_SHARE)
    return with_nulls(rng, NAMES[np.where(use_other, other, name)], NULL_NAME_SHARE)


def with_nulls(rng: np.random.Generator, values: np.ndarray, null_share: float) -> list:
    values = values.copy()
    values[rng.random(values.size) < null_share] = None
    return values.tolist()


def votes(rng: np.random.Generator, day: np.ndarray) -> list:
    """Helpful votes as text with thousands separators, present mostly on older reviews
    (votes accumulate over time); Pareto-tailed from 2."""
    age = 1.0 - day / SPAN_DAYS
    present = rng.random(day.size) < 0.13 + 0.45 * age**2
    # Inverse CDF of a Pareto truncated at MAX_VOTE: no pile-up of clipped values at the cap.
    kept_mass = 1.0 - (MIN_VOTE / MAX_VOTE) ** VOTE_TAIL_SHAPE
    quantile = 1.0 - rng.random(day.size) * kept_mass
    count = np.floor(MIN_VOTE * quantile ** (-1.0 / VOTE_TAIL_SHAPE)).astype(np.int64)
    return [
        f"{value:,}" if has else None
        for value, has in zip(count.tolist(), present.tolist(), strict=True)
    ]


# --- Writing ------------------------------------------------------------------------------


def generate(
    output: Path,
    rows: int,
    *,
    products: int | None = None,
    reviewers: int | None = None,
    seed: int = DEFAULT_SEED,
    overwrite: bool = False,
    progress: bool = False,
) -> GenerationStats:
    """Build the database at `output` (atomically); FileExistsError unless `overwrite`."""
    started = time.perf_counter()
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists (use --force to replace it)")
    products = products or scaled(REAL_PRODUCTS, rows, MIN_REVIEWS_PER_PRODUCT)
    reviewers = reviewers or scaled(REAL_REVIEWERS, rows, MIN_REVIEWS_PER_REVIEWER)
    plan = make_plan(rows, products, reviewers, seed)

    output.parent.mkdir(parents=True, exist_ok=True)
    # Same directory, so os.replace is an atomic rename; the pid keeps concurrent runs apart.
    # SQLite creates it, so it gets the usual permissions (mkstemp's would be 0600).
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        write_database(temporary, plan, seed, started if progress else None)
        with temporary.open("rb+") as file:  # synchronous=OFF skipped every fsync
            os.fsync(file.fileno())
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return GenerationStats(
        rows=rows,
        products=plan.products,
        reviewers=plan.reviewers,
        seconds=time.perf_counter() - started,
        bytes=output.stat().st_size,
    )


def write_database(path: Path, plan: Plan, seed: int, progress_since: float | None) -> None:
    # isolation_level=None: transactions are spelled out, one around all the inserts.
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A scratch file until os.replace: no journal, no fsync. The page cache (which also
        # caps the index sorter's memory; it spills to temp files) stays at a fixed 16 MiB,
        # so memory is flat however many rows; 64 MiB measured no faster.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -16384")
        connection.executescript(SCHEMA_SQL.read_text())
        connection.execute("BEGIN")
        last_report = time.perf_counter()
        for start in range(0, plan.rows, BATCH_ROWS):
            stop = min(start + BATCH_ROWS, plan.rows)
            connection.executemany(INSERT_ROW, generate_batch(plan, start, stop, seed))
            if progress_since is not None and (
                time.perf_counter() - last_report > 2 or stop == plan.rows
            ):
                last_report = time.perf_counter()
                report(f"{stop:,} / {plan.rows:,} rows", progress_since)
        connection.execute("COMMIT")
        if progress_since is not None:
            report("building indexes", progress_since)
        connection.executescript(INDEXES_SQL.read_text())
    finally:
        connection.close()


def report(message: str, since: float) -> None:
    print(f"[{time.perf_counter() - since:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- CLI ----------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate a deterministic SQLite database of musical-instrument reviews "
        "shaped like the 2018 Amazon 'Musical Instruments 5-core' data."
    )
    parser.add_argument(
        "--rows",
        type=parse_row_count,
        default=REAL_ROWS,
        help=f"number of reviews: 231392, 231k, 2m, 10M (default {REAL_ROWS:,})",
    )
    parser.add_argument(
        "--products", type=positive_int, help="distinct products (default: scaled with rows)"
    )
    parser.add_argument(
        "--reviewers", type=positive_int, help="distinct reviewers (default: scaled with rows)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default %(default)s")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="database file (default <repo>/data/musical_instrument_reviews.sqlite)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.output.exists() and not arguments.force:
        print(
            f"error: {arguments.output} already exists; pass --force to replace it",
            file=sys.stderr,
        )
        return 1
    try:
        stats = generate(
            arguments.output,
            arguments.rows,
            products=arguments.products,
            reviewers=arguments.reviewers,
            seed=arguments.seed,
            overwrite=arguments.force,
            progress=True,
        )
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {stats.rows:,} rows ({stats.products:,} products, {stats.reviewers:,} "
        f"reviewers) to {arguments.output} in {stats.seconds:.1f} s, "
        f"{stats.bytes / 1e6:.1f} MB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
