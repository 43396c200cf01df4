"""SQLite and PostgreSQL give identical answers, equal to the oracle, on generated data.

Hypothesis draws small sets of reviews around the edge cases (one review, everything on
one day, the first and last day of the data, the first second, noon and the last second of
a day, null and comma-separated votes, names that come and go); each set is written into
both databases behind two running servers, and every summary is asked of both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import astuple
from datetime import date, timedelta
from pathlib import Path

import httpx
import oracle
import pytest
from conftest import RunningServer, start_server, stop_server, summary_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres_server import ThrowawayDatabase
from review_rows import (
    FIRST_DAY,
    LAST_DAY,
    TIMES_OF_DAY,
    Review,
    make_review,
    write_postgres,
    write_sqlite,
)

IDS = st.sampled_from(["P1", "P2", "it's", "100%", "Zoë"])
LEAP_DAY = date(2016, 2, 29)
DAYS = st.sampled_from(
    [
        FIRST_DAY,
        FIRST_DAY + timedelta(days=1),
        LEAP_DAY,
        LAST_DAY - timedelta(days=1),
        LAST_DAY,
    ]
)
TIMES = st.sampled_from(TIMES_OF_DAY)
VOTES = st.one_of(st.none(), st.integers(min_value=0, max_value=5000))
NAMES = st.one_of(st.none(), st.sampled_from(["Ann", "O'Brien", "Zoë ♪"]))


@st.composite
def review_sets(draw: st.DrawFn) -> list[Review]:
    count = draw(st.integers(min_value=1, max_value=12))
    return [
        make_review(
            index,
            product=draw(IDS),
            reviewer=draw(IDS),
            day=draw(DAYS),
            at=draw(TIMES),
            stars=draw(st.integers(min_value=1, max_value=5)),
            verified=draw(st.sampled_from([0, 1, None])),
            name=draw(NAMES),
            votes=draw(VOTES),
        )
        for index in range(count)
    ]


# Each drawn day is a period's first or last day, or the day just outside one.
PERIODS = [
    (None, None),
    (FIRST_DAY, None),
    (None, FIRST_DAY),
    (LEAP_DAY, LEAP_DAY),
    (None, LEAP_DAY - timedelta(days=1)),
    (LEAP_DAY + timedelta(days=1), None),
    (FIRST_DAY + timedelta(days=1), LAST_DAY - timedelta(days=1)),
    (LAST_DAY, LAST_DAY),
]


@pytest.fixture(scope="module")
def twin_servers(
    make_module_database: ThrowawayDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, ThrowawayDatabase, RunningServer, RunningServer]]:
    folder = tmp_path_factory.mktemp("parity")
    sqlite_path = write_sqlite(folder / "parity.sqlite", [])
    sqlite_server = start_server(f"sqlite:///{sqlite_path}", folder / "sqlite.log")
    # The rows are replaced behind the loader's back, so nothing notifies: no response cache.
    postgres_server = start_server(
        make_module_database.reader_url, folder / "postgres.log", CACHE_ENTRIES="0"
    )
    yield sqlite_path, make_module_database, sqlite_server, postgres_server
    stop_server(sqlite_server)
    stop_server(postgres_server)


def replace_sqlite_rows(path: Path, reviews: list[Review]) -> None:
    # In place: the server keeps its read-only connection to this very file.
    connection = sqlite3.connect(path)
    try:
        connection.execute("DELETE FROM reviews")
        connection.executemany(
            "INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [astuple(review) for review in reviews],
        )
        connection.commit()
    finally:
        connection.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reviews=review_sets())
def test_sqlite_and_postgres_agree_with_the_oracle(
    twin_servers: tuple[Path, ThrowawayDatabase, RunningServer, RunningServer],
    reviews: list[Review],
) -> None:
    sqlite_path, database, sqlite_server, postgres_server = twin_servers
    replace_sqlite_rows(sqlite_path, reviews)
    write_postgres(database.owner_url, reviews)
    with (
        httpx.Client(base_url=sqlite_server.base_url) as lite,
        httpx.Client(base_url=postgres_server.base_url) as pg,
    ):
        for kind, expected_body in (
            ("products", oracle.product_summary),
            ("reviewers", oracle.reviewer_summary),
        ):
            for entity_id in ["P1", "it's", "100%", "Zoë", "absent"]:
                for date_from, date_to in PERIODS:
                    path = summary_path(kind, entity_id, date_from, date_to)
                    expected = expected_body(reviews, entity_id, date_from, date_to)
                    from_sqlite, from_postgres = lite.get(path), pg.get(path)
                    assert (
                        from_sqlite.status_code
                        == from_postgres.status_code
                        == (404 if expected is None else 200)
                    ), path
                    if expected is not None:
                        assert from_sqlite.json() == from_postgres.json() == expected, path
