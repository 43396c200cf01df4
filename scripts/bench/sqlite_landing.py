"""CPU time of the SQLite queries behind the explorer's first view, in raw sqlite3.

The first view calls the all-time product and reviewer rankings (10 a page: 11 rows
asked), the dataset summary, and each request re-reads the data version (current_load)
once it is a second old. Each figure is the median CPU time of the calling thread over
--repeat runs, so a busy machine adds little; --queries times another tree's SQL (e.g. a
`git archive` of an older commit) on the same file, and checks both answer the same rows.

    .venv/bin/python scripts/bench/sqlite_landing.py [--database FILE] [--queries DIR]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosql

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from service.store.sql_files import queries_dir  # noqa: E402 - after the path is set

FIRST_PAGE = {
    "from_date": None,
    "to_date": None,
    "sort": "review_count",
    "sort_order": "desc",
    "min_reviews": 1,
    "max_rows": 11,
    "after_value": None,
    "after_id": None,
}
CALLS: dict[str, dict[str, Any]] = {
    "top_products": FIRST_PAGE,
    "top_reviewers": FIRST_PAGE,
    "dataset_summary": {},
    "current_load": {},
}


def answer(queries: Any, connection: sqlite3.Connection, name: str) -> Any:
    result = getattr(queries, name)(connection, **CALLS[name])
    return result if isinstance(result, tuple) else list(result)


def cpu_ms(call: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.thread_time()
        call()
        samples.append((time.thread_time() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database", type=Path, default=ROOT / "data" / "musical_instrument_reviews.sqlite"
    )
    parser.add_argument("--queries", type=Path, help="another queries/sqlite folder to compare")
    parser.add_argument("--repeat", type=int, default=7)
    arguments = parser.parse_args()
    connection = sqlite3.connect(f"{arguments.database.resolve().as_uri()}?mode=ro", uri=True)
    sets = {"this tree": aiosql.from_path(queries_dir("sqlite"), "sqlite3")}
    if arguments.queries:
        sets = {"other": aiosql.from_path(arguments.queries, "sqlite3"), **sets}
    print(f"CPU ms per call (median of {arguments.repeat}), {arguments.database.name}:")
    print("| query | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name in CALLS:
        answers = [answer(queries, connection, name) for queries in sets.values()]
        if any(other != answers[0] for other in answers[1:]):
            raise SystemExit(f"{name}: the two sets of queries answer different rows")
        figures = [
            cpu_ms(partial(answer, queries, connection, name), arguments.repeat)
            for queries in sets.values()
        ]
        print(f"| {name} | " + " | ".join(f"{figure:.0f}" for figure in figures) + " |")


if __name__ == "__main__":
    main()
