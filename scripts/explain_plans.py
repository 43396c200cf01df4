"""Write the PostgreSQL plans of the summary functions to a Markdown file, for DBAs.

    python scripts/explain_plans.py --database-url postgresql://owner@host/db \\
        [--database-url postgresql://owner@host/bigger_db ...] --output docs/postgres-plans.md

For the most-reviewed product, a median product, the most active reviewer and a median
reviewer, all time and one year: EXPLAIN (ANALYZE, BUFFERS) of the prepared call (after a
warming call, the fastest of five runs), with a custom plan and with the generic plan
asyncpg's prepared statements switch to; above the plans, a table of the figures a DBA
looks for: node types, Heap Fetches, buffers, execution time and, for the most-reviewed
product, the execution time per aggregated row.

Each database gives one `## N reviews` section: it replaces the section of the same size in
the output file, or is added in order of size; the rest of the file (its introduction, the
other sizes) is kept. A diagnostic tool: the SQL it runs is EXPLAIN around the public
functions, nothing the service depends on.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Case:
    label: str
    function: str
    pick: str  # the query choosing the entity
    per_row: bool = False  # report the execution time per aggregated row


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
)
PERIODS = {"all time": (None, None), "one year": ("2016-01-01", "2016-12-31")}
PLAN_MODES = {"custom plan": "force_custom_plan", "generic plan": "force_generic_plan"}
# EXPLAIN ANALYZE runs per plan, the fastest kept: one run on a shared machine can be 2x off.
RUNS = 5
# Node types that would mean the function stopped being inlined or the index stopped serving.
UNWANTED_NODES = {"Function Scan", "Seq Scan", "Sort", "Bitmap Heap Scan", "Index Scan"}

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
    aggregated_rows: int | None  # rows the date index scan fed the Aggregate
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


def explain(
    connection: psycopg.Connection,
    function: str,
    entity_id: str,
    bounds: tuple[str | None, str | None],
    mode: str,
) -> str:
    connection.execute(sql.SQL("SET plan_cache_mode = {}").format(sql.Literal(mode)))
    connection.execute("DEALLOCATE ALL")
    connection.execute(
        sql.SQL(
            "PREPARE summary(TEXT, DATE, DATE) AS SELECT * FROM review_api.{}($1, $2, $3)"
        ).format(sql.Identifier(function))
    )
    arguments = [sql.Literal(value) for value in (entity_id, *bounds)]
    statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) EXECUTE summary({}, {}, {})").format(*arguments)
    connection.execute(sql.SQL("EXECUTE summary({}, {}, {})").format(*arguments))  # warm cache
    plans = [
        "\n".join(row[0] for row in connection.execute(statement).fetchall()) for _ in range(RUNS)
    ]
    return min(plans, key=lambda plan: Figures.of(plan).execution_ms)


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
        for case in CASES:
            entity_id = value(connection, sql.SQL(case.pick))
            count = value(
                connection,
                sql.SQL("SELECT review_count FROM review_api.{}({})").format(
                    sql.Identifier(case.function), sql.Literal(entity_id)
                ),
            )
            for period, bounds in PERIODS.items():
                for mode_label, mode in PLAN_MODES.items():
                    plan = explain(connection, case.function, entity_id, bounds, mode)
                    figures = Figures.of(plan)
                    rows.append((f"{case.label}, {period}", mode_label, figures, case.per_row))
                    warn(f"{total:,} rows, {case.label}, {period}, {mode_label}", figures)
                    plans += [
                        f"### {case.label} `{entity_id}` ({count:,} reviews), {period}, "
                        f"{mode_label}",
                        "",
                        "```",
                        plan,
                        "```",
                        "",
                    ]
    return "\n".join(
        [f"## {total:,} reviews (PostgreSQL {version})", "", *summary_table(rows), "", *plans]
    )


def warn(where: str, figures: Figures) -> None:
    unwanted = UNWANTED_NODES & set(figures.nodes)
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
