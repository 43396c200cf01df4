"""Review rows for tests, written in the original SQLite schema.

The rows are generated here, independently of scripts/generate_dev_data.py, with the edge
cases the API must survive: ids and names with quotes, `%`, `_`, unicode and SQL
fragments; votes with thousands separators; nulls; several reviews on one day; reviews on
the first and last day of the data; names a CSV cell must quote (commas, quotes, newlines).

Reviews carry a time of day: 00:00:00, 12:00:00 or 23:59:59 UTC. The public dumps stamp
every review at midnight, but the service promises UTC calendar days whatever the time, and
a bound written for midnights only (e.g. `<= unixepoch(to)`) would pass on midnight rows.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import psycopg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_SQL = PROJECT_ROOT / "migrations" / "sqlite" / "schema.sql"
INDEXES_SQL = PROJECT_ROOT / "migrations" / "sqlite" / "indexes.sql"

AWKWARD_IDS = (
    "B000068NW5",
    "0739079891",
    "it's",
    'say "hi"',
    "100%",
    "a_b",
    "%_%",
    "Åström-ñ-漢字",
    "' OR '1'='1",
    "x; DROP TABLE reviews; --",
    "a/b c+d",
    "a" * 64,
)
AWKWARD_NAMES = (
    "O'Brien",
    'The "Pro"',
    "50% off_",
    "Zoë ♪",
    "'; DELETE FROM reviews; --",
    "Smith, John",
    'Line one\nline "two", three',
)
# A name a CSV cell must quote: a comma, quotes and a line break.
CSV_AWKWARD_NAME = 'Clock, "Tick"\nTock'
# The first second, noon and the last second of a UTC day.
TIMES_OF_DAY = (time(0, 0, 0), time(12, 0, 0), time(23, 59, 59))
MIDNIGHT, NOON, LAST_SECOND = TIMES_OF_DAY
FIRST_DAY = date(2003, 10, 28)
LAST_DAY = date(2018, 9, 28)


@dataclass(frozen=True)
class Review:
    """One row of the `reviews` table, fields in the table's column order."""

    index: int
    overall: float
    verified: int | None
    reviewTime: str  # noqa: N815 - the source's column names, as written
    reviewerID: str  # noqa: N815
    productID: str  # noqa: N815
    reviewerName: str | None  # noqa: N815
    reviewText: str | None  # noqa: N815
    summary: str | None
    unixReviewTime: int  # noqa: N815
    vote: str | None

    @property
    def day(self) -> date:
        return datetime.fromtimestamp(self.unixReviewTime, UTC).date()


def make_review(
    index: int,
    *,
    product: str,
    reviewer: str,
    day: date,
    stars: int,
    verified: int | None = 1,
    name: str | None = "Reviewer",
    votes: int | None = None,
    at: time = MIDNIGHT,
) -> Review:
    """A review on UTC `day` at time of day `at` (reviewTime is the day, as the dumps write)."""
    unix_time = int(datetime.combine(day, at, tzinfo=UTC).timestamp())
    return Review(
        index=index,
        overall=float(stars),
        verified=verified,
        reviewTime=day.strftime("%m %d, %Y"),
        reviewerID=reviewer,
        productID=product,
        reviewerName=name,
        reviewText="Good strings, it's fine",
        summary="Five Stars",
        unixReviewTime=unix_time,
        vote=None if votes is None else f"{votes:,}",
    )


