#!/usr/bin/env python3
"""The service on PostgreSQL's own replication, measured in one run (issue 16).

    .venv/bin/python scripts/bench/replicas.py --rows 231k         # about 10 minutes
    .venv/bin/python scripts/bench/replicas.py --rows 20k --duration 3 --c1-duration 2 \\
        --rounds 1 --loads 2 --no-stall --no-report                # a quick check

1. Reads: `reviews-api serve` reading from the primary, from a streaming standby, and
   through pgbouncer (transaction mode) in front of that standby, response cache off (every
   request reads the database), driven by wrk with scripts/bench_requests.lua over a
   request list drawn as scripts/benchmark draws it, -c32 then -c1, the three servers
   alternating in rounds after a warm-up. Requests per second, p50/p99, and CPU per request
   of each part (the API's processes, the primary's and the standby's PostgreSQL processes,
   pgbouncer) from /proc: CPU time on a shared machine, noisy; medians of the rounds.
2. Replication window: --loads loads on the primary, alternating the data set and a copy
   with every tenth review left out (so that answers change); for each, the time from its
   commit on the primary (its data_loads row visible there) to that row being visible on
   the standby, and to the API reading the standby answering the new rows; how far behind
   the standby fell meanwhile (WAL bytes not replayed, pg_stat_replication.replay_lag).
3. Stall: a BI session on the standby holds the view in an open transaction while a load
   replays; the API's worst answer and its errors (through the standby, cache off), with
   max_standby_streaming_delay at its default (30 s) and at 1 s (the README's setting for
   standbys that serve the API). --no-stall leaves this out (about 45 s).

The primary, the standby and pgbouncer are tests/replication.py's (clusters of their own
made with initdb and pg_basebackup, on free loopback ports, with durable settings: fsync
on, shared_buffers 128MB), stopped by PID at the end whatever happens, like the API
servers (process groups); --time-limit bounds the run. The figures replace this script's
region of docs/benchmarks.md unless --no-report.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.machinery
import importlib.util
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the replica set the tests use, not a copy of it
from postgres_server import create_database  # noqa: E402
from replication import ReplicaDatabase, ReplicaSet, replica_set  # noqa: E402

BIN = ROOT / ".venv" / "bin"
REPORT = ROOT / "docs" / "benchmarks.md"
REGION_BEGIN = "<!-- scripts/bench/replicas.py results: begin (generated; edit outside) -->"
REGION_END = "<!-- scripts/bench/replicas.py results: end -->"
READERS = ("primary", "standby", "pgbouncer")
POLL_INTERVAL_S = 0.001
WINDOW_TIMEOUT_S = 120
STALL_CLIENTS = 4
API_STANDBY_DELAY = "1s"


def _benchmark_module() -> ModuleType:
    """scripts/benchmark (a file without .py): its process, wrk and data-set helpers."""
    path = ROOT / "scripts" / "benchmark"
    loader = importlib.machinery.SourceFileLoader("reviews_api_benchmark", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while being built
    loader.exec_module(module)
    return module


bench = _benchmark_module()
STARTED = time.monotonic()
LOAD_AVERAGE_AT_START = os.getloadavg()[0]


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench/replicas.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=bench.parse_rows, default=231_000, help="231k, 2m")
    parser.add_argument("--seed", type=int, default=bench.DEFAULT_SEED)
    parser.add_argument("--duration", type=float, default=10.0, help="s per -c32 run")
    parser.add_argument("--c1-duration", type=float, default=5.0, help="s per -c1 run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pool-max", type=int, default=4, help="DB_POOL_MAX")
    parser.add_argument("--bouncer-pool", type=int, default=4, help="pgbouncer server pool")
    parser.add_argument("--loads", type=int, default=5, help="loads timed for the window")
    parser.add_argument("--no-stall", action="store_true", help="leave out part 3")
    parser.add_argument("--time-limit", type=float, default=30.0, help="minutes")
    parser.add_argument("--no-report", action="store_true", help="leave docs/ alone")
    return parser.parse_args()


# --- data -----------------------------------------------------------------------------------


def data_sets(rows: int, seed: int) -> tuple[Path, Path]:
    """scripts/benchmark's data set (generated once, cached in /tmp) and a copy of it
    without every tenth review."""
    bench.DATA_CACHE.mkdir(parents=True, exist_ok=True)
    full = bench.DATA_CACHE / f"reviews-{rows}-seed{seed}.sqlite"
    if not full.exists():
        say(f"data set: generating {rows:,} rows into {full}")
        bench.run(
            [BIN / "python", bench.GENERATOR, "--rows", rows, "--seed", seed, "--output", full],
            timeout=1800,
        )
    thinned = bench.DATA_CACHE / f"reviews-{rows}-seed{seed}-thinned.sqlite"
    if not thinned.exists():
        partial = thinned.with_suffix(".tmp")
        shutil.copyfile(full, partial)
        with contextlib.closing(sqlite3.connect(partial)) as connection:
            connection.execute('DELETE FROM reviews WHERE "index" % 10 = 0')
            connection.commit()
        partial.rename(thinned)
    return full, thinned


def product_counts(source: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(source)) as connection:
        rows = connection.execute('SELECT "productID", count(*) FROM reviews GROUP BY 1')
        return {str(product): int(count) for product, count in rows}


def draw_requests(source: Path, seed: int, path: Path) -> None:
    """scripts/benchmark's request list (its shares of ids, ranges and unknown ids), drawn
    from the source's rows."""
    with contextlib.closing(sqlite3.connect(source)) as connection:
        reviews = connection.execute(
            'SELECT "productID", "reviewerID", "unixReviewTime" FROM reviews ORDER BY "index"'
        ).fetchall()
    rng = random.Random(seed)
    sample = rng.sample(reviews, min(bench.REQUEST_LIST_SIZE, len(reviews)))
    paths = []
    for product_id, reviewer_id, unix_time in sample:
        kind, entity = (
            ("products", product_id) if rng.random() < 0.5 else ("reviewers", reviewer_id)
        )
        if rng.random() < bench.UNKNOWN_SHARE:
            entity = f"ZZUNKNOWN{rng.randrange(10**9):09d}"
        line = f"/v1/{kind}/{urllib.parse.quote(entity, safe='')}/reviews/summary"
        if rng.random() < bench.RANGE_SHARE:
            day = datetime.fromtimestamp(unix_time, UTC).date()
            first = day - timedelta(days=rng.randrange(365))
            line += f"?from={first}&to={first + timedelta(days=364)}"
        paths.append(line)
    path.write_text("\n".join(paths) + "\n")


