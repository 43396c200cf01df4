"""The bare baseline of scripts/benchmark: Sanic + asyncpg + orjson doing the same SQL work
per request as the service, and nothing else (no validation beyond date parsing, no
middleware, no logging, no metrics, no ETag).

Fastest safe pool: the reset query asyncpg runs on every release is disabled, as in the
service (no request leaves session state behind). Like the service, a summary counting no
reviews asks whether the id exists at all (404) or only the period is empty (200).

    DATABASE_URL=postgresql://... python scripts/bench_baseline.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import os
from datetime import date

import asyncpg
import orjson
from sanic import HTTPResponse, Request, Sanic

SQL = {
    "product": (
        "SELECT * FROM review_api.product_review_summary($1, $2, $3)",
        "SELECT exists(SELECT 1 FROM review_api.reviews WHERE product_id = $1)",
    ),
    "reviewer": (
        "SELECT * FROM review_api.reviewer_review_summary($1, $2, $3)",
        "SELECT exists(SELECT 1 FROM review_api.reviews WHERE reviewer_id = $1)",
    ),
}

app = Sanic("bench_baseline")


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release RESET ALL / UNLISTEN / CLOSE ALL round trip."""


@app.before_server_start
async def open_pool(app: Sanic) -> None:
    app.ctx.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=1,
        max_size=int(os.environ.get("DB_POOL_MAX", "4")),
        server_settings={"application_name": "reviews-api-baseline"},
        reset=_no_reset,
    )


@app.after_server_stop
async def close_pool(app: Sanic) -> None:
    await app.ctx.pool.close()


def _day(request: Request, name: str) -> date | None:
    value = request.args.get(name)
    return date.fromisoformat(value) if value else None


async def product(request: Request, entity_id: str) -> HTTPResponse:
    return await summary(request, "product", entity_id)


async def reviewer(request: Request, entity_id: str) -> HTTPResponse:
    return await summary(request, "reviewer", entity_id)


async def summary(request: Request, kind: str, entity_id: str) -> HTTPResponse:
    summary_sql, exists_sql = SQL[kind]
    async with request.app.ctx.pool.acquire() as connection:
        row = await connection.fetchrow(
            summary_sql, entity_id, _day(request, "from"), _day(request, "to")
        )
        if row["review_count"] == 0 and not await connection.fetchval(exists_sql, entity_id):
            return HTTPResponse(b'{"status":404}', status=404, content_type="application/json")
    return HTTPResponse(orjson.dumps(dict(row)), content_type="application/json")


app.add_route(product, "/v1/products/<entity_id:str>/reviews/summary")
app.add_route(reviewer, "/v1/reviewers/<entity_id:str>/reviews/summary")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    arguments = parser.parse_args()
    app.run(
        host=arguments.host,
        port=arguments.port,
        workers=arguments.workers,
        access_log=False,
        motd=False,
        single_process=arguments.workers == 1,
    )
