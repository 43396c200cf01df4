"""Write the PostgreSQL plans of the summary functions to a Markdown file, for DBAs.

    python scripts/explain_plans.py --database-url postgresql://owner@host/db \\
        [--database-url postgresql://owner@host/bigger_db ...] --output docs/postgres-plans.md

For the most-reviewed product, a median product, the most active reviewer and a median
reviewer, all time and one year: EXPLAIN (ANALYZE, BUFFERS) of the prepared call (after a
warming call, the fastest of five runs), with a custom plan and with the generic plan
asyncpg's prepared statements switch to; above the plans, a table of the figures a DBA
looks for: node types, Heap Fetches, buffers, execution time and, for the most-reviewed
product, the execution time per aggregated row. The monthly trends of the most-reviewed
product and of a median reviewer likewise, and for them a second table: the median of 21
runs, of EXPLAIN's execution time and of the round trip of the plain EXECUTE (one
connection, every row fetched).

Each database gives one `## N reviews` section: it replaces the section of the same size in
the output file, or is added in order of size; the rest of the file (its introduction, the
other sizes) is kept. A diagnostic tool: the SQL it runs is EXPLAIN around the public
functions, nothing the service depends on.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

# The id with the most reviews, ties to the smallest id.
TOP_ID = "SELECT {column} FROM public.reviews GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
# The id at the middle of the distribution of review counts per entity.
MEDIAN_ID = """
    SELECT c.id
    FROM (SELECT {column} AS id, count(*) AS n FROM public.reviews GROUP BY 1) AS c
    ORDER BY c.n, c.id
    OFFSET (SELECT count(DISTINCT {column}) / 2 FROM public.reviews)
    LIMIT 1
