"""The rollups (migrations/postgres/0012.rankings.sql) after `reviews-api load`: every row of
review_api.product_rollups and reviewer_rollups is the plain-Python aggregate of the test rows
of its id and calendar year (or all time), nothing more and nothing less; a second load
replaces them with the reviews it publishes; and the migration itself fills them from the
reviews loaded before it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import oracle
import psycopg
import pytest
from conftest import run_cli
from postgres_server import ThrowawayDatabase
from psycopg import sql
from review_rows import Review, generate_reviews, make_review, write_sqlite

KINDS: dict[str, Callable[[Review], str]] = {
    "product": lambda r: r.productID,
    "reviewer": lambda r: r.reviewerID,
}


def year_edges(start: int) -> list[Review]:
    """YEARS: the last second of 2015 and the first of 2016 (one review in each year)."""
    return [
        make_review(start, product="YEARS", reviewer="YEARS", day=date(2015, 12, 31), stars=5),
        make_review(start + 1, product="YEARS", reviewer="YEARS", day=date(2016, 1, 1), stars=1),
    ]


def rollup_rows(owner_url: str, kind: str) -> dict[tuple[int, str], dict[str, Any]]:
    """Every row of review_api.<kind>_rollups, in the oracle's shape."""
    with psycopg.connect(owner_url) as connection:
        rows = connection.execute(
            sql.SQL("SELECT * FROM review_api.{}").format(sql.Identifier(f"{kind}_rollups"))
        ).fetchall()
    return {
        (row[0], row[1]): {
            "review_count": row[2],
            "average_rating": row[3],
            "rating_distribution": {str(stars): row[3 + stars] for stars in range(1, 6)},
            "verified_review_count": row[9],
            "helpful_votes": row[10],
            "first_review_date": row[11].isoformat(),
            "last_review_date": row[12].isoformat(),
        }
        for row in rows
    }


def assert_rollups_match(owner_url: str, reviews: list[Review]) -> None:
    for kind, id_of in KINDS.items():
        expected = oracle.rollups(reviews, id_of)
        got = rollup_rows(owner_url, kind)
        assert set(got) == set(expected), kind
        wrong = [key for key in expected if got[key] != expected[key]]
        assert not wrong, (kind, [(got[k], expected[k]) for k in wrong[:2]])


def test_every_rollup_row_is_the_aggregate_of_its_reviews_after_each_load(
    make_database: Callable[[], ThrowawayDatabase], tmp_path: Path
) -> None:
    database = make_database()
    first = generate_reviews()
    first += year_edges(start=len(first))
    run_cli(
        "load",
        "--source",
        str(write_sqlite(tmp_path / "first.sqlite", first)),
        "--database-url",
        database.owner_url,
    )
    assert_rollups_match(database.owner_url, first)
    # Another data set: fewer rows, other ids and years; the rollups follow the reviews.
    second = generate_reviews(count=150, seed=11)
    run_cli(
        "load",
        "--source",
        str(write_sqlite(tmp_path / "second.sqlite", second)),
        "--database-url",
        database.owner_url,
    )
    assert_rollups_match(database.owner_url, second)
    with psycopg.connect(database.owner_url) as connection:
        leftovers = connection.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'review_admin'::regnamespace"
            " AND relkind = 'r' AND relname <> 'load_lock'"
        ).fetchall()
        names = connection.execute(
            "SELECT indexrelid::regclass::text FROM pg_index"
            " WHERE indrelid IN ('public.product_rollups'::regclass,"
            " 'public.reviewer_rollups'::regclass) ORDER BY 1"
        ).fetchall()
    assert leftovers == []
    assert [name for (name,) in names] == sorted(
        f"{kind}_rollups_{key}_idx" for kind in KINDS for key in oracle.RANKING_SORTS
    )


def test_the_migration_fills_the_rollups_of_data_loaded_before_it(
    make_database: Callable[[], ThrowawayDatabase], tmp_path: Path
) -> None:
    database = make_database()
    reviews = generate_reviews(count=200, seed=3)
    source = write_sqlite(tmp_path / "reviews.sqlite", reviews)
    run_cli("load", "--source", str(source), "--database-url", database.owner_url)
    run_cli("migrate", "rollback", "--count", "1", "--database-url", database.owner_url)
    run_cli("migrate", "apply", "--database-url", database.owner_url)
    assert_rollups_match(database.owner_url, reviews)


@pytest.mark.parametrize("kind", list(KINDS))
def test_readers_may_read_the_views_not_the_tables(
    make_database: Callable[[], ThrowawayDatabase], kind: str
) -> None:
    database = make_database()
    with psycopg.connect(database.reader_url) as connection:
        view = sql.Identifier("review_api", f"{kind}_rollups")
        assert connection.execute(sql.SQL("SELECT count(*) FROM {}").format(view)).fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier("public", f"{kind}_rollups")
                )
            )
