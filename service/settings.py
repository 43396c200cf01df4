"""Configuration, read from the environment once at start-up and validated.

Every setting the service reads is declared in `SETTINGS` (name, default, description), so
the README's table and the code cannot disagree: a test compares them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///data/musical_instrument_reviews.sqlite"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting has a value the service cannot start with; the message names it."""


@dataclass(frozen=True)
class SettingSpec:
    """One environment variable: its default (as text) and what it means."""

    name: str
    default: str
    description: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        "Where the reviews live. `sqlite:///relative/path` (from the working directory) or "
        "`sqlite:////absolute/path` (opened read-only), or `postgresql://user:password@host:port/dbname`.",
    ),
    SettingSpec("HOST", "127.0.0.1", "Interface to listen on (`0.0.0.0` in a container)."),
    SettingSpec("PORT", "8000", "TCP port to listen on."),
    SettingSpec("WORKERS", "1", "Sanic worker processes (one per core in production)."),
    SettingSpec("LOG_LEVEL", "INFO", "One of DEBUG, INFO, WARNING, ERROR, CRITICAL."),
    SettingSpec(
        "API_KEYS",
        "",
        "Comma-separated SHA-256 hex digests of the accepted API keys (never the keys). "
        "Set: data routes need `Authorization: Bearer <key>`. Empty: no authentication.",
    ),
    SettingSpec(
        "CACHE_MAX_AGE_S",
        "60",
        "max-age of the Cache-Control header on summaries (0: revalidate every time).",
    ),
    SettingSpec(
        "CACHE_ENTRIES",
        "20000",
        "Response cache: most summaries each worker keeps (0: no cache). PostgreSQL only; "
        "emptied when a new load is notified, off while the worker is not listening.",
    ),
    SettingSpec(
        "CACHE_MAX_MB", "32", "Response cache: most megabytes of answers each worker keeps."
    ),
    SettingSpec(
        "CORS_ORIGINS",
        "",
        "Comma-separated origins allowed to call the API from a browser "
        "(e.g. `https://bi.example.com`). Empty: no CORS headers.",
    ),
    SettingSpec(
        "REQUEST_TIMEOUT_S",
        "10",
        "Close a connection whose request has not fully arrived after this (slow clients).",
    ),
    SettingSpec(
        "GRACEFUL_SHUTDOWN_S",
        "15",
        "On SIGTERM, how long in-flight requests may finish before the workers stop.",
    ),
    SettingSpec(
        "DB_POOL_MIN", "1", "PostgreSQL: connections each worker keeps open (pool minimum)."
    ),
    SettingSpec(
        "DB_POOL_MAX",
        "4",
        "Most pooled connections per worker. PostgreSQL: the server sees WORKERS x "
        "(DB_POOL_MAX + 2): each worker also has a readiness and a listening connection. "
        "SQLite: the read-only connections each worker opens, each reading in a thread of its own.",
    ),
    SettingSpec(
        "DB_QUEUE_MAX",
        "1024",
        "PostgreSQL: most requests each worker lets wait for a connection when all are busy; "
        "more are answered 503 overloaded at once (0: never wait).",
    ),
    SettingSpec(
        "DB_QUEUE_WAIT_MS",
        "5000",
        "PostgreSQL: longest a request waits for a connection before it is answered 503 "
        "overloaded (database-unavailable when no query has finished for "
        "DB_COMMAND_TIMEOUT_S either).",
    ),
    SettingSpec(
        "DB_STATEMENT_TIMEOUT_MS",
        "2000",
        "PostgreSQL: the server cancels a query running longer (answered 503). Sent as a "
        "connection parameter; 0 sends none (behind pgbouncer: set it with ALTER ROLE).",
    ),
    SettingSpec(
        "DB_CONNECT_TIMEOUT_S", "5", "PostgreSQL: give up opening a connection after this."
    ),
    SettingSpec(
        "DB_COMMAND_TIMEOUT_S",
        "5",
        "PostgreSQL: client-side limit on one query, for a dead link (answered 503).",
    ),
    SettingSpec(
        "DB_STATEMENT_CACHE_SIZE",
        "100",
        "PostgreSQL: prepared statements asyncpg keeps per connection; 0 behind a pgbouncer "
        "older than 1.21 in transaction mode.",
    ),
    SettingSpec(
        "LISTEN_DATABASE_URL",
        "",
        "PostgreSQL: where each worker LISTENs for new loads (one connection outside the "
        "pool). Empty: DATABASE_URL. Behind pgbouncer in transaction mode, the server itself.",
    ),
    SettingSpec(
        "REPLICA_MAX_LAG_S",
        "30",
        "Readiness: /health/ready answers 503 while the read database (a standby) is more "
        "than this many seconds behind its primary, so a load balancer routes around it.",
    ),
    SettingSpec(
        "API_CATALOG",
        "",
        "The API catalog the routes are generated from (a file `reviews-api catalog` "
        "writes). Empty: the one installed with the package (queries/catalog.json).",
    ),
    SettingSpec(
        "MIGRATION_DATABASE_URL",
        "",
        "Owner login used by `reviews-api migrate` and `load` when --database-url is not "
        "given. Never the service's own login.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one service instance (picklable: workers get a copy)."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "INFO"
    api_key_digests: tuple[str, ...] = ()
    cache_max_age_s: int = 60
    cache_entries: int = 20_000
    cache_max_mb: int = 32
    cors_origins: tuple[str, ...] = ()
    request_timeout_s: int = 10
    graceful_shutdown_s: float = 15.0
    db_pool_min: int = 1
    db_pool_max: int = 4
    db_queue_max: int = 1024
    db_queue_wait_ms: int = 5000
    db_statement_timeout_ms: int = 2000
    db_connect_timeout_s: float = 5.0
    db_command_timeout_s: float = 5.0
    db_statement_cache_size: int = 100
    listen_database_url: str = ""
    replica_max_lag_s: float = 30.0
    api_catalog: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every declared setting from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ

        def read(name: str, parse: Callable[[str, str], Any]) -> Any:
            spec = next(s for s in SETTINGS if s.name == name)
            raw = env.get(name, spec.default).strip() or spec.default
            return parse(name, raw)

        settings = cls(
            database_url=read("DATABASE_URL", _parse_database_url),
            host=read("HOST", _parse_text),
            port=read("PORT", _int_between(1, 65535)),
            workers=read("WORKERS", _int_between(1, 256)),
            log_level=read("LOG_LEVEL", _parse_log_level),
            api_key_digests=read("API_KEYS", _parse_key_digests),
            cache_max_age_s=read("CACHE_MAX_AGE_S", _int_between(0, 31_536_000)),
            cache_entries=read("CACHE_ENTRIES", _int_between(0, 10_000_000)),
            cache_max_mb=read("CACHE_MAX_MB", _int_between(1, 100_000)),
            cors_origins=read("CORS_ORIGINS", _parse_origins),
            request_timeout_s=read("REQUEST_TIMEOUT_S", _int_between(1, 3600)),
            graceful_shutdown_s=read("GRACEFUL_SHUTDOWN_S", _seconds),
            db_pool_min=read("DB_POOL_MIN", _int_between(0, 1000)),
            db_pool_max=read("DB_POOL_MAX", _int_between(1, 1000)),
            db_queue_max=read("DB_QUEUE_MAX", _int_between(0, 1_000_000)),
            db_queue_wait_ms=read("DB_QUEUE_WAIT_MS", _int_between(1, 600_000)),
            db_statement_timeout_ms=read("DB_STATEMENT_TIMEOUT_MS", _int_between(0, 3_600_000)),
            db_connect_timeout_s=read("DB_CONNECT_TIMEOUT_S", _seconds),
            db_command_timeout_s=read("DB_COMMAND_TIMEOUT_S", _seconds),
            db_statement_cache_size=read("DB_STATEMENT_CACHE_SIZE", _int_between(0, 10_000)),
            listen_database_url=read("LISTEN_DATABASE_URL", _parse_optional_postgres_url),
            replica_max_lag_s=read("REPLICA_MAX_LAG_S", _seconds),
            api_catalog=read("API_CATALOG", _parse_optional_file),
        )
        if settings.db_pool_min > settings.db_pool_max:
            raise SettingsError(
                f"DB_POOL_MIN={settings.db_pool_min} is above DB_POOL_MAX={settings.db_pool_max}"
            )
        return settings

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_key_digests)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgres`: which folder of queries/ the service loads."""
        return "sqlite" if self.database_url.startswith("sqlite:") else "postgres"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file named by a `sqlite:///` URL (relative: to the working directory)."""
        return sqlite_path_from_url(self.database_url)