# --- processes ------------------------------------------------------------------------------


def cli(*arguments: str | Path, timeout: float = 1800) -> None:
    bench.run([BIN / "reviews-api", *arguments], timeout=timeout)


def make_database(replicas: ReplicaSet) -> ReplicaDatabase:
    """A database on the primary, migrated by the CLI, with a read-only login whose
    statement timeout is its role's (what the service behind pgbouncer relies on)."""
    made = create_database(
        replicas.primary.admin_url(), lambda url: cli("migrate", "--database-url", url)
    )
    replicas.primary.query(
        sql.SQL("ALTER ROLE {} SET statement_timeout = '2s'").format(
            sql.Identifier(made.reader_role)
        )
    )
    return replicas.database(made.name, made.owner_url, made.reader_url, made.reader_role)


def api_servers(
    database: ReplicaDatabase, arguments: argparse.Namespace, workdir: Path
) -> list[Any]:
    """The service reading by each of READERS, cache off, listening on the primary."""
    base = {k: v for k, v in os.environ.items() if k not in bench.SERVICE_SETTINGS} | {
        "HOST": "127.0.0.1",
        "WORKERS": str(arguments.workers),
        "LOG_LEVEL": "INFO",
        "DB_POOL_MAX": str(arguments.pool_max),
        "CACHE_ENTRIES": "0",
        "LISTEN_DATABASE_URL": database.primary_url,
    }
    reads = {
        "primary": {"DATABASE_URL": database.primary_url},
        "standby": {"DATABASE_URL": database.standby_url},
        "pgbouncer": {
            "DATABASE_URL": database.bouncer_url,
            "DB_STATEMENT_CACHE_SIZE": "0",
            "DB_STATEMENT_TIMEOUT_MS": "0",
        },
    }
    servers = []
    for name in READERS:
        port = bench.free_port()
        servers.append(
            bench.Server(
                name=name,
                argv=[str(BIN / "reviews-api"), "serve"],
                env=base | reads[name] | {"PORT": str(port)},
                port=port,
                application_name="reviews-api",
                log_path=workdir / f"{name}.log",
            )
        )
    return servers


# --- 1. reads -------------------------------------------------------------------------------


