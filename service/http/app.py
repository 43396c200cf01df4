"""The Sanic application factory: routes generated from the catalog, resources owned by
listeners (one store per worker, opened before serving and closed after)."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, TypeAlias

import orjson
from sanic import HTTPResponse, Request, Sanic

from service import __version__
from service.catalog.endpoints import ENDPOINTS, Endpoint
from service.http.arguments import Period, parse_entity_id, parse_period, parse_query_arguments
from service.http.auth import ApiKeys
from service.http.bodies import json_response, summary_body
from service.http.caching import cache_policy, entity_tag, matches, not_modified
from service.http.cors import preflight_handler
from service.http.data_version import DataVersion
from service.http.framing import READ_HEAD, checked_head, read_head
from service.http.lifecycle import Handler, finish_response, instrumented
from service.http.media_types import CSV, choose_media_type, csv_body
from service.http.metrics import Metrics, worker_stopped
from service.http.observability import AccessLog, RequestIds, configure_logging
from service.http.openapi import openapi_document
from service.http.problems import (
    DATABASE_UNAVAILABLE,
    NOT_FOUND,
    OVERLOADED,
    UNREPRESENTABLE_DATA,
    Problem,
    ProblemErrorHandler,
)
from service.http.response_cache import CachedSummary, ResponseCache
from service.settings import Settings
from service.store.connection_queue import Overloaded
from service.store.database import DatabaseUnavailable, ReviewStore, UnrepresentableRow, open_store

APP_NAME = "reviews-api"
RETRY_AFTER_S = "5"
OVERLOADED_RETRY_AFTER_S = "1"
# Ids whose stored rows could not be represented, logged once per worker; forgotten when full.
MAX_REMEMBERED_UNREPRESENTABLE = 10_000
METRICS_SAMPLE_INTERVAL_S = 1.0
STATIC_DIR = Path(__file__).resolve().parent / "static"
App: TypeAlias = "Sanic[Any, Any]"


class ReviewsApp(Sanic[Any, Any]):
    """Sanic, answering the request-head check's dispatch itself.

    Sanic's dispatch looks each event up in its signal router, about 14 µs a call against
    3 µs for the check (docs/benchmarks.md), and the check runs on every request. The
    signal stays registered (`read_head`, in create_app): Sanic's start-up touch-up removes
    the dispatch from its head parser for events nothing listens to.
    """

    def dispatch(
        self,
        event: str,
        *,
        condition: dict[str, str] | None = None,
        context: dict[str, Any] | None = None,
        fail_not_found: bool = True,
        inline: bool = False,
        reverse: bool = False,
    ) -> Coroutine[Any, Any, Awaitable[Any]]:
        if event == READ_HEAD and context is not None:
            return checked_head(context["head"])  # type: ignore[return-value]
        return super().dispatch(  # type: ignore[call-overload,no-any-return]
            event,
            condition=condition,
            context=context,
            fail_not_found=fail_not_found,
            inline=inline,
            reverse=reverse,
        )


def create_app(settings: Settings | None = None) -> App:
    """Build the app; `settings` default to the environment's."""
    settings = settings or Settings.from_env()
    log_writer = configure_logging(settings.log_level)
    app = ReviewsApp(
        APP_NAME, error_handler=ProblemErrorHandler(finish_response), configure_logging=False
    )
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_TIMEOUT = settings.request_timeout_s
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = settings.graceful_shutdown_s
    app.ctx.settings = settings
    app.ctx.api_keys = ApiKeys(settings.api_key_digests)
    app.ctx.openapi = orjson.dumps(openapi_document(settings))
    app.ctx.metrics = Metrics()
    app.ctx.access_log = AccessLog(log_writer)
    app.ctx.request_ids = RequestIds()
    app.ctx.cors_origins = frozenset(settings.cors_origins)
    app.ctx.response_cache = ResponseCache(
        settings.cache_entries, settings.cache_max_mb * 1024 * 1024
    )
    app.ctx.summary_headers = _summary_headers(settings)
    app.ctx.unrepresentable_logged = set()
    app.add_signal(read_head, READ_HEAD)  # RFC 9112 checks, before routing (see ReviewsApp)

    @app.before_server_start
    async def open_database(app: App) -> None:
        app.ctx.store = await open_store(settings)
        app.ctx.store.observe_queries(app.ctx.metrics.observe_query)
        app.ctx.data_version = DataVersion(app.ctx.store, app.ctx.response_cache, app.ctx.metrics)
        loop = asyncio.get_running_loop()
        app.ctx.background = [
            loop.create_task(app.ctx.data_version.watch()),
            loop.create_task(_sample_metrics(app)),
        ]

    @app.after_server_stop
    async def close_database(app: App) -> None:
        for task in app.ctx.background:
            task.cancel()
        await asyncio.gather(*app.ctx.background, return_exceptions=True)
        await app.ctx.store.close()
        worker_stopped(os.getpid())
        log_writer.stop()  # flush the lines still queued

    for endpoint in ENDPOINTS:
        _add_route(app, _summary_handler(endpoint), endpoint.sanic_path, endpoint.name)
    for handler, path in SERVICE_HANDLERS.items():
        _add_route(app, handler, path, handler.__name__)
    if settings.cors_origins:
        preflight = preflight_handler(app.ctx.cors_origins)
        for number, endpoint in enumerate(ENDPOINTS):
            name = f"{preflight.__name__}_{number}"
            _add_route(app, preflight, endpoint.sanic_path, name, method="OPTIONS")
    return app


