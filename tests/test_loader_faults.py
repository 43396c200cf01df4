"""`reviews-api load` when things fail under it: the database cannot be reached or is not
migrated, the link dies mid-copy, a copying process crashes, the link dies just after
the new data went live.

Written against what an operator sees, so that they hold whatever the loader's insides
become: the exit status, the message (no traceback, no password, what to do) and which
data is live afterwards, compared with the oracle. The failures are real: a TCP proxy that
cuts the link at a given step (tests/tcp_proxy.py), a lock the test holds, a SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import oracle
import psycopg
import pytest
from conftest import BIN, free_port, run_cli
from postgres_server import ThrowawayDatabase, with_database
from psycopg import sql
from review_rows import Review, generate_reviews, write_sqlite
from tcp_proxy import proxy_to, through

CHECKED = ("ENDS", "CLOCK", "it's", "P0003")


def load_fails(source: Path, database_url: str, **environment: str) -> str:
    """Run `reviews-api load`, expect it to fail as a command should; its stderr."""
    result = subprocess.run(
        [str(BIN / "reviews-api"), "load", "--source", str(source), "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **environment},
    )
    assert result.returncode == 1, f"expected a failure:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def live_summaries(database: ThrowawayDatabase) -> dict[str, Any]:
    """What the read-only login gets for the checked products, and how many loads exist."""
    with psycopg.connect(database.reader_url, autocommit=True) as connection:
        rows = {
            product: connection.execute(
                "SELECT review_count, average_rating, helpful_votes, last_review_date"
                " FROM review_api.product_review_summary(%s)",
                (product,),
            ).fetchone()
            for product in CHECKED
        }
        [(loads,)] = connection.execute("SELECT count(*) FROM review_api.data_loads").fetchall()
    return {"summaries": rows, "loads": loads}


def expected_live(reviews: list[Review], loads: int) -> dict[str, Any]:
    rows = {}
    for product in CHECKED:
        body = oracle.product_summary(reviews, product, None, None)
        assert body is not None
        last = body["last_review_date"]
        rows[product] = (
            body["review_count"],
            body["average_rating"],
            body["helpful_votes"],
            oracle.date.fromisoformat(last),
        )
    return {"summaries": rows, "loads": loads}


@pytest.fixture
def loaded(
    make_database: Callable[[], ThrowawayDatabase], reviews: list[Review], tmp_path: Path
) -> ThrowawayDatabase:
    """A database holding one load of the test rows: what every failed load must leave."""
    database = make_database()
    run_cli(
        "load",
        "--source",
        str(write_sqlite(tmp_path / "first.sqlite", reviews)),
        "--database-url",
        database.owner_url,
    )
    assert live_summaries(database) == expected_live(reviews, loads=1)
    return database


@pytest.fixture(scope="module")
def new_reviews() -> list[Review]:
    return generate_reviews(count=2000, seed=9)


@pytest.fixture
def new_source(new_reviews: list[Review], tmp_path: Path) -> Path:
    return write_sqlite(tmp_path / "new.sqlite", new_reviews)


def test_an_unreachable_database_is_named_without_its_password(new_source: Path) -> None:
    port = free_port()  # nothing listens there
    message = load_fails(new_source, f"postgresql://owner:pa55-w0rd@127.0.0.1:{port}/reviews")
    assert "cannot connect" in message
    assert f"127.0.0.1:{port}" in message
    assert "pa55-w0rd" not in message


@pytest.fixture
def unmigrated(postgres_admin_url: str) -> Iterator[str]:
    """The owner URL of an empty database nobody migrated."""
    name = f"reviews_api_unmigrated_{os.getpid()}_{free_port()}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(postgres_admin_url, name)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_an_unmigrated_database_gets_the_way_out(new_source: Path, unmigrated: str) -> None:
    message = load_fails(new_source, unmigrated)
    assert "is the database migrated? run `reviews-api migrate` first" in message


def test_a_link_lost_mid_copy_leaves_the_previous_data_live(
    loaded: ThrowawayDatabase, reviews: list[Review], new_source: Path
) -> None:
    with proxy_to(loaded.owner_url) as proxy:
        proxy.kill_when_client_sends(b"COPY ")  # the first batch's COPY statement
        message = load_fails(new_source, through(loaded.owner_url, proxy))
        assert proxy.tripped
    assert "lost the connection" in message
    assert "the previous data is still live" in message
    assert live_summaries(loaded) == expected_live(reviews, loads=1)


def test_a_failure_after_publishing_says_the_new_data_is_live(
    loaded: ThrowawayDatabase, new_reviews: list[Review], new_source: Path
) -> None:
    """The link dies right after the switch committed, as the loader reads the new data
    version back: the operator must not be told the old data is still live."""
    with proxy_to(loaded.owner_url) as proxy:
        proxy.kill_when_client_sends(b"max(l.load_id)")  # the read-back after publishing
        message = load_fails(new_source, through(loaded.owner_url, proxy))
        assert proxy.tripped
    assert "the new data is live" in message
    assert "still live" not in message
    assert live_summaries(loaded) == expected_live(new_reviews, loads=2)


def copying_processes(loader_pid: int) -> list[int]:
    """The processes a load started to copy rows (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{loader_pid}/task/{loader_pid}/children")
    pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def loader_sessions(database: ThrowawayDatabase) -> int:
    with psycopg.connect(database.owner_url, autocommit=True) as connection:
        [(count,)] = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'reviews-api load'"
        ).fetchall()
    return int(count)


def staging_table_exists(database: ThrowawayDatabase) -> bool:
    # A session of its own each time: one transaction would not see the table appear.
    with psycopg.connect(database.owner_url, autocommit=True) as connection:
        [(table,)] = connection.execute(
            "SELECT to_regclass('review_admin.reviews_staging')"
        ).fetchall()
    return table is not None


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.02)


def test_a_crashed_copying_process_leaves_the_previous_data_live(
    loaded: ThrowawayDatabase, reviews: list[Review], tmp_path: Path
) -> None:
    # Split even a small source between two processes (the threshold is a setting).
    source = write_sqlite(tmp_path / "split.sqlite", generate_reviews(count=20_000, seed=10))
    loader = subprocess.Popen(
        [
            str(BIN / "reviews-api"),
            "load",
            "--source",
            str(source),
            "--database-url",
            loaded.owner_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOAD_PARALLEL_MIN_ROWS": "1000"},
    )
    try:
        # Hold the staging table from its creation on: no part can finish copying.
        wait_until(lambda: staging_table_exists(loaded), "the staging table exists")
        with psycopg.connect(loaded.owner_url) as holder:
            holder.execute("LOCK TABLE review_admin.reviews_staging IN ACCESS EXCLUSIVE MODE")
            # The loader's lock session and two work sessions, and the copying process's own.
            wait_until(lambda: loader_sessions(loaded) == 4, "the copying process connected")
            (copier,) = copying_processes(loader.pid)
            os.kill(copier, signal.SIGKILL)
            holder.rollback()
        _, stderr = loader.communicate(timeout=60)
    finally:
        if loader.poll() is None:
            loader.kill()
        loader.communicate()  # reaps it and closes its pipes, even when the test failed
    assert loader.returncode == 1, stderr
    assert "copying in 2 processes" in stderr
    assert "Traceback" not in stderr
    assert "the previous data is still live" in stderr
    wait_until(lambda: loader_sessions(loaded) == 0, "the loader's sessions end")
    assert live_summaries(loaded) == expected_live(reviews, loads=1)
