"""The Sanic application factory: routes generated from the catalog, resources owned by
listeners (one store per worker, opened before serving and closed after)."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import orjson
from sanic import HTTPResponse, Request, Sanic
from sanic.config import Config

from service import __version__
from service.catalog import load_catalog
from service.catalog.model import Catalog, Endpoint
from service.http.arguments import ArgumentParser
from service.http.auth import ApiKeys
from service.http.bodies import BodyShaper, json_response
from service.http.caching import cache_policy, entity_tag, matches, not_modified, tag_version
from service.http.cors import preflight_handler
from service.http.data_version import DataVersion, newer
from service.http.framing import READ_HEAD, checked_head, read_head
from service.http.lifecycle import Handler, finish_response, instrumented
from service.http.media_types import CSV, CsvWriter, choose_media_type, prefers_html
from service.http.metrics import Metrics, worker_stopped
from service.http.observability import AccessLog, RequestIds, configure_logging
from service.http.openapi import openapi_document
from service.http.pages import Pages, missing
from service.http.problems import (
    DATABASE_UNAVAILABLE,
    HEAD_LIMIT_BYTES,
    NOT_FOUND,
    OVERLOADED,
    REPLICA_BEHIND,
    UNREPRESENTABLE_DATA,
    Problem,
    ProblemErrorHandler,
    replica_behind,
    stale_cursor,
)
from service.http.response_cache import CachedAnswer, ResponseCache
from service.http.web_assets import PAGE_HEADERS, WebAssets
from service.settings import Settings
from service.store.connection_queue import Overloaded
from service.store.database import (
    Answer,
    CatalogMismatch,
    DatabaseUnavailable,
    ReviewStore,
    UnrepresentableRow,
    open_store,
)

APP_NAME = "reviews-api"
RETRY_AFTER_S = "5"
OVERLOADED_RETRY_AFTER_S = "1"
# Entities whose stored rows could not be represented, logged once per worker; forgotten
# when full.
MAX_REMEMBERED_UNREPRESENTABLE = 10_000
METRICS_SAMPLE_INTERVAL_S = 1.0
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass
class AppContext:
    """What the app's handlers and listeners share (Sanic's `app.ctx`), typed. The store,
    the data version and the background tasks exist once the worker is serving."""

    settings: Settings
    catalog: Catalog
    api_keys: ApiKeys
    openapi: bytes
    metrics: Metrics
    access_log: AccessLog
    request_ids: RequestIds
    cors_origins: frozenset[str]
    response_cache: ResponseCache
    answer_headers: dict[str, str]
    web_assets: WebAssets
    # Ids whose stored rows could not be represented, logged once per worker.
    unrepresentable_logged: set[tuple[Any, ...]] = field(default_factory=set)
    store: ReviewStore = field(init=False)
    data_version: DataVersion = field(init=False)
    background: list[asyncio.Task[None]] = field(default_factory=list)


App: TypeAlias = "Sanic[Config, AppContext]"


class ReviewsApp(Sanic[Config, AppContext]):
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
    catalog = load_catalog(settings.api_catalog)
    log_writer = configure_logging(settings.log_level)
    context = AppContext(
        settings=settings,
        catalog=catalog,
        api_keys=ApiKeys(settings.api_key_digests),
        openapi=orjson.dumps(openapi_document(settings, catalog)),
        metrics=Metrics(),
        access_log=AccessLog(log_writer),
        request_ids=RequestIds(),
        cors_origins=frozenset(settings.cors_origins),
        response_cache=ResponseCache(settings.cache_entries, settings.cache_max_mb * 1024 * 1024),
        answer_headers=_answer_headers(settings),
        web_assets=_web_assets(),
    )
    app = ReviewsApp(
        APP_NAME,
        ctx=context,
        error_handler=ProblemErrorHandler(finish_response),
        configure_logging=False,
    )
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_TIMEOUT = settings.request_timeout_s
    app.config.REQUEST_MAX_HEADER_SIZE = HEAD_LIMIT_BYTES
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = settings.graceful_shutdown_s
    app.add_signal(read_head, READ_HEAD)  # RFC 9112 checks, before routing (see ReviewsApp)

    @app.before_server_start
    async def open_database(app: App) -> None:
        context.store = await open_store(settings, catalog)
        context.store.observe_queries(context.metrics.observe_query)
        context.store.observe_retries(context.metrics.count_retry)
        context.data_version = DataVersion(context.store, context.response_cache, context.metrics)
        loop = asyncio.get_running_loop()
        context.background = [
            loop.create_task(context.data_version.watch()),
            loop.create_task(_sample_metrics(context)),
        ]

    @app.after_server_stop
    async def close_database(app: App) -> None:
        for task in context.background:
            task.cancel()
        await asyncio.gather(*context.background, return_exceptions=True)
        await context.store.close()
        worker_stopped(os.getpid())
        log_writer.stop()  # flush the lines still queued

    for endpoint in catalog.endpoints:
        _add_route(app, _endpoint_handler(endpoint, context), endpoint.sanic_path, endpoint.name)
    for handler, path in SERVICE_HANDLERS.items():
        _add_route(app, handler, path, handler.__name__)
    if settings.cors_origins:
        preflight = preflight_handler(context.cors_origins)
        for number, endpoint in enumerate(catalog.endpoints):
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


class EndpointAnswers:
    """What answering one catalog entry takes, built once at start-up."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.parser = ArgumentParser(endpoint)
        self.shaper = BodyShaper(endpoint)
        self.csv_writer = CsvWriter(endpoint)
        self.pages = Pages(endpoint) if endpoint.cursor is not None else None


