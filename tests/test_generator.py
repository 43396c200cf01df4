"""Properties of scripts/generate_dev_data.py, checked on a small generated database."""

from __future__ import annotations

import argparse
import hashlib
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SCRIPTS, load_generator

ROWS = 5_000
COLUMNS = [
    "index",
    "overall",
    "verified",
    "reviewTime",
    "reviewerID",
    "productID",
    "reviewerName",
    "reviewText",
    "summary",
    "unixReviewTime",
    "vote",
]


generator = load_generator()


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def scalar(path: Path, sql: str) -> Any:
    return query(path, sql)[0][0]


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for row in query(path, 'SELECT * FROM "reviews" ORDER BY "index"'):
        digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("generated") / "reviews.sqlite"
    return path, generator.generate(path, ROWS)


@pytest.fixture(scope="module")
def database(built: tuple[Path, Any]) -> Path:
    return built[0]


def test_counts_are_exact_and_scale_with_rows(built: tuple[Path, Any]) -> None:
    path, stats = built
    products = round(10_620 * ROWS / 231_392)
    reviewers = round(27_530 * ROWS / 231_392)
    assert scalar(path, 'SELECT count(*) FROM "reviews"') == ROWS
    assert scalar(path, 'SELECT count(DISTINCT "productID") FROM "reviews"') == products
    assert scalar(path, 'SELECT count(DISTINCT "reviewerID") FROM "reviews"') == reviewers
    assert (stats.rows, stats.products, stats.reviewers) == (ROWS, products, reviewers)
    assert stats.bytes == path.stat().st_size


def test_leaves_only_the_output_file(database: Path) -> None:
    assert list(database.parent.iterdir()) == [database]


def test_table_comes_from_the_schema_with_the_dev_indexes(database: Path) -> None:
    assert [row[1] for row in query(database, 'PRAGMA table_info("reviews")')] == COLUMNS
    indexes = {row[1] for row in query(database, 'PRAGMA index_list("reviews")')}
    assert indexes == {"ix_reviews_index", "ix_reviews_product_time", "ix_reviews_reviewer_time"}


def test_every_product_and_reviewer_meets_its_floor(database: Path) -> None:
    per_product = 'SELECT min(n) FROM (SELECT count(*) AS n FROM "reviews" GROUP BY "productID")'
    per_reviewer = (
        'SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM "reviews" GROUP BY "reviewerID")'
    )
    assert scalar(database, per_product) >= 5
    fewest, most = query(database, per_reviewer)[0]
    assert fewest >= 3
    assert most <= 264


def test_index_is_the_row_number(database: Path) -> None:
    assert query(
        database, 'SELECT min("index"), max("index"), count(DISTINCT "index") FROM "reviews"'
    ) == [(0, ROWS - 1, ROWS)]


def test_rows_come_in_product_order(database: Path) -> None:
    products = [
        row[0] for row in query(database, 'SELECT "productID" FROM "reviews" ORDER BY "index"')
    ]
    assert products == sorted(products)


def test_ids_look_like_amazon_ids(database: Path) -> None:
    for reviewer_id, product_id in query(
        database, 'SELECT "reviewerID", "productID" FROM "reviews"'
    ):
        assert re.fullmatch(r"A[0-9A-Z]{12,14}", reviewer_id)
        assert re.fullmatch(r"B0[0-9A-Z]{8}|[0-9]{10}", product_id)


def test_review_time_matches_the_utc_day_of_unix_time(database: Path) -> None:
    rows = query(database, 'SELECT "reviewTime", "unixReviewTime" FROM "reviews"')
    for review_time, unix_time in rows:
        assert re.fullmatch(r"\d{2} \d{2}, \d{4}", review_time)
        assert unix_time % 86_400 == 0
        assert datetime.fromtimestamp(unix_time, UTC).strftime("%m %d, %Y") == review_time


