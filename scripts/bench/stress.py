"""The service under abuse on PostgreSQL: sessions killed under load, and more connections
than it can serve. Counts every answer by kind (200, 503 overloaded, 503 unavailable, 500...)
with the latency of each kind, which wrk alone cannot (scripts/bench/stress.lua), and polls
/health/ready meanwhile.

    .venv/bin/python scripts/bench/stress.py kill --database-url postgresql://reader@.../db \\
        --admin-url postgresql://postgres@.../db [--connections 4 32] [--duration 20]
    .venv/bin/python scripts/bench/stress.py overload --database-url ... --admin-url ... \\
        [--connections 512 2000] [--duration 20] [--polite] [--rounds 3] \\
        [--compare-with /other/checkout/.venv/bin/reviews-api]

With --compare-with, both servers run in turn in every round (the first alternating) and
a table of medians ends the output.

`kill` runs `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name
= 'reviews-api'` (and the service's login) every --kill-every seconds during each wrk run;
`overload` just drives wrk. Both start `reviews-api serve` (--reviews-api, default this
project's) with WORKERS=2, DB_POOL_MAX=4 and the response cache off, so that every request
needs a connection; --env adds settings. Loopback only, every process started is stopped by
its process group, each run bounded by --duration. Needs wrk (LuaJIT) and a loaded database
(`reviews-api load`); the admin login samples the ids and kills the sessions.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]
LUA_SCRIPT = ROOT / "scripts" / "bench" / "stress.lua"
START_TIMEOUT_S = 60
READINESS_EVERY_S = 0.1
KILL_SESSIONS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE application_name = 'reviews-api' AND usename = %s"
)


def sample_paths(admin_url: str, count: int, seed: int) -> list[str]:
    """Summary paths of ids sampled from the loaded rows, half with a one-year range."""
    with psycopg.connect(admin_url) as connection:
        rows = connection.execute(
            'SELECT "productID", "reviewerID" FROM public.reviews'
            " TABLESAMPLE BERNOULLI (5) REPEATABLE (%s) LIMIT %s",
            (seed, count),
        ).fetchall()
    rng = random.Random(seed)
    paths = []
    for product_id, reviewer_id in rows:
        kind, entity = (
            ("products", product_id) if rng.random() < 0.5 else ("reviewers", reviewer_id)
        )
        path = f"/v1/{kind}/{quote(entity, safe='')}/reviews/summary"
        if rng.random() < 0.5:
            year = rng.randrange(2010, 2018)
            path += f"?from={year}-01-01&to={year}-12-31"
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    arguments: argparse.Namespace, reviews_api: str, log_path: Path
) -> Iterator[int]:
    """`reviews-api serve` on a free loopback port, stopped by process group on exit."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": arguments.database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "2",
        "DB_POOL_MAX": "4",
        "CACHE_ENTRIES": "0",
        "LOG_LEVEL": "INFO",
        **dict(setting.split("=", 1) for setting in arguments.env),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [reviews_api, "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Sanic's spawned workers import from the working directory first: not this
            # project's service/ when --reviews-api names another checkout's.
            cwd=log_path.parent,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while readiness(port)[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def readiness(port: int) -> tuple[int, float]:
    """(status, seconds) of one GET /health/ready; status 0 when it failed or took > 5 s."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health/ready")
        status = connection.getresponse().status
    except OSError:
        status = 0
    finally:
        connection.close()
    return status, time.monotonic() - started


class Poller(threading.Thread):
    """Calls `poll()` every `every_s` seconds until stopped; keeps what it returns."""

    def __init__(self, poll: object, every_s: float) -> None:
        super().__init__(daemon=True)
        self._poll = poll
        self._every_s = every_s
        self._stopping = threading.Event()
        self.results: list[object] = []

    def run(self) -> None:
        while not self._stopping.is_set():
            self.results.append(self._poll())  # type: ignore[operator]
            self._stopping.wait(self._every_s)

    def stop(self) -> list[object]:
        self._stopping.set()
        self.join()
        return self.results


def run_wrk(
    port: int, connections: int, duration_s: float, paths_file: Path, *, polite: bool
) -> dict:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{duration_s:g}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            f"http://127.0.0.1:{port}",
            "--",
            str(paths_file),
        ],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=True,
        env={**os.environ, "STRESS_POLITE": "1" if polite else "0"},
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("{"))
    return dict(json.loads(line))


def kill_sessions(admin_url: str, role: str | None) -> int:
    """One round of kills, on a connection of its own as `psql -c` would."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        row = admin.execute(KILL_SESSIONS, (role,)).fetchone()
    return int(row[0]) if row else 0


def one_run(
    arguments: argparse.Namespace, reviews_api: str, connections: int, paths_file: Path
) -> dict:
    with tempfile.TemporaryDirectory(prefix="stress-") as directory:
        log_path = Path(directory) / "server.log"
        with running_server(arguments, reviews_api, log_path) as port:
            role = urlsplit(arguments.database_url).username
            ready = Poller(lambda: readiness(port), READINESS_EVERY_S)
            killer = None
            if arguments.scenario == "kill":
                killer = Poller(
                    lambda: kill_sessions(arguments.admin_url, role), arguments.kill_every
                )
                killer.start()
            ready.start()
            try:
                figures = run_wrk(
                    port, connections, arguments.duration, paths_file, polite=arguments.polite
                )
            finally:
                probes = ready.stop()
                kills = killer.stop() if killer else []
            # After: the service answers normally again.
            time.sleep(1)
            after = Counter(readiness(port)[0] for _ in range(5))
        log = log_path.read_text(errors="replace")
    statuses = Counter(status for status, _ in probes)  # type: ignore[misc]
    figures["readiness"] = {
        "statuses": dict(statuses),
        "max_ms": round(1000 * max((s for _, s in probes), default=0), 1),  # type: ignore[misc]
        "after": dict(after),
    }
    figures["sessions_killed"] = sum(kills)  # type: ignore[arg-type]
    figures["kill_rounds"] = len(kills)
    figures["unhandled_in_log"] = log.count('"message":"unhandled ')
    return figures


def summary_line(connections: int, figures: dict) -> str:
    kinds = figures["kinds"]
    total = sum(kind["count"] for kind in kinds.values())
    shed = kinds.get("503 overloaded", {}).get("count", 0)
    ok = kinds.get("200", {})
    return (
        f"-c{connections}: {total:,} answers in {figures['duration_us'] / 1e6:.0f} s, "
        + ", ".join(f"{name}: {kind['count']:,}" for name, kind in sorted(kinds.items()))
        + f"; shed {100 * shed / max(total, 1):.1f}%; 200s p50 {ok.get('p50_us', 0) / 1000:.1f}"
        f" ms, p99 {ok.get('p99_us', 0) / 1000:.1f} ms; socket errors {figures['socket_errors']}"
        f"; readiness {figures['readiness']}; sessions killed {figures['sessions_killed']}"
        f" in {figures['kill_rounds']} rounds; 'unhandled' log lines {figures['unhandled_in_log']}"
    )


def row(figures: dict) -> dict[str, float]:
    """The figures docs/benchmarks.md reports, from one run."""
    kinds = figures["kinds"]
    total = sum(kind["count"] for kind in kinds.values())
    ok = kinds.get("200", {})
    readiness = figures["readiness"]["statuses"]
    return {
        "answers/s": total / (figures["duration_us"] / 1e6),
        "200/s": ok.get("count", 0) / (figures["duration_us"] / 1e6),
        "shed %": 100 * kinds.get("503 overloaded", {}).get("count", 0) / max(total, 1),
        "unavailable": kinds.get("503 unavailable", {}).get("count", 0),
        "500": kinds.get("500", {}).get("count", 0),
        "200s p50 ms": ok.get("p50_us", 0) / 1000,
        "200s p99 ms": ok.get("p99_us", 0) / 1000,
        "wrk timeouts": figures["socket_errors"]["timeout"],
        "ready not 200": sum(n for status, n in readiness.items() if str(status) != "200"),
        "ready max ms": figures["readiness"]["max_ms"],
    }


def median_table(results: dict[tuple[str, int], list[dict[str, float]]]) -> str:
    """A markdown table of the medians over the rounds, one line per server and -c."""
    columns = list(next(iter(results.values()))[0])
    lines = [
        "| server | -c | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for (server, connections), rows in results.items():
        medians = [statistics.median(r[column] for r in rows) for column in columns]
        cells = [f"{value:,.0f}" if value >= 100 else f"{value:.1f}" for value in medians]
        lines.append(f"| {server} | {connections} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("kill", "overload"))
    parser.add_argument("--database-url", required=True, help="the service's (reader) login")
    parser.add_argument("--admin-url", required=True, help="an admin login, same database")
    parser.add_argument("--reviews-api", default=str(ROOT / ".venv" / "bin" / "reviews-api"))
    parser.add_argument(
        "--compare-with",
        metavar="REVIEWS_API",
        help="another checkout's reviews-api, run in turn with this one in every round",
    )
    parser.add_argument("--rounds", type=int, default=1, help="medians over this many rounds")
    parser.add_argument("--connections", type=int, nargs="+")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--kill-every", type=float, default=0.2)
    parser.add_argument(
        "--polite",
        action="store_true",
        help="clients wait out a 503's Retry-After before their next request",
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--seed", type=int, default=20180928)
    arguments = parser.parse_args()
    connections = arguments.connections or (
        [4, 32] if arguments.scenario == "kill" else [512, 2000]
    )
    # wrk and the server each hold a descriptor per connection.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="stress-paths-") as directory:
        paths_file = Path(directory) / "paths.txt"
        paths_file.write_text("\n".join(sample_paths(arguments.admin_url, 5000, arguments.seed)))
        servers = [("this", arguments.reviews_api)]
        if arguments.compare_with:
            servers.append(("compared", arguments.compare_with))
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        for round_number in range(arguments.rounds):
            # Alternate which server goes first: the machine's load drifts.
            for name, reviews_api in servers[:: 1 if round_number % 2 == 0 else -1]:
                for count in connections:
                    figures = one_run(arguments, reviews_api, count, paths_file)
                    print(f"round {round_number + 1} {name}", summary_line(count, figures))
                    print(json.dumps({"server": name, "connections": count, **figures}))
                    results.setdefault((name, count), []).append(row(figures))
    print(median_table(dict(sorted(results.items()))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