def _endpoint_handler(endpoint: Endpoint, context: AppContext) -> Handler:
    """The GET handler of one catalog entry: authorise, validate, then answer from the
    response cache or the database. The same for every entry: what differs is data."""
    answers = EndpointAnswers(endpoint)

    async def handler(request: Request, **path: str) -> HTTPResponse:
        _authorize(request)
        parsed = answers.parser.parse(path, _query_string(request))
        media_type = choose_media_type(parsed.media_format, request.headers.get("accept"))
        served = await _version(context)
        if_none_match = request.headers.get("if-none-match")
        if if_none_match and _names_newer(if_none_match, served):
            raise replica_behind("this ETag was made")
        if parsed.cursor is not None and answers.pages is not None:
            answers.pages.apply(parsed.cursor, parsed.values, served)
        cache = context.response_cache
        key = (endpoint.name, media_type, *map(_hashable, parsed.values))
        answer = cache.get(key)
        if answer is None:
            generation = cache.generation  # before the query: a load during it voids it
            answer = await _answer(context, answers, parsed.values, media_type)
            if answer.version == served:
                cache.put(key, answer, generation)
            else:  # read from another load than the cache holds: never cached under it
                context.data_version.seen(answer.version)
                if parsed.cursor is not None:  # the page would mix two loads' rows
                    raise stale_cursor()
        if answer.payload is None:
            raise Problem(404, answer.not_found_detail, problem_type=NOT_FOUND)
        headers = {"ETag": answer.etag, **context.answer_headers}
        if answer.link:
            headers["Link"] = answer.link
        if matches(if_none_match, answer.etag):
            return not_modified(headers)
        return HTTPResponse(answer.payload, headers=headers, content_type=answer.content_type)

    handler.__name__ = endpoint.name
    return handler


def _names_newer(if_none_match: str, served: str) -> bool:
    """True when a tag of If-None-Match of this service's making (`"<data version>-<digest>"`,
    entity_tag) names a newer data version than `served`: the client saw a load this worker
    does not serve yet. Any other tag (made up, another server's) is simply no match."""
    return any(newer(tag_version(tag) or "", served) for tag in if_none_match.split(","))


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


async def _version(context: AppContext) -> str:
    try:
        return await context.data_version.current()
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error