@dataclass
class ReadRun:
    reader: str
    connections: int
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    cpu_us: dict[str, float]  # per request: api, primary, standby, pgbouncer


def group_ticks(pgid: int) -> int:
    return sum(bench.cpu_ticks(pid) or 0 for pid in bench.group_members(pgid))


def tree_ticks(parent: int) -> int:
    """CPU ticks of a process and its children: a postmaster's children call setsid(), so
    they are not in its process group."""
    pids = [parent]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = bench._proc_stat(int(entry.name))
            if fields and int(fields[1]) == parent:
                pids.append(int(entry.name))
    return sum(bench.cpu_ticks(pid) or 0 for pid in pids)


def wrk_run(
    server: Any, replicas: ReplicaSet, requests: Path, connections: int, seconds: float
) -> tuple[dict[str, Any], dict[str, float]]:
    """One wrk run: its figures, and CPU seconds of each part meanwhile."""
    parts = {
        "api": lambda: group_ticks(server.process.pid),
        "primary": lambda: tree_ticks(replicas.primary.server.pid),
        "standby": lambda: tree_ticks(replicas.standby.server.pid),
        "pgbouncer": lambda: group_ticks(replicas.bouncer.server.pid),
    }
    before = {name: ticks() for name, ticks in parts.items()}
    result = bench.run(
        [
            shutil.which("wrk") or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            bench.LUA_SCRIPT,
            server.url,
            "--",
            requests,
        ],
        timeout=seconds + 60,
    )
    cpu = {name: (ticks() - before[name]) / bench.CLOCK_TICKS for name, ticks in parts.items()}
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    return json.loads(line.removeprefix("BENCH_RESULT ")), cpu


def measure_reads(
    servers: list[Any], replicas: ReplicaSet, requests: Path, arguments: argparse.Namespace
) -> list[ReadRun]:
    for server in servers:  # warm the pools and both clusters' caches; not counted
        wrk_run(server, replicas, requests, arguments.connections, 3)
    runs = []
    passes = ((arguments.connections, arguments.duration), (1, arguments.c1_duration))
    for connections, seconds in passes:
        for round_ in range(arguments.rounds):
            shift = round_ % len(servers)  # alternate who goes first
            for server in servers[shift:] + servers[:shift]:
                figures, cpu = wrk_run(server, replicas, requests, connections, seconds)
                requests_done = max(figures["requests"], 1)
                run = ReadRun(
                    reader=server.name,
                    connections=connections,
                    round=round_,
                    rps=figures["requests"] / (figures["duration_us"] / 1e6),
                    p50_ms=figures["p50_us"] / 1000,
                    p99_ms=figures["p99_us"] / 1000,
                    statuses={str(k): v for k, v in figures["statuses"].items()},
                    cpu_us={k: v / requests_done * 1e6 for k, v in cpu.items()},
                )
                runs.append(run)
                say(
                    f"-c{connections} round {round_ + 1} {server.name:>9}: {run.rps:7,.0f} req/s"
                    f"  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  {run.statuses}  "
                    "CPU us/req " + " ".join(f"{k} {v:.0f}" for k, v in run.cpu_us.items())
                )
    return runs


# --- 2. the replication window, 3. the stall -------------------------------------------------


