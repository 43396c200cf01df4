#!/usr/bin/env python3
"""Wall time of `reviews-api load` into PostgreSQL, for two installations side by side
(e.g. a branch and the main line), alternating in rounds on one machine.

    .venv/bin/python scripts/bench/load_time.py --source data/musical_instrument_reviews.sqlite \\
        --cli after=.venv/bin/reviews-api --cli before=/tmp/base/.venv/bin/reviews-api --rounds 5

Each installation gets a fresh database of its own (migrated by its own `reviews-api
migrate`, dropped at the end), loaded once to warm up, then once per round, the
installations in turn (the order alternating between rounds). Prints each time and the
medians. Loopback only; every load is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql


def with_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


def run(command: list[str], timeout: float) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=timeout)  # noqa: S603
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--cli", action="append", required=True, help="LABEL=PATH/reviews-api")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    arguments = parser.parse_args()
    clis = dict(entry.split("=", 1) for entry in arguments.cli)
    databases = {label: f"reviews_api_loadbench_{secrets.token_hex(4)}" for label in clis}
    times: dict[str, list[float]] = {label: [] for label in clis}
    with psycopg.connect(arguments.admin_url, autocommit=True) as admin:
        for database in databases.values():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        for label, cli in clis.items():
            url = with_database(arguments.admin_url, databases[label])
            run([cli, "migrate", "--database-url", url], arguments.timeout)
            seconds = run([cli, "load", "--source", str(arguments.source), "--database-url",
                           url], arguments.timeout)  # fmt: skip
            print(f"warm-up {label}: {seconds:.2f} s (into an empty table; not counted)",
                  flush=True)  # fmt: skip
        labels = list(clis)
        for round_number in range(arguments.rounds):
            order = labels if round_number % 2 == 0 else labels[::-1]
            for label in order:
                url = with_database(arguments.admin_url, databases[label])
                seconds = run(
                    [clis[label], "load", "--source", str(arguments.source), "--database-url",
                     url], arguments.timeout,
                )  # fmt: skip
                times[label].append(seconds)
                print(f"round {round_number + 1} {label}: {seconds:.2f} s", flush=True)
    finally:
        with psycopg.connect(arguments.admin_url, autocommit=True) as admin:
            for database in databases.values():
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
    for label, values in times.items():
        print(f"{label}: median {statistics.median(values):.2f} s over {len(values)} loads "
              f"(min {min(values):.2f}, max {max(values):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
