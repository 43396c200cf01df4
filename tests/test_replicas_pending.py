"""Issue 16, items 3 to 5: what the service does across replicas while loads replay,
against the real processes of tests/replication.py (written before the service did it,
hence the file's name; `-s` prints the figures):

    .venv/bin/pytest tests/test_replicas_pending.py -s

The expectations:
- the ETag names the data version of the rows its answer was computed from; a worker
  switches to a load once its read database has replayed it;
- If-None-Match naming a version newer than the worker serves: 503 with Retry-After: 1;
- a query cancelled by a recovery conflict (SQLSTATE 40001) is retried once, counted in
  RETRY_COUNTER of /metrics, and never shown to the client;
- /health/ready's body has `replay_lag_s` (0 on a primary, and on a standby that has
  replayed all it received) and is a 503 with Retry-After above REPLICA_MAX_LAG_S.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import httpx
import oracle
import psycopg
import pytest
from conftest import load_on_primary, stop_server, summary_path
from replication import ReplicaDatabase, ReplicaSet
from review_rows import Review, generate_reviews, make_review
from test_replicas import (
    READ_PATHS,
    Sampler,
    agrees,
    all_summaries,
    answer,
    mismatches,
    serve,
    tag_version,
)

# The /metrics counter of queries retried after a recovery conflict.
RETRY_COUNTER = "reviews_api_db_query_retries_total"
# How soon after the standby has replayed a load every worker must serve it: a worker asks
# its standby at most every 100 ms (service/http/data_version.py POLL_MAX_S); measured
# 130 to 180 ms with 2 workers on a busy machine.
SWITCH_BOUND_S = 3.0
# How long the tests watch the workers while the standby is held behind the primary.
BEHIND_WATCH_S = 2.0
MAX_LAG_S = "1"
IDLE_WATCH_S = 30
CONFLICT_WAIT_LOADS = 12
HEAVY_PRODUCT = "HEAVY"


def old_and_new() -> tuple[list[Review], list[Review]]:
    """Two loads that answer differently for most ids."""
    return generate_reviews(seed=21), generate_reviews(count=450, seed=22)


def retries(base_url: str) -> float:
    """RETRY_COUNTER summed over its labels (0 when the service has no such counter)."""
    exposition = httpx.get(f"{base_url}/metrics", timeout=10).text
    pattern = rf"^{RETRY_COUNTER}(?:\{{[^}}]*\}})? (\S+)$"
    return sum(float(value) for value in re.findall(pattern, exposition, re.MULTILINE))


def ready(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/health/ready", timeout=10)


# --- item 3: never stale, never mixed -------------------------------------------------------


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_a_worker_serves_what_its_standby_has_and_switches_once_it_has_replayed(
    make_replica_database: Callable[[list[Review]], ReplicaDatabase],
    replicas: ReplicaSet,
    read_path: str,
    tmp_path: Path,
) -> None:
    """Replay held while a load commits on the primary: the workers hear of it at once
    (LISTEN on the primary), but their standby still has the old rows."""
    old, new = old_and_new()
    database = make_replica_database(old)
    server = serve(database, read_path, tmp_path / "server.log", WORKERS="2")
    expected_old, expected_new = all_summaries(old), all_summaries(new)
    paths = [path for path, body in expected_old.items() if body and expected_new[path]]
    try:
        with server.client() as client:  # the response caches hold the old answers
            assert mismatches(client, expected_old) == []
        with replicas.replay_paused():
            load_on_primary(database, new, tmp_path / "new.sqlite")
            watch_until = time.monotonic() + BEHIND_WATCH_S
            wrong = []
            while time.monotonic() < watch_until:
                for path in paths[:20]:
                    with server.client() as client:  # new connections: every worker
                        status, body, etag = answer(client, path)
                    if not agrees(status, body, expected_old[path]) or tag_version(etag) != "1":
                        wrong.append((path, status, tag_version(etag)))
            assert wrong == [], f"{len(wrong)} answers not the old rows tagged 1: {wrong[:3]}"
            with server.client() as client:
                # A tag of the service's making from the new load (another instance's).
                newer = client.get(paths[0], headers={"If-None-Match": f'"2-{"0" * 24}"'})
            assert (newer.status_code, newer.headers.get("retry-after")) == (503, "1")
        replicas.wait_for_replay()
        replayed = time.monotonic()
        while True:  # every worker serves the new load within the bound
            with server.client() as client:
                bodies = {path: answer(client, path)[1] for path in paths[:5]}
            if all(body == expected_new[path] for path, body in bodies.items()):
                break
            assert time.monotonic() - replayed < SWITCH_BOUND_S * 2, "the new load not served"
            time.sleep(0.02)
        switched_s = time.monotonic() - replayed
        for _ in range(4):
            with server.client() as client:
                assert mismatches(client, expected_new) == []
                assert tag_version(answer(client, paths[0])[2]) == "2"
    finally:
        stop_server(server)
    print(f"\n{read_path}: new load served {switched_s * 1000:.0f} ms after its replay")
    assert switched_s < SWITCH_BOUND_S


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_answers_during_loads_are_the_old_or_the_new_rows_tagged_with_their_version(
    make_replica_database: Callable[[list[Review]], ReplicaDatabase],
    replicas: ReplicaSet,
    read_path: str,
    tmp_path: Path,
) -> None:
    """Loads on the primary while clients read through the standby, without pausing:
    versions 1 and 3 hold the old rows, 2 and 4 the new."""
    old, new = old_and_new()
    database = make_replica_database(old)
    server = serve(database, read_path, tmp_path / "server.log", WORKERS="2")
    expected = {"old": all_summaries(old), "new": all_summaries(new)}
    versions = {"old": {"1", "3"}, "new": {"2", "4"}}
    try:
        with Sampler(server.base_url, list(expected["old"]), clients=6) as sampler:
            sampler.wait_for(50)
            for number, rows in enumerate((new, old, new), start=2):
                load_on_primary(database, rows, tmp_path / f"load{number}.sqlite")
                time.sleep(0.5)
            replicas.wait_for_replay()
            time.sleep(SWITCH_BOUND_S)  # then every answer is the last load's
            settled = time.monotonic()
            sampler.wait_for(len(sampler.answers) + 50)
    finally:
        stop_server(server)
    wrong = []
    for began, _, path, status, body, etag in sampler.answers:
        # Some paths answer the same in both loads: then either load's versions will do.
        rows = [name for name in expected if agrees(status, body, expected[name][path])]
        tagged = tag_version(etag)
        if not rows or (status == 200 and not any(tagged in versions[name] for name in rows)):
            wrong.append((path, status, "/".join(rows) or "neither", tagged))
        elif began > settled and ("new" not in rows or (status == 200 and tagged != "4")):
            wrong.append((path, status, f"{'/'.join(rows)} after the replay", tagged))
    print(f"\n{read_path}: {len(sampler.answers)} answers, {len(wrong)} wrong: {wrong[:3]}")
    assert wrong == []


# --- item 4: no errors and no stall during a load --------------------------------------------


def with_heavy_product(rows: list[Review], count: int, seed: int) -> list[Review]:
    """`rows` and `count` reviews of HEAVY_PRODUCT: a summary of it reads that many index
    entries, so the API's queries of it hold the tables for milliseconds."""
    rng = random.Random(seed)
    start = max(review.index for review in rows) + 1
    heavy = [
        make_review(
            start + n,
            product=HEAVY_PRODUCT,
            reviewer=f"H{n % 5000:05d}",
            day=date(2010, 1, 1) + timedelta(days=rng.randrange(3000)),
            stars=rng.randint(1, 5),
        )
        for n in range(count)
    ]
    return rows + heavy


