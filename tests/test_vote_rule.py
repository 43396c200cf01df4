"""One rule for helpful votes (README, "Helpful votes"), applied alike by the three ways a
vote reaches an answer: the service reading a SQLite file directly (queries/sqlite), a load
into a SQLite file, and a load into PostgreSQL.

The same odd values go through all three, one product per value, and the helpful votes of
each product's summary are compared with the README's table. A value the table does not
accept is refused by both loads (skipped and listed with --on-bad-row skip) and counts 0
when the service reads the file directly, which cannot refuse it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import RunningServer, run_cli, start_server, stop_server, summary_path
from postgres_server import ThrowawayDatabase
from review_rows import Review, make_review, write_sqlite
from test_loader import cli_fails, rejected_lines

# value as found in a source -> helpful votes it counts; None: refused by a load.
VOTES: dict[str | None, int | None] = {
    None: 0,
    "": 0,
    "   ": 0,
    "3": 3,
    " 3": 3,
    "3\t": 3,
    "\n12\r": 12,
    "1078": 1078,
    "1,078": 1078,
    "12,345,678": 12345678,
    "007": 7,
    "0": 0,
    "2147483647": 2147483647,
    "-1": None,
    "abc": None,
    "1 078": None,
    "1.5": None,
    "10,78": None,
    "01,078": None,
    "1078,123": None,
    "1,": None,
    "+3": None,
    "2147483648": None,
    "\u0663": None,  # an Arabic-Indic digit three: not an ASCII digit
}
VALUES = list(VOTES)


def product(position: int) -> str:
    return f"VOTE-{position:02d}"


def odd_vote_rows() -> list[Review]:
    """One review per value of VOTES, each of its own product, votes written as is."""
    day = date(2016, 1, 1)
    return [
        replace(
            make_review(position, product=product(position), reviewer="R", day=day, stars=4),
            vote=value,
        )
        for position, value in enumerate(VALUES)
    ]


@pytest.fixture(scope="module")
def odd_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("votes") / "votes.sqlite", odd_vote_rows())


def helpful_votes_over_http(server: RunningServer) -> dict[str, int]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        answers = {}
        for position in range(len(VALUES)):
            response = client.get(summary_path("products", product(position)))
            if response.status_code == 404:  # a row the load refused: no such product
                continue
            assert response.status_code == 200, response.text
            answers[product(position)] = response.json()["helpful_votes"]
    return answers


def ranked_helpful_votes_over_http(server: RunningServer) -> dict[str, int]:
    """Each product's helpful votes as the product ranking answers them."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = client.get("/v1/products", params={"sort": "helpful_votes", "limit": 100})
    assert response.status_code == 200, response.text
    assert response.json()["next"] is None
    return {item["product_id"]: item["helpful_votes"] for item in response.json()["items"]}


@pytest.fixture(scope="module")
def direct_server(
    odd_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server(f"sqlite:///{odd_source}", tmp_path_factory.mktemp("direct") / "log")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def direct_reading(direct_server: RunningServer) -> dict[str, int]:
    return helpful_votes_over_http(direct_server)


def skip_load(odd_source: Path, rejects: Path, *destination: str) -> list[int]:
    """Load with bad rows skipped; the indexes of the rows the load refused."""
    run_cli(
        "load", "--source", str(odd_source), *destination, "--on-bad-row", "skip",
        "--rejects", str(rejects),
    )  # fmt: skip
    return [entry["index"] for entry in rejected_lines(rejects)]


@pytest.fixture(scope="module")
def sqlite_target(
    odd_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, int], list[int]]]:
    directory = tmp_path_factory.mktemp("target")
    target = directory / "loaded.sqlite"
    refused = skip_load(odd_source, directory / "rejects.jsonl", "--target", f"sqlite:///{target}")
    server = start_server(f"sqlite:///{target}", directory / "log")
    try:
        yield helpful_votes_over_http(server), refused
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def postgres_target(
    odd_source: Path,
    make_module_database: ThrowawayDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, int], list[int]]:
    database = make_module_database
    directory = tmp_path_factory.mktemp("postgres")
    refused = skip_load(
        odd_source, directory / "rejects.jsonl", "--database-url", database.owner_url
    )
    with psycopg.connect(database.reader_url, autocommit=True) as reader:
        rows = reader.execute(
            "SELECT product_id, sum(helpful_votes) FROM review_api.reviews GROUP BY product_id"
        ).fetchall()
    return {product_id: int(total) for product_id, total in rows}, refused


def expected(value: str | None) -> int:
    counted = VOTES[value]
    return 0 if counted is None else counted


def test_reading_a_sqlite_file_directly_follows_the_table(direct_reading: dict[str, int]) -> None:
    assert direct_reading == {product(p): expected(v) for p, v in enumerate(VALUES)}


def test_the_ranking_reads_a_sqlite_file_by_the_same_table(direct_server: RunningServer) -> None:
    # The rankings answer the usual votes by a shorter path (queries/sqlite/rankings.sql).
    assert ranked_helpful_votes_over_http(direct_server) == {
        product(p): expected(v) for p, v in enumerate(VALUES)
    }


@pytest.mark.parametrize("target", ["sqlite_target", "postgres_target"])
def test_both_loads_follow_the_table(target: str, request: pytest.FixtureRequest) -> None:
    answers, refused = request.getfixturevalue(target)
    accepted = {p: v for p, v in enumerate(VALUES) if VOTES[v] is not None}
    assert refused == [p for p, v in enumerate(VALUES) if VOTES[v] is None]
    assert answers == {product(p): VOTES[v] for p, v in accepted.items()}


def test_the_three_paths_agree_on_every_accepted_value(
    direct_reading: dict[str, int],
    sqlite_target: tuple[dict[str, int], list[int]],
    postgres_target: tuple[dict[str, int], list[int]],
) -> None:
    for answers, _ in (sqlite_target, postgres_target):
        assert answers == {key: direct_reading[key] for key in answers}


def test_a_refused_vote_is_named_with_its_row_by_default(odd_source: Path, tmp_path: Path) -> None:
    first_refused = next(p for p, v in enumerate(VALUES) if VOTES[v] is None)
    message = cli_fails(
        "load", "--source", str(odd_source), "--target", f"sqlite:///{tmp_path / 'x.sqlite'}"
    )
    assert f"row with index={first_refused}: vote={VALUES[first_refused]!r}" in message