def _add_route(app: App, handler: Handler, path: str, name: str, method: str = "GET") -> None:
    """Every route goes through here: each request is timed, logged and counted. A GET
    route answers HEAD too (RFC 9110 9.3.2: Sanic sends its headers without the body)."""
    methods = [method, "HEAD"] if method == "GET" else [method]
    app.add_route(instrumented(handler), path, methods=methods, name=name)


def _authorize(request: Request) -> None:
    """With API keys on, a valid key or a Problem; the key id goes to the access log."""
    api_keys: ApiKeys = request.app.ctx.api_keys
    if api_keys.enabled:
        request.ctx.key_id = api_keys.key_id(request.headers.getall("authorization", []))


def _summary_handler(endpoint: Endpoint) -> Handler:
    """The GET handler of one catalog entry: authorise, validate, then answer from the
    response cache or the database."""

    async def handler(request: Request, **path: str) -> HTTPResponse:
        app = request.app
        _authorize(request)
        entity_id = parse_entity_id(endpoint, path[endpoint.id_parameter])
        arguments = parse_query_arguments(endpoint, _query_string(request))
        period = parse_period(arguments)
        media_type = choose_media_type(arguments.get("format"), request.headers.get("accept"))
        cache: ResponseCache = app.ctx.response_cache
        key = (endpoint.name, entity_id, period.date_from, period.date_to, media_type)
        summary = cache.get(key)
        if summary is None:
            generation = cache.generation  # before the query: a load during it voids it
            summary = await _summary(app, endpoint, entity_id, period, media_type)
            cache.put(key, summary, generation)
        if summary.payload is None:
            raise Problem(404, summary.not_found_detail, problem_type=NOT_FOUND)
        headers = {"ETag": summary.etag, **app.ctx.summary_headers}
        if matches(request.headers.get("if-none-match"), summary.etag):
            return not_modified(headers)
        return HTTPResponse(summary.payload, headers=headers, content_type=summary.content_type)

    handler.__name__ = endpoint.name
    return handler


async def _summary(
    app: App, endpoint: Endpoint, entity_id: str, period: Period, media_type: str
) -> CachedSummary:
    """The summary's bytes and ETag, or the detail of its 404, from the database."""
    store: ReviewStore = app.ctx.store
    try:
        row = await store.summary(
            endpoint.summary_query,
            id_argument=endpoint.id_parameter,
            entity_id=entity_id,
            date_from=period.date_from,
            date_to=period.date_to,
        )
        version = await app.ctx.data_version.current()
        if row["review_count"] == 0 and not await store.exists(
            endpoint.exists_query, id_argument=endpoint.id_parameter, entity_id=entity_id
        ):
            detail = f"no reviews at all for {endpoint.id_parameter} {entity_id!r}"
            return CachedSummary(None, "", "", not_found_detail=detail)
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error
    except Overloaded as error:
        raise _overloaded() from error
    except UnrepresentableRow as error:
        _log_unrepresentable(app, endpoint, entity_id, error)
        raise Problem(
            502,
            f"the stored reviews of {endpoint.id_parameter} {entity_id!r} hold a value this "
            "service cannot represent; retrying will not help until the data is corrected",
            problem_type=UNREPRESENTABLE_DATA,
        ) from error
    body = summary_body(endpoint, entity_id, period, row)
    if media_type == CSV:
        payload, content_type = csv_body(endpoint, body, period), f"{CSV}; charset=utf-8"
    else:
        payload, content_type = orjson.dumps(body), "application/json"
    return CachedSummary(payload, content_type, entity_tag(version, payload))