@dataclass
class LoadWatch:
    """When a load became visible on the primary, on the standby and in the API's answers,
    and how far behind the standby fell meanwhile; polled in threads."""

    replicas: ReplicaSet
    database: ReplicaDatabase
    api_url: str
    probe_path: str
    new_count: int
    times: dict[str, float] = field(default_factory=dict)
    most_bytes_behind: int = 0
    most_replay_lag_s: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> LoadWatch:
        with psycopg.connect(self.database.owner_url, autocommit=True) as connection:
            version = self._version(connection)
        for name, url in (
            ("primary", self.database.owner_url),
            ("standby", self.database.standby_url),
        ):
            self._threads.append(threading.Thread(target=self._poll_sql, args=(name, url, version)))
        self._threads.append(threading.Thread(target=self._poll_api))
        self._threads.append(threading.Thread(target=self._sample_lag))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        deadline = time.monotonic() + WINDOW_TIMEOUT_S
        while len(self.times) < 3 and time.monotonic() < deadline and exc_info[0] is None:
            time.sleep(0.01)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def window_ms(self, name: str) -> float | None:
        if name not in self.times or "primary" not in self.times:
            return None
        return (self.times[name] - self.times["primary"]) * 1000

    @staticmethod
    def _version(connection: psycopg.Connection[Any]) -> int:
        row = connection.execute("SELECT max(load_id) FROM review_api.data_loads").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _poll_sql(self, name: str, url: str, version: int) -> None:
        """One connection kept open (a new one only if replay cancels it), one query a poll."""
        while not self._stop.is_set():
            with (
                contextlib.suppress(psycopg.OperationalError),
                psycopg.connect(url, autocommit=True) as connection,
            ):
                while not self._stop.is_set():
                    if self._version(connection) > version:
                        self.times[name] = time.monotonic()
                        return
                    time.sleep(POLL_INTERVAL_S)

    def _poll_api(self) -> None:
        """One keep-alive connection to the API (cache off: every answer reads the standby)."""
        host, port = urllib.parse.urlsplit(self.api_url).netloc.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while not self._stop.is_set():
                connection.request("GET", self.probe_path)
                response = connection.getresponse()
                body = response.read()
                if response.status == 200 and json.loads(body)["review_count"] == self.new_count:
                    self.times["api"] = time.monotonic()
                    return
                time.sleep(POLL_INTERVAL_S)
        finally:
            connection.close()

    def _sample_lag(self) -> None:
        with psycopg.connect(self.replicas.primary.admin_url(), autocommit=True) as primary:
            while not self._stop.is_set():
                row = primary.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),"
                    " coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication"
                ).fetchone()
                if row:
                    self.most_bytes_behind = max(self.most_bytes_behind, int(row[0] or 0))
                    self.most_replay_lag_s = max(self.most_replay_lag_s, float(row[1]))
                time.sleep(0.01)


@dataclass
class ApiClients:
    """Clients asking the API for `paths` in threads (keep-alive), each answer timed."""

    url: str
    paths: list[str]
    answers: list[tuple[float, float, int]] = field(default_factory=list)  # at, s, status
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> ApiClients:
        for number in range(STALL_CLIENTS):
            self._threads.append(threading.Thread(target=self._ask, args=(number,)))
            self._threads[-1].start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _ask(self, number: int) -> None:
        host, port = urllib.parse.urlsplit(self.url).netloc.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        position = number * 97
        while not self._stop.is_set():
            path = self.paths[position % len(self.paths)]
            position += 1
            began = time.monotonic()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                status = 0
            self.answers.append((began, time.monotonic() - began, status))

    def between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        return [a for a in self.answers if a[0] <= end and a[0] + a[1] >= start]


def measure_windows(
    replicas: ReplicaSet,
    database: ReplicaDatabase,
    standby_api: Any,
    sources: tuple[Path, Path],
    loads: int,
) -> list[dict[str, Any]]:
    counts = [product_counts(source) for source in sources]
    probe = max(counts[0], key=lambda product: counts[0][product] - counts[1].get(product, 0))
    probe_path = f"/v1/products/{urllib.parse.quote(probe, safe='')}/reviews/summary"
    windows = []
    for number in range(loads):
        source = sources[(number + 1) % 2]  # the full set is live first
        new_count = counts[(number + 1) % 2][probe]
        with LoadWatch(replicas, database, standby_api.url, probe_path, new_count) as watch:
            began = time.monotonic()
            cli("load", "--source", source, "--database-url", database.owner_url)
            load_s = time.monotonic() - began
        window = {
            "load_s": load_s,
            "standby_ms": watch.window_ms("standby"),
            "api_ms": watch.window_ms("api"),
            "most_bytes_behind": watch.most_bytes_behind,
            "most_replay_lag_s": watch.most_replay_lag_s,
        }
        windows.append(window)
        say(f"load {number + 1}: {window}")
    return windows


