"""The development indexes (migrations/sqlite/indexes.sql) make every summary an index
search that never reads the table, and the original file without them still answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosql
import pytest
from review_rows import Review, write_sqlite

from service.store.sql_files import queries_dir

QUERIES = aiosql.from_path(queries_dir("sqlite"), "sqlite3")
ARGUMENTS = {"from_date": "2015-01-01", "to_date": "2016-12-31"}


@pytest.fixture(scope="module")
def indexed_file(reviews: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("plans") / "indexed.sqlite", reviews)


def query_plan(path: Path, query_name: str, arguments: dict[str, str]) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        sql = getattr(QUERIES, query_name).sql
        return [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", arguments)]
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("query_name", "arguments", "index"),
    [
        ("product_review_summary", {"product_id": "P0001", **ARGUMENTS}, "ix_reviews_product_time"),
        (
            "reviewer_review_summary",
            {"reviewer_id": "TIE", **ARGUMENTS},
            "ix_reviews_reviewer_time",
        ),
        ("product_exists", {"product_id": "P0001"}, "ix_reviews_product_time"),
        ("reviewer_exists", {"reviewer_id": "TIE"}, "ix_reviews_reviewer_time"),
    ],
)
def test_summary_is_a_covering_index_search(
    indexed_file: Path, query_name: str, arguments: dict[str, str], index: str
) -> None:
    plan = query_plan(indexed_file, query_name, arguments)
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN r", "SCAN n"))]
    assert searches, plan
    for step in searches:
        assert f"USING COVERING INDEX {index}" in step, plan
    # count(DISTINCT) keeps its own small b-tree of seen ids; a sort would be a smell.
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan


def test_range_bounds_are_part_of_the_index_search(indexed_file: Path) -> None:
    plan = query_plan(indexed_file, "product_review_summary", {"product_id": "P0001", **ARGUMENTS})
    assert any("(productID=? AND unixReviewTime>? AND unixReviewTime<?)" in s for s in plan), plan


def test_original_file_without_dev_indexes_still_answers(
    reviews: list[Review], tmp_path: Path
) -> None:
    path = write_sqlite(tmp_path / "original.sqlite", reviews, with_indexes=False)
    connection = sqlite3.connect(path)
    try:
        row = QUERIES.product_review_summary(
            connection, product_id="ENDS", from_date=None, to_date=None
        )
    finally:
        connection.close()
    assert row[0] == 2