def cancelled_by_replay(replicas: ReplicaSet, database: ReplicaDatabase) -> int:
    """Statements the standby has cancelled in `database` to let replay go on (its log)."""
    return sum(
        1
        for line in replicas.standby.server.log().splitlines()
        if f"@{database.name} " in line and "conflict with recovery" in line
    )


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_queries_cancelled_by_replay_are_retried_never_shown(
    make_replica_database: Callable[[list[Review]], ReplicaDatabase],
    replicas: ReplicaSet,
    read_path: str,
    tmp_path: Path,
) -> None:
    """max_standby_streaming_delay = 0: replaying the load's swap cancels at once the API
    queries holding the tables on the standby (SQLSTATE 40001). Clients ask mostly for
    HEAVY_PRODUCT, whose queries take milliseconds, and loads go on until the standby has
    cancelled some, at most CONFLICT_WAIT_LOADS."""
    old = with_heavy_product(generate_reviews(seed=21), 40_000, seed=1)
    new = with_heavy_product(generate_reviews(count=450, seed=22), 39_000, seed=2)
    database = make_replica_database(old)
    server = serve(database, read_path, tmp_path / "server.log", CACHE_ENTRIES="0")
    paths = [
        summary_path("products", HEAVY_PRODUCT),
        summary_path("products", HEAVY_PRODUCT, date(2011, 1, 1), date(2016, 12, 31)),
        summary_path("products", "ENDS"),
    ]
    expected = {path: {oracle_body(rows, path) for rows in (old, new)} for path in paths}
    before = cancelled_by_replay(replicas, database)
    loads = 0
    try:
        with (
            replicas.standby.settings(max_standby_streaming_delay="0"),
            Sampler(server.base_url, paths, clients=6) as sampler,
        ):
            sampler.wait_for(50)
            while cancelled_by_replay(replicas, database) == before:
                assert loads < CONFLICT_WAIT_LOADS, "no query was ever in the replay's way"
                loads += 1
                rows = new if loads % 2 else old
                load_on_primary(database, rows, tmp_path / f"load{loads}.sqlite")
                replicas.wait_for_replay()
            sampler.wait_for(len(sampler.answers) + 50)
        retried = retries(server.base_url)
    finally:
        stop_server(server)
    conflicts = cancelled_by_replay(replicas, database) - before
    errors = [(status, body) for *_, status, body, _ in sampler.answers if status >= 500]
    print(
        f"\n{read_path}: {loads} loads, {conflicts} queries cancelled by the standby, "
        f"{len(errors)} answers 5xx of {len(sampler.answers)}, {retried:g} retries counted"
    )
    assert errors == []
    assert retried >= 1
    for _, _, path, status, body, _ in sampler.answers:
        assert status == 200 and json.dumps(body, sort_keys=True) in expected[path], path