def measure_stall(
    replicas: ReplicaSet,
    database: ReplicaDatabase,
    standby_api: Any,
    source: Path,
    requests: list[str],
    delay: str | None,
) -> dict[str, Any]:
    """A BI session on the standby holds the view while a load replays."""
    settings = {"max_standby_streaming_delay": delay} if delay else {}
    counts = product_counts(source)
    probe = max(counts, key=counts.__getitem__)
    probe_path = f"/v1/products/{urllib.parse.quote(probe, safe='')}/reviews/summary"
    bi = psycopg.connect(database.standby_url)
    outcome = "still open"
    try:
        with replicas.standby.settings(**settings), ApiClients(standby_api.url, requests) as api:
            bi.execute("SELECT count(*) FROM review_api.reviews")  # held until it ends
            time.sleep(1)
            with LoadWatch(replicas, database, standby_api.url, probe_path, counts[probe]) as watch:
                cli("load", "--source", source, "--database-url", database.owner_url)
            time.sleep(1)
        try:
            bi.execute("SELECT 1")
        except psycopg.Error as error:
            outcome = str(error).strip().splitlines()[0]
    finally:
        bi.close()
    committed = watch.times.get("primary", time.monotonic())
    replayed = watch.times.get("standby", time.monotonic())
    during = api.between(committed, replayed)
    errors: dict[int, int] = {}
    for _, _, status in during:
        if status >= 500 or status == 0:
            errors[status] = errors.get(status, 0) + 1
    result = {
        "delay": delay or "30s (default)",
        "replayed_after_commit_s": replayed - committed,
        "worst_answer_ms": max((s for _, s, _ in during), default=0.0) * 1000,
        "answers": len(during),
        "errors": errors,
        "bi_session": outcome,
        "most_bytes_behind": watch.most_bytes_behind,
        "most_replay_lag_s": watch.most_replay_lag_s,
    }
    say(f"stall, max_standby_streaming_delay {result['delay']}: {result}")
    return result


# --- report ---------------------------------------------------------------------------------


def median_range(values: list[float], fmt: str) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return format(values[0], fmt)
    middle, low, high = statistics.median(values), min(values), max(values)
    return f"{middle:{fmt}} ({low:{fmt}} to {high:{fmt}})"


