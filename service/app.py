"""The Sanic application factory: routes generated from the catalog, resources owned by
listeners (one store per worker, opened before serving and closed after)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeAlias

import orjson
from sanic import HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse

from . import __version__
from .auth import ApiKeys
from .caching import cache_headers, entity_tag, matches, not_modified
from .catalog import ENDPOINTS, Endpoint
from .cors import add_cors
from .database import DatabaseUnavailable, ReviewStore, open_store
from .metrics import Metrics, worker_stopped
from .observability import (
    ACCESS_LOGGER,
    REQUEST_ID_HEADER,
    access_fields,
    configure_logging,
    start_request,
)
from .openapi import openapi_document
from .parameters import Period, parse_entity_id, parse_period, parse_query_arguments
from .problems import DATABASE_UNAVAILABLE, NOT_FOUND, Problem, ProblemErrorHandler
from .representations import CSV, choose_media_type, csv_body
from .responses import json_response, summary_body
from .settings import Settings

APP_NAME = "reviews-api"
RETRY_AFTER_S = "5"
# How long a worker trusts the data version it read last (ETags carry it).
DATA_VERSION_TTL_S = 1.0
STATIC_DIR = Path(__file__).resolve().parent / "static"
Handler: TypeAlias = Callable[..., Coroutine[Any, Any, HTTPResponse]]
App: TypeAlias = "Sanic[Any, Any]"


def create_app(settings: Settings | None = None) -> App:
    """Build the app; `settings` default to the environment's."""
    settings = settings or Settings.from_env()
    log_listener = configure_logging(settings.log_level)
    app = Sanic(APP_NAME, error_handler=ProblemErrorHandler(), configure_logging=False)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_TIMEOUT = settings.request_timeout_s
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = settings.graceful_shutdown_s
    app.ctx.settings = settings
    app.ctx.api_keys = ApiKeys(settings.api_key_digests)
    app.ctx.openapi = orjson.dumps(openapi_document(settings))
    app.ctx.metrics = Metrics()
    app.register_middleware(_start_request, "request")
    app.register_middleware(_finish_request, "response")

    @app.before_server_start
    async def open_database(app: App) -> None:
        app.ctx.store = await open_store(settings)
        app.ctx.store.observe_queries(app.ctx.metrics.observe_query)
        app.ctx.data_version = ("", 0.0)

    @app.after_server_stop
    async def close_database(app: App) -> None:
        await app.ctx.store.close()
        worker_stopped(os.getpid())
        log_listener.stop()  # flush the lines still queued

    for endpoint in ENDPOINTS:
        app.add_route(
            _summary_handler(endpoint), endpoint.sanic_path, methods=["GET"], name=endpoint.name
        )
    app.add_route(index, "/", methods=["GET"], name="index")
    app.add_route(live, "/health/live", methods=["GET"], name="health_live")
    app.add_route(ready, "/health/ready", methods=["GET"], name="health_ready")
    app.add_route(openapi_json, "/openapi.json", methods=["GET"], name="openapi")
    app.add_route(docs, "/docs", methods=["GET"], name="docs")
    app.add_route(metrics, "/metrics", methods=["GET"], name="metrics")
    app.static("/docs/assets", STATIC_DIR / "swagger-ui", name="docs_assets")
    if settings.cors_origins:
        add_cors(app, settings.cors_origins, [endpoint.sanic_path for endpoint in ENDPOINTS])
    return app


def _summary_handler(endpoint: Endpoint) -> Handler:
    """The GET handler of one catalog entry: authorise, validate, query, represent."""

    async def handler(request: Request, **path: str) -> HTTPResponse:
        app = request.app
        if app.ctx.api_keys.enabled:
            request.ctx.key_id = app.ctx.api_keys.key_id(request.headers.get("authorization"))
        entity_id = parse_entity_id(endpoint, path[endpoint.id_parameter])
        arguments = parse_query_arguments(endpoint, _query_string(request))
        period = parse_period(arguments)
        media_type = choose_media_type(arguments.get("format"), request.headers.get("accept"))
        row, data_version = await _summary_row(app, endpoint, entity_id, period)
        body = summary_body(endpoint, entity_id, period, row)
        payload = csv_body(endpoint, body, period) if media_type == CSV else orjson.dumps(body)
        headers = _cache_headers(app.ctx.settings, entity_tag(data_version, payload))
        if matches(request.headers.get("if-none-match"), headers["ETag"]):
            return not_modified(headers)
        content_type = f"{CSV}; charset=utf-8" if media_type == CSV else "application/json"
        return HTTPResponse(payload, headers=headers, content_type=content_type)

    handler.__name__ = endpoint.name
    return handler


async def _summary_row(
    app: App, endpoint: Endpoint, entity_id: str, period: Period
) -> tuple[dict[str, Any], str]:
    """The summary row and the data version it was read under; 404 for an unknown id."""
    store: ReviewStore = app.ctx.store
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
        return row, await _data_version(app, store)
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error


async def _data_version(app: App, store: ReviewStore) -> str:
    """The current load id, re-read at most once a second per worker."""
    version, read_at = app.ctx.data_version
    if time.monotonic() - read_at > DATA_VERSION_TTL_S:
        version, loaded_at = await store.current_load()
        app.ctx.data_version = (version, time.monotonic())
        app.ctx.metrics.observe_data(version, loaded_at)
    return str(version)


def _cache_headers(settings: Settings, etag: str) -> dict[str, str]:
    vary = ["Accept"]
    if settings.auth_enabled:
        vary.append("Authorization")
    if settings.cors_origins:
        vary.append("Origin")
    return cache_headers(
        etag,
        max_age_s=settings.cache_max_age_s,
        private=settings.auth_enabled,
        vary=", ".join(vary),
    )


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
        {"method": "GET", "path": path, "description": description}
        for path, description in SERVICE_ROUTES.items()
    ]
    return json_response({"service": APP_NAME, "version": __version__, "routes": routes})


SERVICE_ROUTES = {
    "/health/live": "The process is up.",
    "/health/ready": "The database answers a query (503 when it does not).",
    "/openapi.json": "The OpenAPI 3.1 document of this API.",
    "/docs": "Interactive documentation (Swagger UI, served locally).",
    "/metrics": "Prometheus metrics, summed over all workers.",
}


async def live(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


async def ready(request: Request) -> HTTPResponse:
    try:
        await request.app.ctx.store.ping()
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error
    return json_response({"status": "ready"})


async def openapi_json(request: Request) -> HTTPResponse:
    return HTTPResponse(request.app.ctx.openapi, content_type="application/json")


async def docs(request: Request) -> HTTPResponse:
    return HTTPResponse(
        (STATIC_DIR / "docs.html").read_bytes(), content_type="text/html; charset=utf-8"
    )


async def metrics(request: Request) -> HTTPResponse:
    body, content_type = request.app.ctx.metrics.exposition()
    return HTTPResponse(body, content_type=content_type)


ACCESS_LOG = logging.getLogger(ACCESS_LOGGER)


async def _start_request(request: Request) -> None:
    start_request(request)


async def _finish_request(request: Request, response: BaseHTTPResponse) -> None:
    """Request id back to the caller, one access-log line, the request metrics."""
    fields = access_fields(request, response)
    response.headers[REQUEST_ID_HEADER] = fields["request_id"]
    ACCESS_LOG.info("%s %s %s", fields["method"], fields["route"], fields["status"], extra=fields)
    request.app.ctx.metrics.observe_request(fields)
    store = getattr(request.app.ctx, "store", None)
    if store is not None:
        request.app.ctx.metrics.observe_pool(store.pool_stats())