async def _answer(
    context: AppContext, answers: EndpointAnswers, values: list[Any], media_type: str
) -> CachedAnswer:
    """The answer's bytes and ETag, or the detail of its 404, from the database."""
    endpoint, pages = answers.endpoint, answers.pages
    call_values = values
    if pages is not None:  # one row more than asked: is there a next page?
        call_values = list(values)
        call_values[pages.limit_at] += 1
    try:
        answer = await context.store.call(endpoint, call_values)
        # The version the rows were read from, which the statement reads in their snapshot
        # (PostgreSQL); SQLite's is read apart.
        version = answer.version or await context.data_version.current()
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error
    except Overloaded as error:
        raise _overloaded() from error
    except UnrepresentableRow as error:
        raise _unrepresentable(context, endpoint, values, error) from error
    if _not_found(endpoint, answer):
        detail = _not_found_detail(endpoint, values)
        return CachedAnswer(None, "", "", not_found_detail=detail, version=version)
    rows, link = answer.rows, ""
    extra: dict[str, Any] = {}
    if pages is not None:
        limit = values[pages.limit_at]
        next_link = None
        if len(rows) > limit:
            rows = rows[:limit]
            cursor = pages.cursor(version, values, rows[-1])
            next_link = pages.next_link(values, cursor, "csv" if media_type == CSV else None)
            link = f'<{next_link}>; rel="next"'
        extra["next"] = next_link
    if endpoint.missing is not None:
        extra[endpoint.missing.field] = missing(endpoint, values, rows)
    body = answers.shaper.body(values, rows, extra)
    if media_type == CSV:
        payload, content_type = answers.csv_writer.csv(body), f"{CSV}; charset=utf-8"
    else:
        payload, content_type = orjson.dumps(body), "application/json"
    etag = entity_tag(version, payload)
    return CachedAnswer(payload, content_type, etag, link=link, version=version)


def _not_found(endpoint: Endpoint, answer: Answer) -> bool:
    """An unknown entity, or an object endpoint whose function answered no row."""
    return not answer.found or (endpoint.returns == "object" and not answer.rows)


def _not_found_detail(endpoint: Endpoint, values: list[Any]) -> str:
    """The `@notfound` text, each `{argument}` replaced by the value asked for, quoted."""
    quoted = {a.name: repr(v) for a, v in zip(endpoint.arguments, values, strict=True)}
    return endpoint.not_found.format_map(quoted)


def _answer_headers(settings: Settings) -> dict[str, str]:
    """Cache-Control and Vary of every data answer (the ETag is added per response)."""
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


def _unrepresentable(
    context: AppContext, endpoint: Endpoint, values: list[Any], error: UnrepresentableRow
) -> Problem:
    """502: the same answer on every retry. Logged once per entity and worker: the path's
    values (the only client values in this line) and what could not be represented."""
    asked = (
        ", ".join(
            f"{a.public} {v!r}"
            for a, v in zip(endpoint.arguments, values, strict=True)
            if a.location == "path"
        )
        or endpoint.path
    )
    logged = context.unrepresentable_logged
    key = (endpoint.name, asked)
    if key not in logged:
        if len(logged) >= MAX_REMEMBERED_UNREPRESENTABLE:
            logged.clear()
        logged.add(key)
        logging.getLogger("reviews_api.database").error(
            "stored data the service cannot represent: %s: %s", asked, error
        )
    return Problem(
        502,
        f"the stored reviews of {asked} hold a value this service cannot represent; "
        "retrying will not help until the data is corrected",
        problem_type=UNREPRESENTABLE_DATA,
    )


def _unavailable(error: DatabaseUnavailable) -> Problem:
    """503 with Retry-After: the client should come back, nothing is wrong with its request."""
    if isinstance(error, CatalogMismatch):  # logged by the store, once
        detail = f"The database does not match the API catalog: {error}"
    else:
        logging.getLogger("reviews_api.database").warning("database unavailable: %s", error)
        detail = "The database is not answering; try again shortly."
    return Problem(
        503, detail, problem_type=DATABASE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_S}
    )


