"""Review rows for tests, written in the original SQLite schema.

The rows are generated here, independently of scripts/generate_dev_data.py, with the edge
cases the API must survive: ids and names with quotes, `%`, `_`, unicode and SQL
fragments; votes with thousands separators; nulls; several reviews on one day; reviews on
the first and last day of the data.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime
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
AWKWARD_NAMES = ("O'Brien", 'The "Pro"', "50% off_", "Zoë ♪", "'; DELETE FROM reviews; --")
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
) -> Review:
    unix_time = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
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
    """`count` random reviews over awkward and plain ids, plus fixed edge cases."""
    rng = random.Random(seed)
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
            )
        )
    return reviews + _edge_cases(start=count)


def _edge_cases(start: int) -> list[Review]:
    """A product and a reviewer whose every review shares one day; the data's end days;
    a reviewer who never had a name; a name tie on the latest day (higher index wins)."""
    day = date(2016, 10, 30)
    rows = [
        make_review(start, product="ONE-DAY", reviewer="TIE", day=day, stars=5, name="First"),
        make_review(start + 1, product="ONE-DAY", reviewer="TIE", day=day, stars=2, name="Last"),
        make_review(start + 2, product="ONE-DAY", reviewer="NAMELESS", day=day, stars=1, name=None),
        make_review(
            start + 3, product="ENDS", reviewer="NAMELESS", day=FIRST_DAY, stars=4, name=None
        ),
        make_review(start + 4, product="ENDS", reviewer="TIE", day=LAST_DAY, stars=3, name=None),
        make_review(
            start + 5, product="SINGLE", reviewer="ONLY-ONCE", day=day, stars=4, votes=1078
        ),
    ]
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
