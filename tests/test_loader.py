"""`reviews-api load` and `reviews-api index`, through the real CLI, against real databases.

Sources are written by the tests (tests/review_rows.py rows as SQLite files and as 2018 and
2014 JSON-lines dumps); expected rows and summaries are computed from those rows in plain
Python (tests/oracle.py), never read back from the loader's own output.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import astuple, replace
from datetime import date
from pathlib import Path
from typing import Any

import oracle
import psycopg
import pytest
from conftest import BIN, load_generator, run_cli
from postgres_server import ThrowawayDatabase
from review_rows import Review, generate_reviews, make_review, write_sqlite

COLUMNS = (
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
)
QUOTED_COLUMNS = ", ".join(f'"{column}"' for column in COLUMNS)
SELECT_ROWS = f'SELECT {QUOTED_COLUMNS} FROM public.reviews ORDER BY "index"'
PRODUCT_SUMMARY = "SELECT * FROM review_api.product_review_summary(%s)"
REVIEWER_SUMMARY = "SELECT * FROM review_api.reviewer_review_summary(%s)"
# Ids with quotes, unicode and SQL in them (tests/review_rows.py AWKWARD_IDS).
CHECKED_IDS = ("it's", "Åström-ñ-漢字", "' OR '1'='1", "100%")
# Above the loader's PARALLEL_COPY_MIN_ROWS, so that it is copied by several processes.
LARGE_SOURCE_ROWS = 300_000


# --- Sources -------------------------------------------------------------------------------


def json_2018(review: Review) -> dict[str, Any]:
    """A review as a line of the 2018 dump: `asin`, boolean `verified`, optional `vote`,
    and the `style` and `image` fields the loader must ignore."""
    record: dict[str, Any] = {
        "overall": review.overall,
        "reviewTime": review.reviewTime,
        "reviewerID": review.reviewerID,
        "asin": review.productID,
        "reviewText": review.reviewText,
        "summary": review.summary,
        "unixReviewTime": review.unixReviewTime,
        "style": {"Color:": " Black"},
        "image": ["https://images.example/1.jpg"],
    }
    if review.verified is not None:
        record["verified"] = bool(review.verified)
    if review.reviewerName is not None:  # the dumps leave missing fields out
        record["reviewerName"] = review.reviewerName
    if review.vote is not None:
        record["vote"] = review.vote
    return record


def write_json_lines(path: Path, records: list[dict[str, Any] | str]) -> Path:
    """One JSON object per line (a str is written as is: a blank or broken line);
    gzipped when the name ends in .gz."""
    text = "".join(
        (record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n"
        for record in records
    )
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as file:
            file.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def raw_row(review: Review) -> tuple[Any, ...]:
    """What public.reviews must hold for a review: whole stars, a boolean verified."""
    verified = None if review.verified is None else bool(review.verified)
    return (review.index, int(review.overall), verified, *astuple(review)[3:])


# --- Databases -----------------------------------------------------------------------------


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(sql, params).fetchall()


def stored_rows(database: ThrowawayDatabase) -> list[tuple[Any, ...]]:
    return query(database.owner_url, SELECT_ROWS)


def data_loads(database: ThrowawayDatabase) -> list[tuple[Any, ...]]:
    return query(
        database.owner_url,
        "SELECT load_id, source_name, source_checksum, row_count FROM review_api.data_loads "
        "ORDER BY load_id",
    )


def summaries(database: ThrowawayDatabase, ids: tuple[str, ...] = CHECKED_IDS) -> dict[str, Any]:
    """Product and reviewer summaries of `ids`, asked as the read-only login."""
    with psycopg.connect(database.reader_url, autocommit=True) as connection:
        return {
            f"{kind} {entity}": connection.execute(sql, (entity,)).fetchone()
            for kind, sql in (("product", PRODUCT_SUMMARY), ("reviewer", REVIEWER_SUMMARY))
            for entity in ids
        }


def expected_summary(reviews: list[Review], kind: str, entity: str) -> tuple[Any, ...]:
    """The summary function's row, from the oracle (which answers None for no review)."""
    if kind == "product":
        body = oracle.product_summary(reviews, entity, None, None)
        distinct = "distinct_reviewers"
    else:
        body = oracle.reviewer_summary(reviews, entity, None, None)
        distinct = "distinct_products"
    if body is None:
        row: tuple[Any, ...] = (0, None, 0, 0, 0, 0, 0, 0, 0, 0, None, None)
        return (*row, None) if kind == "reviewer" else row
    row = (
        body["review_count"],
        body["average_rating"],
        *(body["rating_distribution"][str(stars)] for stars in range(1, 6)),
        body["verified_review_count"],
        body["helpful_votes"],
        body[distinct],
        date.fromisoformat(body["first_review_date"]),
        date.fromisoformat(body["last_review_date"]),
    )
    return (*row, body["reviewer_name"]) if kind == "reviewer" else row