def generate_reviews(count: int = 600, seed: int = 7) -> list[Review]:
    """`count` random reviews over awkward and plain ids, each at one of TIMES_OF_DAY, plus
    fixed edge cases."""
    rng = random.Random(seed)
    clock = random.Random(seed + 1)  # its own stream: the other fields stay as they were
    products = [*AWKWARD_IDS, *(f"P{n:04d}" for n in range(25))]
    reviewers = [*AWKWARD_IDS, *(f"A{n:05d}XYZ" for n in range(30))]
    names = [*AWKWARD_NAMES, "Ann", "Bob", None]
    span = (LAST_DAY - FIRST_DAY).days
    reviews = []
    for index in range(count):
        day = date.fromordinal(FIRST_DAY.toordinal() + rng.randint(0, span))
        reviews.append(
            make_review(
                index,
                product=rng.choice(products),
                reviewer=rng.choice(reviewers),
                day=day,
                stars=rng.choices([1, 2, 3, 4, 5], weights=[6, 3, 7, 16, 68])[0],
                verified=rng.choice([1, 1, 1, 0, None]),
                name=rng.choice(names),
                votes=rng.choice([None, None, None, 0, 2, 17, 1078, 12345]),
                at=clock.choice(TIMES_OF_DAY),
            )
        )
    return reviews + _edge_cases(start=count)


def _edge_cases(start: int) -> list[Review]:
    """A product and a reviewer whose every review shares one day; the data's end days, at
    its first and last second; a reviewer who never had a name; a name tie on the latest
    second (higher index wins); a later time of day beating a higher index; CLOCK, with a
    review at every time of day on three days in a row (every period test_summaries derives
    from its days has them on its boundary days); and names a CSV cell must quote."""
    day = date(2016, 10, 30)
    rows = [
        make_review(start, product="ONE-DAY", reviewer="TIE", day=day, stars=5, name="First"),
        make_review(start + 1, product="ONE-DAY", reviewer="TIE", day=day, stars=2, name="Last"),
        make_review(
            start + 2, product="ONE-DAY", reviewer="NAMELESS", day=day, stars=1, name=None, at=NOON
        ),
        make_review(
            start + 3, product="ENDS", reviewer="NAMELESS", day=FIRST_DAY, stars=4, name=None
        ),
        make_review(
            start + 4,
            product="ENDS",
            reviewer="TIE",
            day=LAST_DAY,
            stars=3,
            name=None,
            at=LAST_SECOND,
        ),
        make_review(
            start + 5, product="SINGLE", reviewer="ONLY-ONCE", day=day, stars=4, votes=1078
        ),
        # Same day: the evening's name is the latest, although the morning's row comes later.
        make_review(
            start + 6,
            product="P0001",
            reviewer="EVENING",
            day=day,
            stars=5,
            name="Evening",
            at=LAST_SECOND,
        ),
        make_review(
            start + 7, product="P0002", reviewer="EVENING", day=day, stars=4, name="Morning"
        ),
    ]
    clock_days = [date(2012, 2, 28), date(2012, 2, 29), date(2012, 3, 1)]
    for day_number, clock_day in enumerate(clock_days):
        for time_number, at in enumerate(TIMES_OF_DAY):
            number = 3 * day_number + time_number
            rows.append(
                make_review(
                    start + 8 + number,
                    product="CLOCK",
                    reviewer="CLOCK",
                    day=clock_day,
                    stars=number % 5 + 1,
                    verified=(1, 0, None)[time_number],
                    name=("Clock", None, CSV_AWKWARD_NAME)[day_number],
                    votes=(None, 0, 1078)[time_number],
                    at=at,
                )
            )
    return rows


def write_sqlite(path: Path, reviews: list[Review], *, with_indexes: bool = True) -> Path:
    """A SQLite file of the original schema holding `reviews`."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SCHEMA_SQL.read_text())
        connection.executemany(
            "INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [astuple(review) for review in reviews],
        )
        if with_indexes:
            connection.executescript(INDEXES_SQL.read_text())
        connection.commit()
    finally:
        connection.close()
    return path


def write_postgres(owner_url: str, reviews: list[Review]) -> None:
    """Replace the rows of public.reviews directly (fast, for property tests; the loader
    has its own tests)."""
    columns = ", ".join(f'"{name}"' for name in Review.__dataclass_fields__)
    with psycopg.connect(owner_url) as connection:
        connection.execute("TRUNCATE public.reviews")
        with connection.cursor().copy(f"COPY public.reviews ({columns}) FROM STDIN") as copy:
            for review in reviews:
                row = list(astuple(review))
                row[1] = int(review.overall)
                row[2] = None if review.verified is None else bool(review.verified)
                copy.write_row(row)