async def index(request: Request) -> HTTPResponse:
    """Names the service, its version and its routes; a browser (which asks for text/html
    first) gets a small HTML page linking to the explorer and the documentation."""
    if prefers_html(request.headers.get("accept")):
        assets: WebAssets = request.app.ctx.web_assets
        return assets.pages["index"].response(request, {**PAGE_HEADERS, "Vary": "Accept"})
    routes = [
        {"method": "GET", "path": endpoint.path, "description": endpoint.summary}
        for endpoint in request.app.ctx.catalog.endpoints
    ]
    routes += [
        {"method": "GET", "path": path, "description": description}
        for path, description in SERVICE_ROUTES.items()
    ]
    response = json_response({"service": APP_NAME, "version": __version__, "routes": routes})
    response.headers["Vary"] = "Accept"
    return response


SERVICE_ROUTES = {
    "/health/live": "The process is up.",
    "/health/ready": "The database answers a query and, a standby, is at most "
    "REPLICA_MAX_LAG_S behind its primary (503 when not).",
    "/openapi.json": "The OpenAPI 3.1 document of this API.",
    "/docs": "Interactive documentation (Swagger UI, served locally).",
    "/explore": "The explorer: rankings, summaries and monthly charts in a browser.",
    "/metrics": "Prometheus metrics, summed over all workers.",
}


async def live(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


async def ready(request: Request) -> HTTPResponse:
    """Ready when the read database answers and, a standby, is at most REPLICA_MAX_LAG_S
    behind its primary: a load balancer then routes around a standby that fell behind."""
    try:
        lag_s = round(await request.app.ctx.store.ping(), 3)
    except DatabaseUnavailable as error:
        raise _unavailable(error) from error
    max_lag_s = request.app.ctx.settings.replica_max_lag_s
    if lag_s > max_lag_s:
        raise Problem(
            503,
            f"the database replica is {lag_s:g} s behind its primary "
            f"(REPLICA_MAX_LAG_S is {max_lag_s:g})",
            problem_type=REPLICA_BEHIND,
            headers={"Retry-After": RETRY_AFTER_S},
            extra={"replay_lag_s": lag_s},
        )
    return json_response({"status": "ready", "replay_lag_s": lag_s})


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


async def explore(request: Request) -> HTTPResponse:
    """The explorer page: it calls the public API from the browser (static/explorer/)."""
    assets: WebAssets = request.app.ctx.web_assets
    return assets.pages["explore"].response(request, PAGE_HEADERS)


async def explore_asset(request: Request, name: str) -> HTTPResponse:
    """The explorer's scripts, styles and chart library, by fingerprinted name."""
    assets: WebAssets = request.app.ctx.web_assets
    asset = assets.assets.get(name)
    if asset is None:
        raise Problem(404, f"no explorer asset named {name!r}", problem_type=NOT_FOUND)
    return asset.response(request, {"X-Content-Type-Options": "nosniff"})


def _web_assets() -> WebAssets:
    return WebAssets(
        [STATIC_DIR / "explorer", STATIC_DIR / "uplot"],
        {"explore": STATIC_DIR / "explore.html", "index": STATIC_DIR / "index.html"},
    )


# The service's own routes; a handler's name is its route's name.
SERVICE_HANDLERS: dict[Handler, str] = {
    index: "/",
    live: "/health/live",
    ready: "/health/ready",
    openapi_json: "/openapi.json",
    docs: "/docs",
    docs_asset: "/docs/assets/<name:str>",
    explore: "/explore",
    explore_asset: "/explore/assets/<name:str>",
    metrics: "/metrics",
}


async def _sample_metrics(context: AppContext) -> None:
    """Pool and cache figures, sampled every METRICS_SAMPLE_INTERVAL_S rather than updated
    on each request (a metric update costs more than the cache lookup it would count)."""
    while True:
        context.metrics.observe_pool(context.store.pool_stats())
        context.metrics.observe_cache(context.response_cache, context.data_version.listening)
        await asyncio.sleep(METRICS_SAMPLE_INTERVAL_S)