def render(
    arguments: argparse.Namespace,
    started: str,
    load_s: float,
    runs: list[ReadRun],
    read_problems: dict[str, int],
    windows: list[dict[str, Any]],
    stalls: list[dict[str, Any]],
) -> str:
    command = " ".join(["scripts/bench/replicas.py", *sys.argv[1:]])
    lines = [
        f"### Replicas: {arguments.rows:,} rows",
        "",
        f"Run {started}: `.venv/bin/python {command}` on {os.cpu_count()} shared cores; "
        f"{arguments.workers} workers per API server, DB_POOL_MAX {arguments.pool_max}, "
        f"response cache off; pgbouncer 1.18 transaction mode, pool {arguments.bouncer_pool}; "
        f"wrk -t1 -c{arguments.connections} ({arguments.duration:g} s) and -c1 "
        f"({arguments.c1_duration:g} s), {arguments.rounds} rounds, the servers alternating. "
        "Cells: median of the rounds (min to max). CPU per request from /proc (the API's "
        "process group, each cluster's postmaster and its children, pgbouncer), on a shared "
        f"machine: load average {LOAD_AVERAGE_AT_START:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end; compare within this run, not across runs. "
        f"non-2xx: 404s for the list's unknown ids, and the 5xx below. The first load took "
        f"{load_s:.1f} s.",
        "",
        "| pass | API reads from | req/s | p50 ms | p99 ms | non-2xx | CPU µs/req: API "
        "| primary | standby | pgbouncer |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for connections in (arguments.connections, 1):
        for reader in READERS:
            chosen = [r for r in runs if r.reader == reader and r.connections == connections]
            if not chosen:
                continue
            non_2xx = sum(n for r in chosen for s, n in r.statuses.items() if s[0] != "2")
            cpu = [
                median_range([r.cpu_us[part] for r in chosen], ".0f")
                for part in ("api", "primary", "standby", "pgbouncer")
            ]
            lines.append(
                f"| -c{connections} | {reader} | {median_range([r.rps for r in chosen], ',.0f')} "
                f"| {median_range([r.p50_ms for r in chosen], '.2f')} "
                f"| {median_range([r.p99_ms for r in chosen], '.2f')} | {non_2xx:,} | "
                + " | ".join(cpu)
                + " |"
            )
    lines += [
        "",
        "Warnings and errors the API servers logged during these runs: "
        + ("; ".join(f"{text} ({count}x)" for text, count in read_problems.items()) or "none")
        + ".",
    ]
    if windows:
        standby = [w["standby_ms"] for w in windows if w["standby_ms"] is not None]
        api = [w["api_ms"] for w in windows if w["api_ms"] is not None]
        load_times = median_range([w["load_s"] for w in windows], ".1f")
        lines += [
            "",
            f"Replication window over {len(windows)} loads (each {load_times} s "
            "end to end), from the load's data_loads row visible on the primary: visible on the "
            f"standby after **{median_range(standby, '.0f')} ms**; the API reading the standby "
            f"answering the new rows after {median_range(api, '.0f')} ms (polled every "
            f"{POLL_INTERVAL_S * 1000:g} ms). Most WAL not replayed during a load: "
            f"{median_range([w['most_bytes_behind'] / 1e6 for w in windows], '.1f')} MB; "
            f"most pg_stat_replication.replay_lag: "
            f"{median_range([w['most_replay_lag_s'] * 1000 for w in windows], '.0f')} ms.",
        ]
    for stall in stalls:
        lines += [
            "",
            f"A BI session on the standby holding the view during a load, "
            f"max_standby_streaming_delay {stall['delay']}: the standby replayed the load "
            f"{stall['replayed_after_commit_s']:.1f} s after its commit; worst API answer in "
            f"that window **{stall['worst_answer_ms']:,.0f} ms** over {stall['answers']:,} "
            f"answers, errors by status {stall['errors'] or 'none'}; the BI session: "
            f"{stall['bi_session']}; most WAL not replayed "
            f"{stall['most_bytes_behind'] / 1e6:.1f} MB, most replay_lag "
            f"{stall['most_replay_lag_s']:.1f} s.",
        ]
    return "\n".join(lines) + "\n"


def write_report(section: str) -> None:
    text = REPORT.read_text()
    if REGION_BEGIN not in text:
        text = text.rstrip("\n") + f"\n\n{REGION_BEGIN}\n{REGION_END}\n"
    head, rest = text.split(REGION_BEGIN, 1)
    _, tail = rest.split(REGION_END, 1)
    REPORT.write_text(f"{head}{REGION_BEGIN}\n{section}{REGION_END}{tail}")


# --- main -----------------------------------------------------------------------------------


def logged_problems(servers: list[Any]) -> dict[str, int]:
    """The servers' WARNING and ERROR log lines so far, counted by server and message."""
    problems: dict[str, int] = {}
    for server in servers:
        for line in server.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("level") in ("WARNING", "ERROR"):
                    key = f"{server.name}: {record['message'][:200]}"
                    problems[key] = problems.get(key, 0) + 1
    return problems


@contextlib.contextmanager
def running(servers: list[Any]) -> Iterator[None]:
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_until_answering("/health/ready", ok_only=True)
        yield
    finally:
        for server in servers:
            server.stop(grace_s=10)


def main() -> int:
    arguments = parse_arguments()
    signal.signal(signal.SIGTERM, bench._raise_terminated)
    signal.signal(signal.SIGALRM, bench._raise_time_limit)
    signal.alarm(int(arguments.time_limit * 60))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    full, thinned = data_sets(arguments.rows, arguments.seed)
    workdir = Path(tempfile.mkdtemp(prefix="reviews-api-bench-replicas-"))
    try:
        with replica_set(durable=True, pool_size=arguments.bouncer_pool) as replicas:
            say(f"replica set: {replicas.workdir}")
            database = make_database(replicas)
            began = time.monotonic()
            cli("load", "--source", full, "--database-url", database.owner_url)
            load_s = time.monotonic() - began
            replay_s = replicas.wait_for_replay()
            say(f"loaded {full} in {load_s:.1f} s; replayed {replay_s:.2f} s later")
            requests = workdir / "requests.txt"
            draw_requests(full, arguments.seed, requests)
            servers = api_servers(database, arguments, workdir)
            with running(servers):
                runs = measure_reads(servers, replicas, requests, arguments)
                read_problems = logged_problems(servers)
                standby_api = servers[READERS.index("standby")]
                windows = measure_windows(
                    replicas, database, standby_api, (full, thinned), arguments.loads
                )
                stalls = []
                if not arguments.no_stall:
                    paths = requests.read_text().split()
                    for delay in (None, API_STANDBY_DELAY):
                        source = thinned if len(stalls) % 2 == arguments.loads % 2 else full
                        stalls.append(
                            measure_stall(replicas, database, standby_api, source, paths, delay)
                        )
    except (bench.BenchmarkError, KeyboardInterrupt) as error:
        print(f"replicas benchmark: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(arguments, started, load_s, runs, read_problems, windows, stalls)
    print("\n" + section)
    if not arguments.no_report:
        write_report(section)
        say(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