"""


# Node types that would mean the function stopped being inlined or the index stopped serving.
UNWANTED_NODES = frozenset({"Function Scan", "Seq Scan", "Sort", "Bitmap Heap Scan", "Index Scan"})
# A monthly trend scans generate_series and sorts its few hundred months: only the reviews'
# scan must stay index-only (and a Function Scan of the trend itself shows in NOT_INLINED).
MONTHLY_UNWANTED_NODES = frozenset({"Seq Scan", "Bitmap Heap Scan", "Index Scan"})
NOT_INLINED = re.compile(r"Function Scan on \w+_(summary|monthly_reviews) ")


@dataclass(frozen=True)
class Case:
    label: str
    function: str
    pick: str  # the query choosing the entity
    per_row: bool = False  # report the execution time per aggregated row
    counted_by: str = ""  # the summary function giving the entity's review count, if not this
    unwanted: frozenset[str] = UNWANTED_NODES
    median: bool = False  # also report medians of MEDIAN_RUNS runs


CASES = (
    Case(
        "most-reviewed product",
        "product_review_summary",
        TOP_ID.format(column='"productID"'),
        per_row=True,
    ),
    Case("median product", "product_review_summary", MEDIAN_ID.format(column='"productID"')),
    Case("most active reviewer", "reviewer_review_summary", TOP_ID.format(column='"reviewerID"')),
    Case("median reviewer", "reviewer_review_summary", MEDIAN_ID.format(column='"reviewerID"')),
    Case(
        "most-reviewed product, monthly",
        "product_monthly_reviews",
        TOP_ID.format(column='"productID"'),
        per_row=True,
        counted_by="product_review_summary",
        unwanted=MONTHLY_UNWANTED_NODES,
        median=True,
    ),
    Case(
        "median reviewer, monthly",
        "reviewer_monthly_reviews",
        MEDIAN_ID.format(column='"reviewerID"'),
        counted_by="reviewer_review_summary",
        unwanted=MONTHLY_UNWANTED_NODES,
        median=True,
    ),
)
PERIODS = {"all time": (None, None), "one year": ("2016-01-01", "2016-12-31")}
PLAN_MODES = {"custom plan": "force_custom_plan", "generic plan": "force_generic_plan"}
# EXPLAIN ANALYZE runs per plan, the fastest kept: one run on a shared machine can be 2x off.
RUNS = 5
# Runs behind a median (monthly trends), of EXPLAIN ANALYZE and of the plain EXECUTE each.
MEDIAN_RUNS = 21

NODE_LINE = re.compile(r"^\s*(?:->\s+)?(?P<node>[A-Z][A-Za-z ]*?)(?: using .*| on .*)?  \(cost=")
AGGREGATED_SCAN = re.compile(
    r"Index Only Scan using reviews_\w+_date_idx .*\(actual time=\S+ rows=(\d+) loops=(\d+)\)"
)
HEAP_FETCHES = re.compile(r"Heap Fetches: (\d+)")
BUFFERS = re.compile(r"^\s*Buffers: (.*)$", re.MULTILINE)
EXECUTION_TIME = re.compile(r"^Execution Time: ([\d.]+) ms$", re.MULTILINE)
SECTION_HEADING = re.compile(r"^## ([\d,]+) reviews\b")


@dataclass(frozen=True)
class Figures:
    """What a DBA reads off one EXPLAIN (ANALYZE, BUFFERS) text."""

    nodes: Counter[str]
    aggregated_rows: int | None  # rows the date index scan fed the Aggregate(s); None: no such scan
    heap_fetches: int
    buffers: str  # the top node's, which include its children's and InitPlans'
    execution_ms: float

    @classmethod
    def of(cls, plan: str) -> Figures:
        nodes = Counter(
            match["node"] for line in plan.splitlines() if (match := NODE_LINE.match(line))
        )
        scan = AGGREGATED_SCAN.search(plan)
        buffers = BUFFERS.search(plan)
        execution = EXECUTION_TIME.search(plan)
        if execution is None:
            raise ValueError(f"no execution time in the plan:\n{plan}")
        return cls(
            nodes=nodes,
            aggregated_rows=int(scan[1]) * int(scan[2]) if scan else None,
            heap_fetches=sum(int(count) for count in HEAP_FETCHES.findall(plan)),
            buffers=buffers[1] if buffers else "",
            execution_ms=float(execution[1]),
        )

    def node_list(self) -> str:
        return ", ".join(
            name if count == 1 else f"{name} ({count})" for name, count in self.nodes.items()
        )

    def per_row(self) -> str:
        if not self.aggregated_rows:
            return "n/a"
        return f"{self.execution_ms * 1000 / self.aggregated_rows:.2f} µs"


@dataclass(frozen=True)
class Medians:
    """Medians of MEDIAN_RUNS runs of one prepared call, in milliseconds."""

    execution_ms: float  # EXPLAIN ANALYZE's Execution Time (its timing overhead included)
    round_trip_ms: float  # the plain EXECUTE as a client sees it, every row fetched


def explain(
    connection: psycopg.Connection,
    function: str,
    entity_id: str,
    bounds: tuple[str | None, str | None],
    mode: str,
    median: bool = False,
) -> tuple[str, Medians | None]:
    """The fastest plan of RUNS runs, and with `median` the medians of MEDIAN_RUNS runs."""
    connection.execute(sql.SQL("SET plan_cache_mode = {}").format(sql.Literal(mode)))
    connection.execute("DEALLOCATE ALL")
    connection.execute(
        sql.SQL(
            "PREPARE summary(TEXT, DATE, DATE) AS SELECT * FROM review_api.{}($1, $2, $3)"
        ).format(sql.Identifier(function))
    )
    arguments = [sql.Literal(value) for value in (entity_id, *bounds)]
    call = sql.SQL("EXECUTE summary({}, {}, {})").format(*arguments)
    statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(call)
    connection.execute(call).fetchall()  # warm cache
    plans = [
        "\n".join(row[0] for row in connection.execute(statement).fetchall())
        for _ in range(MEDIAN_RUNS if median else RUNS)
    ]
    # The plan shown is the fastest of the first RUNS, as for every other case.
    fastest = min(plans[:RUNS], key=lambda plan: Figures.of(plan).execution_ms)
    if not median:
        return fastest, None
    round_trips = []
    for _ in range(MEDIAN_RUNS):
        started = time.perf_counter()
        connection.execute(call).fetchall()
        round_trips.append((time.perf_counter() - started) * 1000)
    return fastest, Medians(
        execution_ms=statistics.median(Figures.of(plan).execution_ms for plan in plans),
        round_trip_ms=statistics.median(round_trips),
    )


def summary_table(rows: list[tuple[str, str, Figures, bool]]) -> list[str]:
    lines = [
        "| case | plan | nodes | rows aggregated | Heap Fetches | buffers | execution "
        "| per aggregated row |",
        "|---|---|---|--:|--:|---|--:|--:|",
    ]
    for case, mode, figures, per_row in rows:
        aggregated = "n/a" if figures.aggregated_rows is None else f"{figures.aggregated_rows:,}"
        lines.append(
            f"| {case} | {mode.removesuffix(' plan')} | {figures.node_list()} | {aggregated} "
            f"| {figures.heap_fetches} | {figures.buffers} | {figures.execution_ms:.3f} ms "
            f"| {figures.per_row() if per_row else ''} |"
        )
    return lines


def median_table(rows: list[tuple[str, str, Medians]]) -> list[str]:
    lines = [
        f"Medians of {MEDIAN_RUNS} runs of the same prepared call, after the warming call: "
        "EXPLAIN ANALYZE's execution time, and the round trip of the plain EXECUTE from this "
        "script (one connection over loopback, every row fetched, planning included).",
        "",
        "| case | plan | execution, median | round trip, median |",
        "|---|---|--:|--:|",
    ]
    for case, mode, medians in rows:
        lines.append(
            f"| {case} | {mode.removesuffix(' plan')} | {medians.execution_ms:.3f} ms "
            f"| {medians.round_trip_ms:.3f} ms |"
        )
    return lines


def value(connection: psycopg.Connection, query: sql.SQL | sql.Composed) -> Any:
    """The first column of the one row `query` returns."""
    row = connection.execute(query).fetchone()
    if row is None:
        raise ValueError(f"no row from {query.as_string(connection)}")
    return row[0]


def report(database_url: str) -> str:
    # No automatic server-side preparation: the script manages its own statement.
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as connection:
        total = value(connection, sql.SQL("SELECT count(*) FROM public.reviews"))
        version = value(connection, sql.SQL("SHOW server_version"))
        plans: list[str] = []
        rows: list[tuple[str, str, Figures, bool]] = []
        median_rows: list[tuple[str, str, Medians]] = []
        for case in CASES:
            entity_id = value(connection, sql.SQL(case.pick))
            count = value(
                connection,
                sql.SQL("SELECT review_count FROM review_api.{}({})").format(
                    sql.Identifier(case.counted_by or case.function), sql.Literal(entity_id)
                ),
            )
            for period, bounds in PERIODS.items():
                # A monthly trend scans the index once per month, and EXPLAIN rounds the
                # rows of a scan run many times: count the reviews the call aggregates.
                in_period = value(
                    connection,
                    sql.SQL("SELECT coalesce(sum(review_count), 0) FROM review_api.{}({})").format(
                        sql.Identifier(case.function),
                        sql.SQL(", ").join(sql.Literal(v) for v in (entity_id, *bounds)),
                    ),
                )
                for mode_label, mode in PLAN_MODES.items():
                    plan, medians = explain(
                        connection, case.function, entity_id, bounds, mode, case.median
                    )
                    figures = Figures.of(plan)
                    if figures.aggregated_rows is not None:
                        figures = replace(figures, aggregated_rows=int(in_period))
                    rows.append((f"{case.label}, {period}", mode_label, figures, case.per_row))
                    if medians is not None:
                        median_rows.append((f"{case.label}, {period}", mode_label, medians))
                    warn(f"{total:,} rows, {case.label}, {period}, {mode_label}", case, plan)
                    plans += [
                        f"### {case.label} `{entity_id}` ({count:,} reviews), {period}, "
                        f"{mode_label}",
                        "",
                        "```",
                        plan,
                        "```",
                        "",
                    ]
    median_lines = [*median_table(median_rows), ""] if median_rows else []
    return "\n".join(
        [
            f"## {total:,} reviews (PostgreSQL {version})",
            "",
            *summary_table(rows),
            "",
            *median_lines,
            *plans,
        ]
    )


def warn(where: str, case: Case, plan: str) -> None:
    figures = Figures.of(plan)
    unwanted = set(case.unwanted & set(figures.nodes))
    if NOT_INLINED.search(plan):
        unwanted.add("the function itself (not inlined)")
    if unwanted or figures.heap_fetches or figures.aggregated_rows is None:
        print(
            f"warning: {where}: {figures.node_list()}; Heap Fetches {figures.heap_fetches}",
            file=sys.stderr,
        )


def merge(document: str, section: str) -> str:
    """The document with `section` replacing the section of the same size, or added so
    that the size sections stay in ascending order; anything else is kept as it is."""
    chunks = [chunk for chunk in re.split(r"(?m)^(?=## )", document) if chunk.strip()]

    def size(chunk: str) -> int | None:
        match = SECTION_HEADING.match(chunk)
        return int(match[1].replace(",", "")) if match else None

    new_size = size(section)
    chunks = [chunk for chunk in chunks if size(chunk) is None or size(chunk) != new_size]
    position = next(
        (
            index
            for index, chunk in enumerate(chunks)
            if (other := size(chunk)) is not None and new_size is not None and other > new_size
        ),
        len(chunks),
    )
    chunks.insert(position, section)
    return "\n".join(chunk.rstrip("\n") + "\n" for chunk in chunks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        action="append",
        required=True,
        help="a loaded database; repeat for several sizes",
    )
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args(argv)
    document = arguments.output.read_text() if arguments.output.exists() else ""
    for database_url in arguments.database_url:
        document = merge(document, report(database_url))
    arguments.output.write_text(document)
    print(f"wrote {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
