"""The Sanic application factory: routes generated from the catalog, resources owned by
listeners (one store per worker, opened before serving and closed after)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeAlias

from sanic import HTTPResponse, Request, Sanic

from . import __version__
from .catalog import ENDPOINTS, Endpoint
from .database import DatabaseUnavailable, ReviewStore, open_store
from .parameters import parse_entity_id, parse_period, parse_query_arguments
from .problems import DATABASE_UNAVAILABLE, NOT_FOUND, Problem, ProblemErrorHandler
from .responses import json_response, summary_body
from .settings import Settings

APP_NAME = "reviews-api"
RETRY_AFTER_S = "5"
Handler: TypeAlias = Callable[..., Coroutine[Any, Any, HTTPResponse]]
App: TypeAlias = "Sanic[Any, Any]"


def create_app(settings: Settings | None = None) -> App:
    """Build the app; `settings` default to the environment's."""
    settings = settings or Settings.from_env()
    app = Sanic(APP_NAME, error_handler=ProblemErrorHandler())
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings
    logging.getLogger("reviews_api").setLevel(settings.log_level)

    @app.before_server_start
    async def open_database(app: App) -> None:
        app.ctx.store = await open_store(settings)

    @app.after_server_stop
    async def close_database(app: App) -> None:
        await app.ctx.store.close()

    for endpoint in ENDPOINTS:
        app.add_route(
            _summary_handler(endpoint), endpoint.sanic_path, methods=["GET"], name=endpoint.name
        )
    app.add_route(index, "/", methods=["GET"], name="index")
    app.add_route(live, "/health/live", methods=["GET"], name="health_live")
    app.add_route(ready, "/health/ready", methods=["GET"], name="health_ready")
    return app


def _summary_handler(endpoint: Endpoint) -> Handler:
    """The GET handler of one catalog entry: validate, query, 404 or serialise."""

    async def handler(request: Request, **path: str) -> HTTPResponse:
        entity_id = parse_entity_id(endpoint, path[endpoint.id_parameter])
        period = parse_period(parse_query_arguments(endpoint, _query_string(request)))
        store: ReviewStore = request.app.ctx.store
        try:
            row = await store.summary(
                endpoint.summary_query,
                id_argument=endpoint.id_parameter,
                entity_id=entity_id,
                date_from=period.date_from,
                date_to=period.date_to,
            )
            if row["review_count"] == 0 and not await store.exists(
                endpoint.exists_query, id_argument=endpoint.id_parameter, entity_id=entity_id
            ):
                raise Problem(
                    404,
                    f"no reviews at all for {endpoint.id_parameter} {entity_id!r}",
                    problem_type=NOT_FOUND,
                )
        except DatabaseUnavailable as error:
            raise _unavailable(error) from error
        return json_response(summary_body(endpoint, entity_id, period, row))

    handler.__name__ = endpoint.name
    return handler


def _query_string(request: Request) -> str:
    try:
        return request.query_string
    except UnicodeDecodeError:  # raw non-ASCII bytes in the request line
        return "%FF"  # decodes to invalid UTF-8: parse_query_arguments answers 400


def _unavailable(error: DatabaseUnavailable) -> Problem:
    """503 with Retry-After: the client should come back, nothing is wrong with its request."""
    logging.getLogger("reviews_api.database").warning("database unavailable: %s", error)
    return Problem(
        503,
        "The database is not answering; try again shortly.",
        problem_type=DATABASE_UNAVAILABLE,
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def index(request: Request) -> HTTPResponse:
    """Names the service, its version and its routes."""
    routes = [
        {"method": "GET", "path": endpoint.path, "description": endpoint.description}
        for endpoint in ENDPOINTS
    ]
    routes += [
        {"method": "GET", "path": "/health/live", "description": "The process is up."},
        {
            "method": "GET",
            "path": "/health/ready",
            "description": "The database answers a query (503 when it does not).",
        },
    ]
    return json_response({"service": APP_NAME, "version": __version__, "routes": routes})


async def live(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


async def ready(request: Request) -> HTTPResponse:
    try:
        await request.app.ctx.store.ping()
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error
    return json_response({"status": "ready"})