def _parse_optional_file(name: str, raw: str) -> Path | None:
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise SettingsError(f"{name}={raw!r}: no such file")
    return path


def sqlite_path_from_url(url: str) -> Path:
    """`sqlite:///data/x.sqlite` -> <working directory>/data/x.sqlite; `sqlite:////abs/x` ->
    /abs/x. One rule wherever the package is installed (`make run` runs in the checkout)."""
    return Path.cwd() / Path(unquote(urlsplit(url).path[1:]))


def _parse_text(name: str, raw: str) -> str:
    return raw


def _parse_database_url(name: str, raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme == "sqlite":
        if not raw.startswith("sqlite:///") or raw == "sqlite:///":
            raise SettingsError(
                f"{name}={raw!r}: a SQLite URL is sqlite:///relative/path or sqlite:////abs/path"
            )
        return raw
    if scheme in ("postgresql", "postgres"):
        return raw
    raise SettingsError(
        f"{name}: unsupported scheme {scheme!r}; use sqlite:///path or postgresql://..."
    )


def _parse_optional_postgres_url(name: str, raw: str) -> str:
    if raw and urlsplit(raw).scheme not in ("postgresql", "postgres"):
        raise SettingsError(f"{name}: expected a postgresql:// URL or nothing")
    return raw


def _int_between(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}={value} is outside {low}..{high}")
        return value

    return parse


def _parse_key_digests(name: str, raw: str) -> tuple[str, ...]:
    digests = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for position, digest in enumerate(digests, start=1):
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            # Never echo the value: someone may have pasted a key instead of its digest.
            raise SettingsError(
                f"{name}: entry {position} is not a SHA-256 hex digest (64 hex digits); "
                "configure `printf %s KEY | sha256sum` of each key, never the key itself"
            )
    return digests


def _parse_origins(name: str, raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise SettingsError(f"{name}: {origin!r} is not an origin like https://host[:port]")
    return origins


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise SettingsError(f"{name}={value} is outside 0..3600 seconds (exclusive of 0)")
    return value


def _parse_log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(LOG_LEVELS)}")
    return level
