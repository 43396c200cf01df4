"""`reviews-api migrate`: the yoyo migrations in migrations/postgres, applied under yoyo's
lock so that replicas starting together never race."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations
from yoyo.exceptions import LockTimeout

from service.store.sql_files import MissingSQL, migrations_dir

# Long enough for the slowest migration (index builds on a full table take about a minute
# at 10M rows), short enough that a stale lock is reported within a deploy's patience.
LOCK_TIMEOUT_S = 600


class MigrationError(Exception):
    """A migration could not run; the message says what to do."""


@dataclass(frozen=True)
class MigrationStatus:
    migration_id: str
    applied: bool


def yoyo_url(database_url: str) -> str:
    """Users write postgresql://...; yoyo wants the driver in the scheme (psycopg 3)."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise MigrationError(
            f"migrations are for PostgreSQL; got a {parts.scheme or 'scheme-less'} URL"
        )
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _backend_and_migrations(database_url: str) -> tuple[Any, Any]:
    try:
        backend = get_backend(yoyo_url(database_url))
    except Exception as error:  # psycopg's OperationalError and friends, whose text helps
        raise MigrationError(f"cannot connect to the database: {error}") from error
    try:
        folder = migrations_dir("postgres")
    except MissingSQL as error:
        raise MigrationError(str(error)) from error
    migrations = read_migrations(str(folder))
    if not migrations:
        # An installation without its SQL must never look like an up-to-date database.
        raise MigrationError(
            f"found no migrations in {folder}: this installation of reviews-api is "
            "incomplete (reinstall the package)"
        )
    return backend, migrations


def status(database_url: str) -> list[MigrationStatus]:
    backend, migrations = _backend_and_migrations(database_url)
    pending = {m.id for m in backend.to_apply(migrations)}
    return [MigrationStatus(m.id, m.id not in pending) for m in migrations]


def apply(database_url: str, lock_timeout_s: float = LOCK_TIMEOUT_S) -> list[str]:
    """Apply every pending migration; returns their ids (none: already up to date)."""
    backend, migrations = _backend_and_migrations(database_url)
    with _locked(backend, lock_timeout_s):
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def rollback(
    database_url: str, count: int | None, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> list[str]:
    """Roll back the last `count` applied migrations (all when None), newest first."""
    backend, migrations = _backend_and_migrations(database_url)
    with _locked(backend, lock_timeout_s):
        applied = backend.to_rollback(migrations)
        chosen = applied if count is None else applied[:count]
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def break_lock(database_url: str) -> None:
    backend, _ = _backend_and_migrations(database_url)
    backend.break_lock()


@contextmanager
def _locked(backend: Any, timeout_s: float) -> Iterator[None]:
    """yoyo's lock (apply_migrations does not take it), with a message that says how to
    clear a lock left behind by a killed process."""
    try:
        with backend.lock(timeout=timeout_s):
            yield
    except LockTimeout as error:
        raise MigrationError(
            f"another migration has held the lock for over {timeout_s:.0f} s ({error}). "
            "If no migration is running (a killed deploy left the lock behind), clear it "
            "with `reviews-api migrate break-lock` and run again."
        ) from error
