"""Time the rankings (review_api.top_products / top_reviewers, migration 0012) on a loaded
database and print a Markdown section for docs/postgres-plans.md, for DBAs.

    python scripts/explain_rankings.py --database-url postgresql://owner@host/db [--runs 20]

For each case: the median (and min, max) over --runs runs of EXPLAIN ANALYZE's execution time
of `SELECT * FROM review_api.top_...(...)` (the function's inner statements, planning of its
dynamic SQL included), after one warming call, on one connection; and the plans of the
function's inner statements from one more run, by auto_explain (log_nested_statements, at
NOTICE level, so they come back to this client). max_rows is 21, what the API asks for a
page of 20. A deep page starts after a row read from the rollups (rank 10,000 or the
middle of the largest tie), so that it is the same page whatever the function does. A
diagnostic tool: the SQL it runs is EXPLAIN around the public functions.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

PAGE = 21
RANGE_400 = ("2015-03-15", "2016-04-17")  # 400 days, starting and ending mid-month


@dataclass
class Case:
    label: str
    function: str
    arguments: dict[str, Any]
    target_ms: float
    figures: list[float] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    text: str = ""


def busiest_year(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute(
        "SELECT period_year FROM public.product_rollups WHERE period_year > 0"
        " GROUP BY 1 ORDER BY sum(review_count) DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    return int(row[0])


def cursor_at(
    connection: psycopg.Connection[Any], table: str, column: str, year: int, rank: int
) -> tuple[float, str]:
    """The (review_count, id) of the row at `rank` of a rollup ranking, descending (at the
    middle of a smaller one)."""
    row = connection.execute(
        sql.SQL(
            "SELECT review_count::float8, {id} FROM {table} WHERE period_year = %s"
            " ORDER BY review_count DESC, {id} DESC"
            " OFFSET least(%s, (SELECT count(*) / 2 FROM {table} WHERE period_year = %s)) LIMIT 1"
        ).format(id=sql.Identifier(column), table=sql.Identifier("public", table)),
        (year, rank, year),
    ).fetchone()
    assert row is not None
    return float(row[0]), str(row[1])


def middle_of_largest_tie(
    connection: psycopg.Connection[Any], table: str, column: str, year: int
) -> tuple[float, str, int]:
    """The middle row of the largest review_count tie of a rollup period, and its size."""
    row = connection.execute(
        sql.SQL(
            "SELECT review_count, count(*) FROM {table} WHERE period_year = %s"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).format(table=sql.Identifier("public", table)),
        (year,),
    ).fetchone()
    assert row is not None
    count, size = int(row[0]), int(row[1])
    middle = connection.execute(
        sql.SQL(
            "SELECT {id} FROM {table} WHERE period_year = %s AND review_count = %s"
            " ORDER BY {id} DESC OFFSET %s LIMIT 1"
        ).format(id=sql.Identifier(column), table=sql.Identifier("public", table)),
        (year, count, size // 2),
    ).fetchone()
    assert middle is not None
    return float(count), str(middle[0]), size


def range_cursor_at(connection: psycopg.Connection[Any], rank: int) -> tuple[float, str]:
    """The (review_count, product_id) at `rank` of the products' ranking over RANGE_400."""
    row = connection.execute(
        'SELECT count(*)::float8, "productID" FROM public.reviews'
        " WHERE review_date >= %s::date AND review_date <= %s::date"
        " GROUP BY 2 ORDER BY 1 DESC, 2 DESC OFFSET %s LIMIT 1",
        (*RANGE_400, rank),
    ).fetchone()
    assert row is not None
    return float(row[0]), str(row[1])