def _summary_headers(settings: Settings) -> dict[str, str]:
    """Cache-Control and Vary of every summary (the ETag is added per response)."""
    vary = ["Accept"]
    if settings.auth_enabled:
        vary.append("Authorization")
    if settings.cors_origins:
        vary.append("Origin")
    return cache_policy(
        max_age_s=settings.cache_max_age_s, private=settings.auth_enabled, vary=", ".join(vary)
    )


def _query_string(request: Request) -> str:
    try:
        return request.query_string
    except UnicodeDecodeError:  # raw non-ASCII bytes in the request line
        return "%FF"  # decodes to invalid UTF-8: parse_query_arguments answers 400


def _overloaded() -> Problem:
    """503 of its own: the database is fine, this worker has more requests than connections
    and a bounded line for them (DB_QUEUE_MAX, DB_QUEUE_WAIT_MS). Not logged: the access
    log and reviews_api_db_queue_refused_total count it, and logging would add load."""
    return Problem(
        503,
        "The service is busy: too many requests are waiting for a database connection; "
        "retry shortly.",
        problem_type=OVERLOADED,
        headers={"Retry-After": OVERLOADED_RETRY_AFTER_S},
    )


def _log_unrepresentable(
    app: App, endpoint: Endpoint, entity_id: str, error: UnrepresentableRow
) -> None:
    """Once per id and worker: the id (from the path, the only client value in this line)
    and what could not be represented, for whoever corrects the data."""
    logged: set[tuple[str, str]] = app.ctx.unrepresentable_logged
    if (endpoint.name, entity_id) in logged:
        return
    if len(logged) >= MAX_REMEMBERED_UNREPRESENTABLE:
        logged.clear()
    logged.add((endpoint.name, entity_id))
    logging.getLogger("reviews_api.database").error(
        "stored data the service cannot represent: %s %r: %s",
        endpoint.id_parameter,
        entity_id,
        error,
    )


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
    """Protected like the data when API keys are on (see the README's Monitoring)."""
    _authorize(request)
    body, content_type = request.app.ctx.metrics.exposition()
    return HTTPResponse(body, content_type=content_type)


async def docs_asset(request: Request, name: str) -> HTTPResponse:
    """The vendored Swagger UI files, held in memory (a few hundred kB)."""
    if name not in DOCS_ASSETS:
        raise Problem(404, f"no documentation asset named {name!r}", problem_type=NOT_FOUND)
    body, content_type = DOCS_ASSETS[name]
    return HTTPResponse(body, content_type=content_type, headers=ASSET_CACHE_HEADERS)


DOCS_ASSETS = {
    path.name: (path.read_bytes(), mimetypes.guess_type(path.name)[0] or "text/plain")
    for path in (STATIC_DIR / "swagger-ui").iterdir()
    if path.suffix in (".js", ".css", ".png")
}
ASSET_CACHE_HEADERS = {"Cache-Control": "public, max-age=86400"}

# The service's own routes; a handler's name is its route's name.
SERVICE_HANDLERS: dict[Handler, str] = {
    index: "/",
    live: "/health/live",
    ready: "/health/ready",
    openapi_json: "/openapi.json",
    docs: "/docs",
    docs_asset: "/docs/assets/<name:str>",
    metrics: "/metrics",
}


async def _sample_metrics(app: App) -> None:
    """Pool and cache figures, sampled every METRICS_SAMPLE_INTERVAL_S rather than updated
    on each request (a metric update costs more than the cache lookup it would count)."""
    while True:
        app.ctx.metrics.observe_pool(app.ctx.store.pool_stats())
        app.ctx.metrics.observe_cache(app.ctx.response_cache, app.ctx.data_version.listening)
        await asyncio.sleep(METRICS_SAMPLE_INTERVAL_S)
