"""Instructions per request of a server, counted by valgrind (callgrind), not timed.

CPU time on a shared 2-core machine varies by 20% from run to run; instruction counts do
not depend on what else runs. The server runs single-process under callgrind twice, once
answering N requests and once 2N (sequentially, one keep-alive connection); the difference
of the two totals divided by N is the cost of a request, start-up and shutdown cancelled
out. Only the server process is counted (PostgreSQL's work is not).

    .venv/bin/python scripts/bench/instructions.py --database-url postgresql://... \\
        [--server service|cached|baseline] [--requests 500] [--distinct 50]

`service` runs with the response cache off, `cached` with it on and --distinct paths
cycled (so that all but the first --distinct requests are cache hits), `baseline` is
scripts/bench_baseline.py. The paths are summaries of ids sampled from the database, half
with a one-year range, as in scripts/benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
START_TIMEOUT_S = 300


def sample_paths(database_url: str, count: int, seed: int) -> list[str]:
    async def ids() -> list[tuple[str, str]]:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch(
                'SELECT "productID", "reviewerID" FROM public.reviews'
                " TABLESAMPLE BERNOULLI (5) REPEATABLE ($1) LIMIT $2",
                seed,
                count,
            )
        finally:
            await connection.close()
        return [(row["productID"], row["reviewerID"]) for row in rows]

    rng = random.Random(seed)
    paths = []
    for product_id, reviewer_id in asyncio.run(ids()):
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


def server_command(server: str, port: int, database_url: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "DATABASE_URL": database_url, "DB_POOL_MAX": "4"}
    if server == "baseline":
        argv = [str(BIN / "python"), str(ROOT / "scripts" / "bench_baseline.py")]
        return [*argv, "--port", str(port), "--workers", "1"], env
    env |= {"PORT": str(port), "WORKERS": "1", "HOST": "127.0.0.1", "LOG_LEVEL": "INFO"}
    env["CACHE_ENTRIES"] = "0" if server == "service" else "20000"
    return [str(BIN / "reviews-api"), "serve"], env


def instructions(server: str, database_url: str, paths: list[str], workdir: Path) -> int:
    """Total instructions of one server run answering `paths`."""
    port = free_port()
    argv, env = server_command(server, port, database_url)
    output = workdir / f"callgrind-{server}-{len(paths)}.out"
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is missing (apt-get install valgrind)")
    process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [valgrind, "--tool=callgrind", f"--callgrind-out-file={output}", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        connection = connect_when_ready(port)
        for path in paths:
            connection.request("GET", path)
            connection.getresponse().read()
        connection.close()
    finally:
        # Sanic's single-process server stops on SIGINT (bench_baseline) or SIGTERM (serve).
        os.killpg(process.pid, signal.SIGINT if server == "baseline" else signal.SIGTERM)
        process.wait(timeout=START_TIMEOUT_S)
    totals = re.findall(r"^(?:summary|totals): (\d+)", output.read_text(), re.MULTILINE)
    return max(int(total) for total in totals)


def connect_when_ready(port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("GET", "/v1/products/probe/reviews/summary")
            connection.getresponse().read()
            return connection
        except OSError:
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", required=True, help="a loaded reviews-api database (owner login)"
    )
    parser.add_argument("--server", choices=("service", "cached", "baseline"), default="service")
    parser.add_argument("--requests", type=int, default=500, help="N (the runs answer N, 2N)")
    parser.add_argument("--distinct", type=int, default=50, help="paths cycled by `cached`")
    parser.add_argument("--seed", type=int, default=20180928)
    arguments = parser.parse_args()
    count = arguments.requests * 2
    paths = sample_paths(arguments.database_url, count, arguments.seed)
    if arguments.server == "cached":
        paths = (paths[: arguments.distinct] * count)[:count]
    with tempfile.TemporaryDirectory(prefix="instructions-") as directory:
        once = instructions(
            arguments.server, arguments.database_url, paths[: count // 2], Path(directory)
        )
        twice = instructions(arguments.server, arguments.database_url, paths, Path(directory))
    per_request = (twice - once) / (count // 2)
    print(f"{arguments.server}: {per_request:,.0f} instructions per request ({once:,} / {twice:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