def cases(connection: psycopg.Connection[Any]) -> list[Case]:
    year = busiest_year(connection)
    calendar = {"from_date": f"{year}-01-01", "to_date": f"{year}-12-31"}
    ranged = {"from_date": RANGE_400[0], "to_date": RANGE_400[1]}
    deep_year = cursor_at(connection, "product_rollups", "product_id", year, 10_000)
    deep_all = cursor_at(connection, "product_rollups", "product_id", 0, 10_000)
    tie_value, tie_id, tie_size = middle_of_largest_tie(
        connection, "product_rollups", "product_id", 0
    )
    deep_range = range_cursor_at(connection, 1_000)
    top = "top_products"
    found = [
        Case(f"products, review_count, calendar year {year}, first page", top, calendar, 20),
        Case(
            f"products, review_count, calendar year {year}, page after rank 10,000",
            top,
            {**calendar, "after_value": deep_year[0], "after_id": deep_year[1]},
            20,
        ),
        Case("products, review_count, all time, first page", top, {}, 20),
        Case(
            "products, review_count, all time, page after rank 10,000",
            top,
            {"after_value": deep_all[0], "after_id": deep_all[1]},
            20,
        ),
        Case(
            f"products, review_count, all time, page in the middle of a {tie_size:,}-way tie",
            top,
            {"after_value": tie_value, "after_id": tie_id},
            20,
        ),
        Case(
            f"products, average_rating, min_reviews 10, calendar year {year}",
            top,
            {**calendar, "sort": "average_rating", "min_reviews": 10},
            20,
        ),
        Case(
            "products, average_rating, min_reviews 10, all time",
            top,
            {"sort": "average_rating", "min_reviews": 10},
            20,
        ),
        Case(
            "products, average_rating asc, min_reviews 10, all time",
            top,
            {"sort": "average_rating", "sort_order": "asc", "min_reviews": 10},
            20,
        ),
        Case(
            "products, verified_review_count, min_reviews 5, all time",
            top,
            {"sort": "verified_review_count", "min_reviews": 5},
            20,
        ),
        Case("products, review_count, 400 days mid-month", top, ranged, 50),
        Case(
            "products, helpful_votes, 400 days mid-month",
            top,
            {**ranged, "sort": "helpful_votes"},
            50,
        ),
        Case(
            "products, review_count, 400 days mid-month, page after rank 1,000",
            top,
            {**ranged, "after_value": deep_range[0], "after_id": deep_range[1]},
            50,
        ),
        Case(
            "products, average_rating, min_reviews 10, 400 days mid-month",
            top,
            {**ranged, "sort": "average_rating", "min_reviews": 10},
            1500,
        ),
        Case(
            "products, review_count asc, 400 days mid-month",
            top,
            {**ranged, "sort_order": "asc"},
            1500,
        ),
        Case("reviewers, review_count, all time, first page", "top_reviewers", {}, 20),
        Case(
            "reviewers, average_rating, min_reviews 10, all time",
            "top_reviewers",
            {"sort": "average_rating", "min_reviews": 10},
            20,
        ),
        Case("reviewers, review_count, 400 days mid-month", "top_reviewers", ranged, 50),
        Case(
            "reviewers, average_rating, min_reviews 10, 400 days mid-month",
            "top_reviewers",
            {**ranged, "sort": "average_rating", "min_reviews": 10},
            1500,
        ),
    ]
    return found


def statement(case: Case) -> sql.Composed:
    arguments = {"max_rows": PAGE, **case.arguments}
    return sql.SQL("SELECT * FROM review_api.{}({})").format(
        sql.Identifier(case.function),
        sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(name), sql.Literal(value))
            for name, value in arguments.items()
        ),
    )


def execution_ms(connection: psycopg.Connection[Any], query: sql.Composed) -> float:
    rows = connection.execute(sql.SQL("EXPLAIN (ANALYZE, TIMING OFF) ") + query).fetchall()
    text = "\n".join(row[0] for row in rows)
    match = re.search(r"Execution Time: ([0-9.]+) ms", text)
    assert match, text
    return float(match.group(1))


def plan_only(notice: str) -> str:
    """auto_explain's `duration: ... plan:` line and the plan, the query text left out."""
    lines = notice.splitlines()
    start = next((n for n, line in enumerate(lines) if "(cost=" in line), len(lines))
    return "\n".join([lines[0], *lines[start:]])


def run(database_url: str, runs: int) -> list[Case]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET jit = off")
        found = cases(connection)
        for case in found:
            query = statement(case)
            execution_ms(connection, query)  # warm
            case.figures = [execution_ms(connection, query) for _ in range(runs)]
            notices: list[str] = []

            def collect(diagnostic: psycopg.errors.Diagnostic, into: list[str] = notices) -> None:
                into.append(diagnostic.message_primary or "")

            connection.add_notice_handler(collect)
            connection.execute("LOAD 'auto_explain'")
            connection.execute("SET auto_explain.log_min_duration = 0")
            connection.execute("SET auto_explain.log_analyze = on")
            connection.execute("SET auto_explain.log_buffers = on")
            connection.execute("SET auto_explain.log_nested_statements = on")
            connection.execute("SET auto_explain.log_level = notice")
            connection.execute(query).fetchall()
            connection.execute("SET auto_explain.log_min_duration = -1")
            connection.remove_notice_handler(collect)
            # The inner statements' plans, without their text (in the migration); not the
            # outer call's (a Function Scan).
            case.plans = [plan_only(n) for n in notices if "Function Scan on top_" not in n]
            case.text = query.as_string(connection)
    return found


def markdown(found: list[Case], runs: int) -> str:
    lines = [
        "| case | median ms | min | max | target ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in found:
        median = statistics.median(case.figures)
        lines.append(
            f"| {case.label} | {median:.1f} | {min(case.figures):.1f} | "
            f"{max(case.figures):.1f} | {case.target_ms:g} |"
        )
    lines.append("")
    lines.append(f"(EXPLAIN ANALYZE execution time, {runs} runs each, max_rows {PAGE}.)")
    for case in found:
        lines += ["", f"### {case.label}", "", "```", case.text, ""]
        for plan in case.plans:
            lines.append(plan.rstrip())
            lines.append("")
        lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args(argv)
    sys.stdout.write(markdown(run(arguments.database_url, arguments.runs), arguments.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