def oracle_body(rows: list[Review], path: str) -> str:
    """The oracle's body for one of the product paths of the test above, as sorted JSON."""
    bounds = (None, None)
    if "?" in path:
        bounds = (date(2011, 1, 1), date(2016, 12, 31))
    product = path.split("/")[3]
    return json.dumps(oracle.product_summary(rows, product, *bounds), sort_keys=True)


# --- item 5: readiness knows about lag -------------------------------------------------------


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_readiness_reports_the_lag_and_fails_above_the_bound_while_replay_is_paused(
    make_replica_database: Callable[[list[Review]], ReplicaDatabase],
    replicas: ReplicaSet,
    read_path: str,
    tmp_path: Path,
) -> None:
    old, new = old_and_new()
    database = make_replica_database(old)
    server = serve(database, read_path, tmp_path / "server.log", REPLICA_MAX_LAG_S=MAX_LAG_S)
    try:
        assert ready(server.base_url).status_code == 200
        with replicas.replay_paused():
            load_on_primary(database, new, tmp_path / "new.sqlite")
            deadline = time.monotonic() + 10
            while (behind := ready(server.base_url)).status_code == 200:
                assert time.monotonic() < deadline, f"still ready, replay paused: {behind.text}"
                time.sleep(0.1)
            assert behind.status_code == 503, behind.text
            assert behind.headers["content-type"] == "application/problem+json"
            assert "retry-after" in behind.headers
        replicas.wait_for_replay()
        deadline = time.monotonic() + 10
        while (caught_up := ready(server.base_url)).status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the replay"
            time.sleep(0.1)
        assert caught_up.json()["replay_lag_s"] == 0
    finally:
        stop_server(server)


@pytest.mark.parametrize("read_path", ["primary", *READ_PATHS])
def test_an_idle_primary_never_makes_the_standby_unready(
    make_replica_database: Callable[[list[Review]], ReplicaDatabase],
    replicas: ReplicaSet,
    read_path: str,
    tmp_path: Path,
) -> None:
    """Nothing committed on the primary for a while: `now() -
    pg_last_xact_replay_timestamp()` passes REPLICA_MAX_LAG_S on the standby, yet it has
    replayed everything it received, so its lag is 0. Autovacuum is off meanwhile: on the
    tables earlier tests loaded it commits for a minute or more, and the watch goes on until
    the trap was there (at most IDLE_WATCH_S)."""
    database = make_replica_database(generate_reviews(count=50, seed=23))
    server = serve(database, read_path, tmp_path / "server.log", REPLICA_MAX_LAG_S=MAX_LAG_S)
    trapped = False
    stack = ExitStack()
    try:
        stack.enter_context(replicas.primary.settings(autovacuum="off"))
        replicas.wait_for_replay()
        idle_since = time.monotonic()
        # autocommit: now() is a transaction's start, which must not stay the first query's.
        with psycopg.connect(replicas.standby.admin_url(database.name), autocommit=True) as admin:
            while not trapped or time.monotonic() - idle_since < 2 * float(MAX_LAG_S) + 1:
                assert time.monotonic() - idle_since < IDLE_WATCH_S, "the primary never idled"
                response = ready(server.base_url)
                assert response.status_code == 200, response.text
                assert response.json()["replay_lag_s"] == 0
                (since_last_commit,) = admin.execute(
                    "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
                ).fetchone()
                trapped = trapped or float(since_last_commit) > float(MAX_LAG_S)
                time.sleep(0.2)
    finally:
        stack.close()
        stop_server(server)