def test_dates_span_the_real_range_mostly_recent(database: Path) -> None:
    first, last, recent = query(
        database,
        'SELECT date(min("unixReviewTime"), \'unixepoch\'), date(max("unixReviewTime"), '
        "'unixepoch'), avg(\"unixReviewTime\" >= unixepoch('2013-01-01')) FROM \"reviews\"",
    )[0]
    assert (first, last) == ("2003-10-28", "2018-09-28")
    assert recent > 0.75


def test_ratings_are_whole_stars_skewed_high(database: Path) -> None:
    shares = {
        stars: count / ROWS
        for stars, count in query(database, 'SELECT "overall", count(*) FROM "reviews" GROUP BY 1')
    }
    assert set(shares) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 0.60 < shares[5.0] < 0.75
    assert shares[1.0] > shares[2.0]


def test_verified_is_a_mostly_true_flag(database: Path) -> None:
    assert {row[0] for row in query(database, 'SELECT DISTINCT "verified" FROM "reviews"')} == {
        0,
        1,
    }
    assert 0.85 < scalar(database, 'SELECT avg("verified") FROM "reviews"') < 0.95


def test_votes_are_sparse_comma_grouped_counts(database: Path) -> None:
    votes = [row[0] for row in query(database, 'SELECT "vote" FROM "reviews"')]
    present = [vote for vote in votes if vote is not None]
    assert 0.10 < len(present) / ROWS < 0.20
    for vote in present:
        assert re.fullmatch(r"[1-9]\d{0,2}(,\d{3})*", vote)


def test_names_and_text_are_almost_always_present(database: Path) -> None:
    null_shares = query(
        database,
        'SELECT avg("reviewerName" IS NULL), avg("reviewText" IS NULL), avg("summary" IS NULL) '
        'FROM "reviews"',
    )[0]
    assert all(share < 0.005 for share in null_shares)


def test_same_seed_same_content_other_seed_other_content(database: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.sqlite"
    generator.generate(again, ROWS)
    assert content_hash(again) == content_hash(database)
    other_seed = tmp_path / "other.sqlite"
    generator.generate(other_seed, ROWS, seed=1)
    assert content_hash(other_seed) != content_hash(database)


def test_cli_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "existing.sqlite"
    output.write_bytes(b"keep me")
    assert generator.main(["--rows", "100", "--output", str(output)]) == 1
    assert "--force" in capsys.readouterr().err
    assert output.read_bytes() == b"keep me"
    with pytest.raises(FileExistsError):
        generator.generate(output, 100)

    assert generator.main(["--rows", "100", "--output", str(output), "--force"]) == 0
    assert scalar(output, 'SELECT count(*) FROM "reviews"') == 100
    assert list(tmp_path.iterdir()) == [output]


def test_a_failed_build_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(path: Path, *_: object) -> None:
        path.write_bytes(b"half a database")
        raise KeyboardInterrupt

    monkeypatch.setattr(generator, "write_database", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generator.generate(tmp_path / "reviews.sqlite", 100)
    assert list(tmp_path.iterdir()) == []


def test_default_output_is_under_the_repository_not_the_cwd() -> None:
    expected = SCRIPTS.parent / "data" / "musical_instrument_reviews.sqlite"
    assert generator.parse_arguments([]).output == expected


def test_explicit_products_and_reviewers(tmp_path: Path) -> None:
    stats = generator.generate(tmp_path / "sized.sqlite", 1_000, products=7, reviewers=50)
    assert (stats.products, stats.reviewers) == (7, 50)
    with pytest.raises(ValueError, match="cannot each have"):
        generator.generate(tmp_path / "impossible.sqlite", 1_000, products=201)


@pytest.mark.parametrize(
    ("text", "rows"),
    [("231392", 231_392), ("231k", 231_000), ("2m", 2_000_000), ("10M", 10_000_000)],
)
def test_row_count_suffixes(text: str, rows: int) -> None:
    assert generator.parse_row_count(text) == rows


@pytest.mark.parametrize("text", ["", "abc", "2g", "-5", "3"])
def test_row_count_rejects_nonsense(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        generator.parse_row_count(text)