def expected_summaries(reviews: list[Review], ids: tuple[str, ...] = CHECKED_IDS) -> dict[str, Any]:
    return {
        f"{kind} {entity}": expected_summary(reviews, kind, entity)
        for kind in ("product", "reviewer")
        for entity in ids
    }


def heap_fetches(database: ThrowawayDatabase) -> list[str]:
    """The Heap Fetches lines of the plans of both summaries, as run on the owner login with
    sequential scans off (on a table this small the planner would read it whole)."""
    lines = []
    with psycopg.connect(database.owner_url, autocommit=True) as connection:
        connection.execute("SET enable_seqscan = off")
        connection.execute("SET enable_bitmapscan = off")
        for sql in (PRODUCT_SUMMARY, REVIEWER_SUMMARY):
            plan = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", (CHECKED_IDS[0],))
            lines += [line.strip() for (line,) in plan if "Heap Fetches" in line]
    return lines


def load(source: Path, database: ThrowawayDatabase) -> subprocess.CompletedProcess[str]:
    return run_cli("load", "--source", str(source), "--database-url", database.owner_url)


def cli_fails(*arguments: str) -> str:
    """Run `reviews-api ARGUMENTS`, expect a non-zero exit; its stderr."""
    result = subprocess.run(
        [str(BIN / "reviews-api"), *arguments], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0, f"expected a failure:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def database(make_database: Callable[[], ThrowawayDatabase]) -> ThrowawayDatabase:
    return make_database()


@pytest.fixture
def sqlite_source(reviews: list[Review], tmp_path: Path) -> Path:
    return write_sqlite(tmp_path / "reviews.sqlite", reviews)


# --- Loading into PostgreSQL ---------------------------------------------------------------


def test_sqlite_source_round_trips(
    reviews: list[Review], sqlite_source: Path, database: ThrowawayDatabase
) -> None:
    result = load(sqlite_source, database)

    assert stored_rows(database) == [raw_row(r) for r in reviews]
    votes = query(database.owner_url, "SELECT vote, helpful_votes FROM public.reviews")
    assert {vote: helpful for vote, helpful in votes}["1,078"] == 1078
    assert all(helpful == int((vote or "0").replace(",", "")) for vote, helpful in votes)
    [(load_id, name, checksum, row_count)] = data_loads(database)
    assert (name, checksum, row_count) == ("reviews.sqlite", sha256(sqlite_source), len(reviews))
    assert summaries(database) == expected_summaries(reviews)
    assert f"loaded {len(reviews):,} rows" in result.stdout
    assert f"data version (load_id) {load_id}" in result.stdout
    assert "copied" in result.stderr  # progress goes to stderr
    # Vacuumed with no transaction of the loader's own holding the horizon back: every page
    # is all-visible, and the summaries' index-only scans never read the table.
    [(pages, all_visible)] = query(
        database.owner_url,
        "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'public.reviews'::regclass",
    )
    assert all_visible == pages > 0
    assert heap_fetches(database) and set(heap_fetches(database)) == {"Heap Fetches: 0"}
    [(retired,)] = query(database.owner_url, "SELECT to_regclass('review_admin.reviews_retired')")
    assert retired is None  # the previous rows are dropped after the publish


@pytest.mark.parametrize("name", ["reviews.json", "reviews.json.gz"])
def test_2018_json_lines_load(
    reviews: list[Review], database: ThrowawayDatabase, tmp_path: Path, name: str
) -> None:
    source = write_json_lines(tmp_path / name, [json_2018(r) for r in reviews])

    load(source, database)

    # generate_reviews numbers rows 0, 1, 2...: the line order, so the same indexes.
    assert stored_rows(database) == [raw_row(r) for r in reviews]
    assert data_loads(database)[0][1:] == (name, sha256(source), len(reviews))
    assert summaries(database) == expected_summaries(reviews)


def test_2014_json_lines_map_helpful_to_vote(database: ThrowawayDatabase, tmp_path: Path) -> None:
    day = date(2014, 2, 28)
    base = make_review(0, product="P", reviewer="R", day=day, stars=4)
    helpful_cases = {1: ([3, 5], "3"), 2: ([0, 2], None), 4: ([1078, 2000], "1,078")}
    records: list[dict[str, Any] | str] = []
    expected = []
    for line in range(1, 5):
        if line == 3:
            records.append("")  # a blank line is skipped but counted: index = line - 1
            continue
        helpful, vote = helpful_cases[line]
        review = replace(base, index=line - 1, reviewerID=f"R{line}", vote=vote)
        dropped = ("vote", "verified", "style", "image")  # not in the 2014 format
        record = {k: v for k, v in json_2018(review).items() if k not in dropped}
        records.append({**record, "helpful": helpful})
        expected.append(replace(review, verified=None))
    source = write_json_lines(tmp_path / "reviews_Musical_Instruments_5.json.gz", records)

    load(source, database)

    assert stored_rows(database) == [raw_row(r) for r in expected]
    assert [row[0] for row in stored_rows(database)] == [0, 1, 3]


def test_extra_sqlite_columns_are_ignored(
    reviews: list[Review], sqlite_source: Path, database: ThrowawayDatabase
) -> None:
    with closing(sqlite3.connect(sqlite_source)) as connection:
        connection.execute('ALTER TABLE "reviews" ADD COLUMN "level_0" INTEGER')
        connection.execute('UPDATE "reviews" SET "level_0" = "index" + 1000')
        connection.commit()

    load(sqlite_source, database)

    assert stored_rows(database) == [raw_row(r) for r in reviews]


def test_loading_twice_leaves_one_copy(
    reviews: list[Review], sqlite_source: Path, database: ThrowawayDatabase
) -> None:
    load(sqlite_source, database)
    load(sqlite_source, database)

    assert stored_rows(database) == [raw_row(r) for r in reviews]
    first, second = data_loads(database)
    assert second[0] > first[0]
    assert first[1:] == second[1:] == ("reviews.sqlite", sha256(sqlite_source), len(reviews))


def test_a_load_refuses_to_run_beside_another(
    sqlite_source: Path, database: ThrowawayDatabase
) -> None:
    with psycopg.connect(database.owner_url) as other_load:
        other_load.execute("SET application_name = 'reviews-api load'")
        # What a running load holds, for the whole load.
        other_load.execute("LOCK TABLE review_admin.load_lock IN EXCLUSIVE MODE")
        other_pid = other_load.info.backend_pid

        message = cli_fails(
            "load", "--source", str(sqlite_source), "--database-url", database.owner_url
        )

    assert "another load is running (session pid " in message
    assert f"pid {other_pid}, user postgres, application 'reviews-api load', idle in " in (message)
    assert data_loads(database) == []


def test_a_reader_cannot_hold_up_loads(
    reviews: list[Review], sqlite_source: Path, database: ThrowawayDatabase
) -> None:
    """Any role may take any advisory lock (the loader's key of old, 1919252087, included);
    the load lock is a table only its owner may lock."""
    with psycopg.connect(database.reader_url, autocommit=True) as reader:
        reader.execute("SELECT pg_advisory_lock(1919252087)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), reader.transaction():
            reader.execute("LOCK TABLE review_admin.load_lock IN ACCESS SHARE MODE")

        load(sqlite_source, database)

    assert stored_rows(database) == [raw_row(r) for r in reviews]


# --- Rejected sources: previous data stays live --------------------------------------------


@pytest.fixture(scope="module")
def loaded_database(
    make_module_database: ThrowawayDatabase, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ThrowawayDatabase, list[Review]]:
    """One database, loaded once, that every rejected load below must leave as it was."""
    reviews = generate_reviews()
    source = write_sqlite(tmp_path_factory.mktemp("baseline") / "base.sqlite", reviews)
    load(source, make_module_database)
    return make_module_database, reviews


def _json_with(
    line_500: Callable[[dict[str, Any]], dict[str, Any] | str],
) -> Callable[[Path], Path]:
    """A 1,000-line 2018 dump whose line 500 is changed by `line_500`."""

    def write(directory: Path) -> Path:
        reviews = generate_reviews(count=994, seed=11)  # + 6 edge cases: 1,000 lines
        records: list[dict[str, Any] | str] = [json_2018(r) for r in reviews]
        records[499] = line_500(json_2018(reviews[499]))
        return write_json_lines(directory / "bad.json", records)

    return write


def _sqlite_with(change: str) -> Callable[[Path], Path]:
    """The test rows as a SQLite file, then `change` (SQL) applied to it."""

    def write(directory: Path) -> Path:
        reviews = generate_reviews(count=994, seed=11)
        path = write_sqlite(directory / "bad.sqlite", reviews, with_indexes=False)
        with closing(sqlite3.connect(path)) as connection:
            connection.executescript(change)
        return path

    return write


REJECTED_SOURCES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "overall 7": (
        _json_with(lambda r: {**r, "overall": 7.0}),
        ["bad.json: line 500:", "overall=7.0 is not a whole star rating 1..5"],
    ),
    "half a star": (
        _json_with(lambda r: {**r, "overall": 4.5}),
        ["bad.json: line 500:", "overall=4.5 is not a whole star rating"],
    ),
    "bad vote": (
        _json_with(lambda r: {**r, "vote": "1.5"}),
        ["bad.json: line 500:", "vote='1.5' is not a vote count"],
    ),
    "empty reviewer": (
        _json_with(lambda r: {**r, "reviewerID": ""}),
        ["bad.json: line 500:", "reviewerID='' is not a non-empty text"],
    ),
    "missing asin": (
        _json_with(lambda r: {k: v for k, v in r.items() if k != "asin"}),
        ["bad.json: line 500:", "required field 'asin' is missing"],
    ),
    "broken JSON": (
        _json_with(lambda r: json.dumps(r)[:-5]),
        ["bad.json: line 500:", "not valid JSON"],
    ),
    "verified not a boolean": (
        _json_with(lambda r: {**r, "verified": "yes"}),
        ["bad.json: line 500:", "verified='yes' is not a boolean"],
    ),
    "rejected by PostgreSQL": (  # text PostgreSQL cannot store, found by the COPY itself
        _json_with(lambda r: {**r, "reviewText": "nul \u0000 byte"}),
        ["bad.json: line 500:", "PostgreSQL rejected the row", "0x00"],
    ),
    "review time in milliseconds": (
        _json_with(lambda r: {**r, "unixReviewTime": 1393545600000}),
        [
            "bad.json: line 500:",
            "unixReviewTime=1393545600000 is outside the review times a load accepts "
            "(1995-01-01 to 2099-12-31 UTC, in seconds)",
        ],
    ),
    "review time before 1995": (
        _json_with(lambda r: {**r, "unixReviewTime": 788918399}),
        ["bad.json: line 500:", "unixReviewTime=788918399 is outside the review times"],
    ),
    "index beyond 64 bits": (
        _sqlite_with('UPDATE "reviews" SET "index" = 9223372036854775807 * 2.0 WHERE "index" = 5;'),
        ["bad.sqlite: row with index=1.8446744073709552e+19:", "is not a 64-bit integer"],
    ),
    "vote with a space inside": (
        _json_with(lambda r: {**r, "vote": "1 078"}),
        ["bad.json: line 500:", "vote='1 078' is not a vote count like 2, 1078 or 1,078"],
    ),
    "SQLite half a star": (
        _sqlite_with('UPDATE "reviews" SET "overall" = 4.5 WHERE "index" = 499;'),
        ["bad.sqlite: row with index=499:", "overall=4.5 is not a whole star rating"],
    ),
    "SQLite null product": (
        _sqlite_with('UPDATE "reviews" SET "productID" = NULL WHERE "index" = 499;'),
        ["bad.sqlite: row with index=499:", "productID=None is not a non-empty text"],
    ),
    "SQLite missing column": (
        _sqlite_with('ALTER TABLE "reviews" DROP COLUMN "vote";'),
        ["bad.sqlite: table reviews lacks the required column(s) vote"],
    ),
    "SQLite duplicate index": (
        _sqlite_with('UPDATE "reviews" SET "index" = 7 WHERE "index" = 499;'),
        ["indexing the staged rows failed", "Key (index)=(7) is duplicated", "must be unique"],
    ),
    "not a review file": (
        lambda directory: write_json_lines(directory / "notes.txt", ["just some text"]),
        ["notes.txt: neither a SQLite database nor a JSON-lines dump"],
    ),
    "empty dump": (
        lambda directory: write_json_lines(directory / "empty.json", []),
        ["empty.json holds no reviews"],
    ),
}


@pytest.mark.parametrize("case", list(REJECTED_SOURCES))
def test_a_rejected_source_leaves_the_previous_data_live(
    loaded_database: tuple[ThrowawayDatabase, list[Review]], tmp_path: Path, case: str
) -> None:
    database, reviews = loaded_database
    write_source, expected_fragments = REJECTED_SOURCES[case]
    loads_before = data_loads(database)

    message = cli_fails(
        "load", "--source", str(write_source(tmp_path)), "--database-url", database.owner_url
    )

    for fragment in expected_fragments:
        assert fragment in message
    assert "the previous data is still live" in message
    assert stored_rows(database) == [raw_row(r) for r in reviews]
    assert summaries(database) == expected_summaries(reviews)
    assert data_loads(database) == loads_before


# --- Killed loads and concurrent readers ---------------------------------------------------


@pytest.fixture(scope="module")
def large_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated source big enough that a load is still copying a second in, and that
    the loader splits it between several copying processes."""
    path = tmp_path_factory.mktemp("large") / "large.sqlite"
    load_generator().generate(path, LARGE_SOURCE_ROWS)
    return path


def loader_sessions(database: ThrowawayDatabase) -> int:
    [(count,)] = query(
        database.owner_url,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'reviews-api load'",
    )
    return int(count)


def wait_for_line(process: subprocess.Popen[str], prefix: str) -> str:
    """The first line of the process's stderr starting with `prefix`."""
    assert process.stderr is not None
    seen = []
    while line := process.stderr.readline():
        if line.startswith(prefix):
            return line
        seen.append(line)
    raise AssertionError(f"no {prefix!r} line before exit {process.wait()}:\n{''.join(seen)}")


def wait_until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_large_sqlite_source_is_copied_whole_by_several_processes(
    large_source: Path, database: ThrowawayDatabase
) -> None:
    result = load(large_source, database)

    assert "copying in 2 processes" in result.stderr
    # Row by row against the source file, both streamed in index order (flat memory).
    compared = 0
    with (
        closing(sqlite3.connect(large_source)) as source,
        psycopg.connect(database.owner_url) as target,
        target.cursor(name="stored_rows") as stored,
    ):
        expected = source.execute(f'SELECT {QUOTED_COLUMNS} FROM "reviews" ORDER BY "index"')
        stored.execute(SELECT_ROWS)
        for want, got in itertools.zip_longest(expected, stored):
            verified = None if want[2] is None else bool(want[2])
            assert got == (want[0], int(want[1]), verified, *want[3:])
            compared += 1
    assert compared == LARGE_SOURCE_ROWS
    assert data_loads(database)[0][1:] == ("large.sqlite", sha256(large_source), compared)


def test_a_killed_load_leaves_the_previous_data_live(
    reviews: list[Review], sqlite_source: Path, large_source: Path, database: ThrowawayDatabase
) -> None:
    load(sqlite_source, database)
    command = ["load", "--source", str(large_source), "--database-url", database.owner_url]
    process = subprocess.Popen(
        [str(BIN / "reviews-api"), *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(process, "copied ")  # mid-COPY: rows are in the staging table
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
    # The server ends the session (and its lock) once it sees the client gone.
    wait_until(lambda: loader_sessions(database) == 0)

    assert stored_rows(database) == [raw_row(r) for r in reviews]
    assert summaries(database) == expected_summaries(reviews)
    assert len(data_loads(database)) == 1
    [(leftover,)] = query(database.owner_url, "SELECT to_regclass('review_admin.reviews_staging')")
    assert leftover is not None  # the killed load had started; the next one drops it

    load(sqlite_source, database)

    assert stored_rows(database) == [raw_row(r) for r in reviews]
    assert len(data_loads(database)) == 2


def test_readers_see_the_old_or_the_new_data_never_an_error(
    reviews: list[Review], sqlite_source: Path, database: ThrowawayDatabase, tmp_path: Path
) -> None:
    new_reviews = generate_reviews(count=20_000, seed=8)
    new_source = write_sqlite(tmp_path / "new.sqlite", new_reviews)
    old, new = expected_summaries(reviews), expected_summaries(new_reviews)
    assert all(old[key] != new[key] for key in old), "pick ids whose answers change"
    load(sqlite_source, database)
    observed: list[tuple[str, Any]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_continuously() -> None:
        # One session, so its prepared statements (psycopg prepares after 5 runs) must
        # survive the swap too.
        try:
            with psycopg.connect(database.reader_url, autocommit=True) as connection:
                while not stop.is_set():
                    for key in old:
                        kind, entity = key.split(" ", 1)
                        sql = PRODUCT_SUMMARY if kind == "product" else REVIEWER_SUMMARY
                        observed.append((key, connection.execute(sql, (entity,)).fetchone()))
        except psycopg.Error as error:
            errors.append(error)

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        wait_until(lambda: len(observed) > 100)
        load(new_source, database)
        seen_after = len(observed)
        wait_until(lambda: len(observed) > seen_after + 100)
    finally:
        stop.set()
        reader.join()

    assert errors == []
    versions = []
    for key, answer in observed:
        assert answer in (old[key], new[key]), f"{key}: {answer}"
        versions.append(answer == new[key])
    # Old answers, then new ones, never back: the switch is one instant for readers.
    assert versions == sorted(versions)
    assert 0 < versions.count(True) < len(versions)


# --- SQLite target and `index` --------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"  # four slashes: an absolute path


def schema_of(path: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()


def sqlite_rows(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute('SELECT * FROM "reviews" ORDER BY "index"').fetchall()


def test_json_dump_to_a_sqlite_file(reviews: list[Review], tmp_path: Path) -> None:
    source = write_json_lines(tmp_path / "reviews.json.gz", [json_2018(r) for r in reviews])
    target = tmp_path / "out" / "reviews.sqlite"
    reference = write_sqlite(tmp_path / "reference.sqlite", reviews, with_indexes=True)

    result = run_cli("load", "--source", str(source), "--target", sqlite_url(target))

    assert schema_of(target) == schema_of(reference)  # original table + dev indexes
    assert sqlite_rows(target) == [astuple(r) for r in reviews]  # overall 5.0, verified 0/1
    with closing(sqlite3.connect(target)) as connection:
        assert connection.execute(
            'SELECT DISTINCT typeof("overall") FROM "reviews"'
        ).fetchall() == [("real",)]
    assert f"loaded {len(reviews):,} rows" in result.stdout
    assert sorted(p.name for p in target.parent.iterdir()) == ["reviews.sqlite"]  # no scratch


def test_a_failed_sqlite_write_leaves_the_target_alone(tmp_path: Path) -> None:
    target = write_sqlite(tmp_path / "target.sqlite", generate_reviews(count=10))
    before = target.read_bytes()
    source = write_json_lines(tmp_path / "bad.json", [{"overall": 5.0}])

    message = cli_fails("load", "--source", str(source), "--target", sqlite_url(target))

    assert "bad.json: line 1: required field" in message
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "target.sqlite"]


def test_the_sqlite_target_cannot_be_the_source(sqlite_source: Path) -> None:
    before = sqlite_source.read_bytes()

    message = cli_fails(
        "load", "--source", str(sqlite_source), "--target", sqlite_url(sqlite_source)
    )

    assert "is the source itself" in message
    assert sqlite_source.read_bytes() == before


def test_index_adds_the_development_indexes_idempotently(
    reviews: list[Review], tmp_path: Path
) -> None:
    bare = write_sqlite(tmp_path / "copy.sqlite", reviews, with_indexes=False)
    indexed = write_sqlite(tmp_path / "indexed.sqlite", reviews, with_indexes=True)
    assert schema_of(bare) != schema_of(indexed)

    run_cli("index", "--database-url", sqlite_url(bare))
    assert schema_of(bare) == schema_of(indexed)
    run_cli("index", "--database-url", sqlite_url(bare))
    assert schema_of(bare) == schema_of(indexed)
    assert sqlite_rows(bare) == [astuple(r) for r in reviews]


def test_index_refuses_what_is_not_a_review_database(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    missing = tmp_path / "missing.sqlite"

    assert "no table named reviews" in cli_fails("index", "--database-url", sqlite_url(other))
    assert "does not exist" in cli_fails("index", "--database-url", sqlite_url(missing))
    assert not missing.exists()


# --- Odd sources: bad rows skipped, Python-literal dumps, a byte order mark ------------------


def odd_dump(directory: Path, name: str = "odd.json") -> tuple[Path, list[Review], list[int]]:
    """A 2018 dump of 20 good lines with bad ones among them; (path, the good rows, the bad
    lines' numbers)."""
    reviews = generate_reviews(count=14, seed=5)  # + 6 edge cases: 20 good rows
    records: list[dict[str, Any] | str] = [json_2018(r) for r in reviews]
    bad = {
        3: lambda r: {**r, "overall": 0.5},
        7: lambda r: "{not json",
        11: lambda r: {k: v for k, v in r.items() if k != "reviewerID"},
        16: lambda r: {**r, "unixReviewTime": 1393545600000},
    }
    lines: list[dict[str, Any] | str] = []
    good: list[Review] = []
    for record, review in zip(records, reviews, strict=True):
        while len(lines) + 1 in bad:
            lines.append(bad[len(lines) + 1](json_2018(reviews[0])))
        good.append(replace(review, index=len(lines)))  # index = line - 1
        lines.append(record)
    return write_json_lines(directory / name, lines), good, sorted(bad)


def rejected_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("target", ["postgres", "sqlite"])
def test_skipping_bad_rows_loads_the_good_ones_and_lists_the_others(
    database: ThrowawayDatabase, tmp_path: Path, target: str
) -> None:
    source, good, bad_lines = odd_dump(tmp_path)
    rejects = tmp_path / "rejects.jsonl"
    destination = (
        ["--database-url", database.owner_url]
        if target == "postgres"
        else ["--target", sqlite_url(tmp_path / "out.sqlite")]
    )

    result = run_cli(
        "load", "--source", str(source), *destination, "--on-bad-row", "skip", "--rejects",
        str(rejects),
    )  # fmt: skip

    listed = rejected_lines(rejects)
    assert [entry["line"] for entry in listed] == bad_lines
    assert {entry["source"] for entry in listed} == {str(source)}
    reasons = [entry["reason"] for entry in listed]
    assert "overall=0.5 is not a whole star rating" in reasons[0]
    assert "not valid JSON" in reasons[1]
    assert "required field 'reviewerID' is missing" in reasons[2]
    assert "unixReviewTime=1393545600000 is outside the review times" in reasons[3]
    assert f"loaded {len(good)} rows" in result.stdout
    assert f"skipped {len(bad_lines)} bad rows, listed in {rejects}" in result.stdout
    if target == "postgres":
        assert stored_rows(database) == [raw_row(r) for r in good]
    else:
        assert sqlite_rows(tmp_path / "out.sqlite") == [astuple(r) for r in good]


def test_by_default_a_bad_row_fails_the_whole_load(
    database: ThrowawayDatabase, tmp_path: Path
) -> None:
    source, _, bad_lines = odd_dump(tmp_path)
    message = cli_fails("load", "--source", str(source), "--database-url", database.owner_url)
    assert f"odd.json: line {bad_lines[0]}: overall=0.5" in message
    assert data_loads(database) == []


def test_skipped_rows_of_a_large_source_are_listed_by_every_copying_process(
    large_source: Path, database: ThrowawayDatabase, tmp_path: Path
) -> None:
    source = tmp_path / "large-odd.sqlite"
    source.write_bytes(large_source.read_bytes())
    with closing(sqlite3.connect(source)) as connection:  # one bad row in each half
        connection.execute('UPDATE "reviews" SET "overall" = 9 WHERE "index" IN (10, 299990)')
        connection.commit()
    rejects = tmp_path / "rejects.jsonl"

    result = run_cli(
        "load", "--source", str(source), "--database-url", database.owner_url,
        "--on-bad-row", "skip", "--rejects", str(rejects),
    )  # fmt: skip

    assert "copying in 2 processes" in result.stderr
    assert [entry["index"] for entry in rejected_lines(rejects)] == [10, 299990]
    assert data_loads(database)[0][3] == LARGE_SOURCE_ROWS - 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large-odd.sqlite", "rejects.jsonl"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--on-bad-row", "skip"], "--on-bad-row skip needs --rejects FILE"),
        (["--rejects", "x.jsonl"], "--rejects goes with --on-bad-row skip"),
        (["--wait-timeout", "0"], "--wait-timeout takes seconds"),
    ],
)
def test_load_options_are_checked(sqlite_source: Path, arguments: list[str], message: str) -> None:
    stderr = cli_fails("load", "--source", str(sqlite_source), *arguments, "--target",
                       "sqlite:///never.sqlite")  # fmt: skip
    assert message in stderr
    assert not Path("never.sqlite").exists()


def python_literal(review: Review) -> str:
    """A review as a line of the 2014 dumps as often distributed: a Python dict's repr
    (single quotes, True/False), with `helpful` and no `verified`."""
    record = json_2018(review)
    for field in ("vote", "verified", "style", "image"):
        record.pop(field, None)
    return repr({**record, "helpful": [int((review.vote or "0").replace(",", "")), 9]})


def test_2014_python_literal_lines_load_and_are_never_run(
    database: ThrowawayDatabase, tmp_path: Path
) -> None:
    reviews = [replace(r, verified=None) for r in generate_reviews(count=30, seed=3)]
    marker = tmp_path / "ran"
    lines: list[dict[str, Any] | str] = [python_literal(r) for r in reviews]
    assert lines[0].startswith("{'overall': ")  # not JSON
    lines.append(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    source = write_json_lines(tmp_path / "reviews_Musical_Instruments_5.json", lines)
    rejects = tmp_path / "rejects.jsonl"

    run_cli(
        "load", "--source", str(source), "--database-url", database.owner_url,
        "--on-bad-row", "skip", "--rejects", str(rejects),
    )  # fmt: skip

    expected = [replace(r, vote=None if not r.vote or r.vote == "0" else r.vote) for r in reviews]
    assert stored_rows(database) == [raw_row(r) for r in expected]
    [code_line] = rejected_lines(rejects)
    assert code_line["line"] == len(reviews) + 1
    assert "nor a Python dict literal" in code_line["reason"]
    assert not marker.exists()


@pytest.mark.parametrize("name", ["bom.json", "bom.json.gz"])
def test_a_byte_order_mark_at_the_start_is_skipped(
    reviews: list[Review], database: ThrowawayDatabase, tmp_path: Path, name: str
) -> None:
    text = "".join(json.dumps(json_2018(r)) + "\n" for r in reviews)
    source = tmp_path / name
    data = b"\xef\xbb\xbf" + text.encode()
    source.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    load(source, database)

    assert stored_rows(database) == [raw_row(r) for r in reviews]


@pytest.mark.parametrize(
    ("case", "change", "message"),
    [
        (
            "review time in milliseconds",
            'UPDATE "reviews" SET "unixReviewTime" = 1393545600000 WHERE "index" = 42;',
            "row with index=42: unixReviewTime=1393545600000 is outside the review times",
        ),
        (
            "duplicated index",
            'UPDATE "reviews" SET "index" = 7 WHERE "index" = 42;',
            "index=7 is on more than one row; the source's index column must be unique",
        ),
    ],
)
def test_the_sqlite_target_refuses_what_postgresql_refuses(
    reviews: list[Review], tmp_path: Path, case: str, change: str, message: str
) -> None:
    source = write_sqlite(tmp_path / "bad.sqlite", reviews, with_indexes=False)
    with closing(sqlite3.connect(source)) as connection:
        connection.executescript(change)
    target = tmp_path / "out.sqlite"

    stderr = cli_fails("load", "--source", str(source), "--target", sqlite_url(target))

    assert message in stderr
    assert not target.exists()
