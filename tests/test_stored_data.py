"""Whatever is stored, the service answers: a value it cannot represent (a review time in
milliseconds is a date in the year 46129, which PostgreSQL stores and Python cannot) is a
502 problem of its own on both backends, logged once with the id, never a 500.

The rows are written directly: the loader refuses such times (its own tests), but a
database may hold rows from elsewhere, or from before that check.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import date

import httpx
import oracle
import pytest
from conftest import RunningServer, start_server, stop_server, summary_path
from postgres_server import ThrowawayDatabase
from review_rows import make_review, write_postgres, write_sqlite

DAY = date(2014, 2, 28)
GOOD = make_review(0, product="GOOD", reviewer="PLAIN", day=DAY, stars=5)
MILLISECONDS = make_review(1, product="FUTURE", reviewer="FUTURIST", day=DAY, stars=4)
MILLISECONDS = dataclasses.replace(MILLISECONDS, unixReviewTime=MILLISECONDS.unixReviewTime * 1000)
BEFORE_YEAR_1 = dataclasses.replace(
    make_review(2, product="ANCIENT", reviewer="ANTIQUARIAN", day=DAY, stars=3),
    unixReviewTime=-62_167_219_200 - 86_400 * 400,  # in 2 BC
)
ROWS = [
    GOOD,
    MILLISECONDS,
    BEFORE_YEAR_1,
    make_review(3, product="FUTURE", reviewer="PLAIN", day=DAY, stars=2),
    make_review(4, product="ANCIENT", reviewer="PLAIN", day=DAY, stars=1),
]
REPRESENTABLE = [row for row in ROWS if row not in (MILLISECONDS, BEFORE_YEAR_1)]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server on a database holding ROWS as they are, on either backend."""
    directory = tmp_path_factory.mktemp("stored")
    if request.param == "sqlite":
        url = f"sqlite:///{write_sqlite(directory / 'reviews.sqlite', ROWS)}"
    else:
        database: ThrowawayDatabase = request.getfixturevalue("make_module_database")
        write_postgres(database.owner_url, ROWS)
        url = database.reader_url
    server = start_server(url, directory / "server.log", CACHE_ENTRIES="0")
    yield server
    stop_server(server)


def assert_unrepresentable(response: httpx.Response) -> None:
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers  # the same answer until the data changes
    problem = response.json()
    assert problem["type"] == "/problems/unrepresentable-data"
    assert "cannot represent" in problem["detail"]


@pytest.mark.parametrize(
    ("kind", "entity_id", "date_from", "date_to"),
    [
        ("products", "FUTURE", None, None),
        ("products", "FUTURE", date(2015, 1, 1), None),  # an open end takes the row
        ("reviewers", "FUTURIST", None, None),
        ("products", "ANCIENT", None, None),
        ("products", "ANCIENT", None, date(2999, 12, 31)),  # ... and so does an open start
        ("reviewers", "ANTIQUARIAN", None, None),
    ],
)
def test_a_stored_value_out_of_range_is_a_502_problem(
    stored: RunningServer, kind: str, entity_id: str, date_from: date | None, date_to: date | None
) -> None:
    with stored.client() as client:
        assert_unrepresentable(client.get(summary_path(kind, entity_id, date_from, date_to)))


@pytest.mark.parametrize(
    ("kind", "entity_id", "date_from", "date_to"),
    [
        ("products", "GOOD", None, None),
        ("products", "FUTURE", None, date(2999, 12, 31)),  # bounded: the row is left out
        ("products", "ANCIENT", date(1900, 1, 1), date(2999, 12, 31)),
        ("reviewers", "PLAIN", date(1900, 1, 1), date(2999, 12, 31)),
    ],
)
def test_periods_that_leave_the_row_out_answer_as_usual(
    stored: RunningServer,
    kind: str,
    entity_id: str,
    date_from: date | None,
    date_to: date | None,
) -> None:
    summary = oracle.product_summary if kind == "products" else oracle.reviewer_summary
    with stored.client() as client:
        response = client.get(summary_path(kind, entity_id, date_from, date_to))
    assert response.status_code == 200, response.text
    assert response.json() == summary(REPRESENTABLE, entity_id, date_from, date_to)


def test_logged_once_with_the_id(stored: RunningServer) -> None:
    with stored.client() as client:
        for _ in range(3):
            assert client.get(summary_path("products", "FUTURE")).status_code == 502
    time.sleep(0.5)  # the log writer thread writes every 0.1 s
    lines = [
        json.loads(line)
        for line in stored.log().splitlines()
        if "cannot represent" in line and "'FUTURE'" in line
    ]
    assert len(lines) == 1, lines
    assert lines[0]["level"] == "ERROR"
    assert "product_id 'FUTURE'" in lines[0]["message"]
