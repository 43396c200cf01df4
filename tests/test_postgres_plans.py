"""The summary functions are inlined and answered by index-only scans, also under the
generic plan a prepared statement switches to (asyncpg prepares every query)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from postgres_server import ThrowawayDatabase
from psycopg import sql

CASES = {
    "product_review_summary": ("ENDS", {"reviews_product_date_idx"}),
    "reviewer_review_summary": (
        "TIE",
        {"reviews_reviewer_date_idx", "reviews_reviewer_latest_name_idx"},
    ),
}


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def generic_plan(
    owner_url: str, function: str, entity_id: str, bounds: tuple[str | None, ...]
) -> list[dict[str, Any]]:
    with psycopg.connect(owner_url) as connection:
        connection.execute("SET enable_seqscan = off")  # a tiny table would tempt the planner
        connection.execute("SET plan_cache_mode = force_generic_plan")
        connection.execute(
            f"PREPARE summary(TEXT, DATE, DATE) AS SELECT * FROM review_api.{function}($1, $2, $3)"
        )
        arguments = [sql.Literal(value) for value in (entity_id, *bounds)]
        explain = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE summary({}, {}, {})").format(*arguments)
        ((plan,),) = connection.execute(explain).fetchall()
    return list(plan_nodes(plan[0]["Plan"]))


@pytest.mark.parametrize("function", list(CASES))
@pytest.mark.parametrize(
    "bounds", [(None, None), ("2015-01-01", "2016-12-31")], ids=["all-time", "range"]
)
def test_generic_plan_is_index_only(
    postgres_url: str,
    api_database: ThrowawayDatabase,
    function: str,
    bounds: tuple[str | None, ...],
) -> None:
    entity_id, indexes = CASES[function]
    nodes = generic_plan(api_database.owner_url, function, entity_id, bounds)
    node_types = {node["Node Type"] for node in nodes}
    assert "Function Scan" not in node_types, "the function was not inlined"
    assert not node_types & {"Seq Scan", "Sort", "Bitmap Heap Scan"}, node_types
    scanned = {node["Index Name"] for node in nodes if node["Node Type"] == "Index Only Scan"}
    assert scanned == indexes, nodes
