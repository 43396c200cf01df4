"""Write the PostgreSQL plans of the summary functions to a Markdown file, for DBAs.

    python scripts/explain_plans.py --database-url postgresql://owner@host/db \\
        --output docs/postgres-plans.md [--append]

For the most-reviewed product, a median product and a median reviewer, all time and one
year: EXPLAIN (ANALYZE, BUFFERS) of the prepared call, once with a custom plan and once
with the generic plan asyncpg's prepared statements switch to. A diagnostic tool: the SQL
it runs is EXPLAIN around the public functions, nothing the service depends on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

# The id at the middle of the distribution of review counts per entity.
MEDIAN_ID = """
    SELECT c.id
    FROM (SELECT {column} AS id, count(*) AS n FROM public.reviews GROUP BY 1) AS c
    ORDER BY c.n, c.id
    OFFSET (SELECT count(DISTINCT {column}) / 2 FROM public.reviews)
    LIMIT 1
"""
PICK_IDS = {
    "most-reviewed product": (
        "product_review_summary",
        'SELECT "productID" FROM public.reviews GROUP BY 1 ORDER BY count(*) DESC LIMIT 1',
    ),
    "median product": ("product_review_summary", MEDIAN_ID.format(column='"productID"')),
    "median reviewer": ("reviewer_review_summary", MEDIAN_ID.format(column='"reviewerID"')),
}
PERIODS = {"all time": (None, None), "one year": ("2016-01-01", "2016-12-31")}
PLAN_MODES = {"custom plan": "force_custom_plan", "generic plan": "force_generic_plan"}


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
    return "\n".join(row[0] for row in connection.execute(statement).fetchall())


def report(database_url: str) -> str:
    # No automatic server-side preparation: the script manages its own statement.
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as connection:
        total = connection.execute("SELECT count(*) FROM public.reviews").fetchone()[0]
        version = connection.execute("SHOW server_version").fetchone()[0]
        lines = [f"## {total:,} reviews (PostgreSQL {version})", ""]
        for label, (function, pick) in PICK_IDS.items():
            entity_id = connection.execute(pick).fetchone()[0]
            count = connection.execute(
                sql.SQL("SELECT review_count FROM review_api.{}(%s)").format(
                    sql.Identifier(function)
                ),
                (entity_id,),
            ).fetchone()[0]
            for period, bounds in PERIODS.items():
                for mode_label, mode in PLAN_MODES.items():
                    lines += [
                        f"### {label} `{entity_id}` ({count:,} reviews), {period}, {mode_label}",
                        "",
                        "```",
                        explain(connection, function, entity_id, bounds, mode),
                        "```",
                        "",
                    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--append", action="store_true", help="add to the file, do not replace")
    arguments = parser.parse_args(argv)
    text = report(arguments.database_url)
    mode = "a" if arguments.append else "w"
    with arguments.output.open(mode) as output:
        output.write(text + "\n")
    print(f"wrote {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
