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
    assert "Sort" not in node_types, node_types
    # Every scan is index-only: no Seq Scan, Bitmap Heap Scan or plain Index Scan either.
    assert {kind for kind in node_types if kind.endswith("Scan")} == {"Index Only Scan"}, nodes
    scans = [node for node in nodes if node["Node Type"] == "Index Only Scan"]
    assert {scan["Index Name"] for scan in scans} == indexes, nodes
    # Whatever the scan reads, it aggregates: no condition left over as a Filter.
    assert not [scan for scan in scans if "Filter" in scan], scans
    # The generic plan's parameters, both date bounds included, are in the Index Cond
    # (an "IS NULL OR" bound would have become a Filter).
    (by_date,) = [scan for scan in scans if scan["Index Name"].endswith("_date_idx")]
    assert all(f"${n}" in by_date["Index Cond"] for n in (1, 2, 3)), by_date["Index Cond"]
