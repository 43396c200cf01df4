"""Finding a PostgreSQL server for the tests, and making throwaway databases on it.

Order: TEST_DATABASE_URL if set (and then only it: unreachable, it is an error naming it,
never a fall-back to another server); else a testcontainers PostgreSQL when a Docker engine
answers; else the local server on 127.0.0.1:5432. No server fails the run (conftest.py):
the PostgreSQL tests are never silently skipped; SQLITE_ONLY=1 leaves them out on purpose.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 5


class NoServer(Exception):
    """No PostgreSQL server could be reached; the message lists what was tried."""


def with_database(
    url: str, database: str, user: str | None = None, password: str | None = None
) -> str:
    """`url` pointed at another database, optionally as another user."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if user is None:
        userinfo = parts.netloc.rpartition("@")[0]
    else:
        userinfo = user + (f":{password}" if password else "")
    return urlunsplit(
        parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc, path=f"/{database}")
    )


def without_password(url: str) -> str:
    """`url` with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def reachable(url: str) -> str | None:
    """None when a connection works, else the reason."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S):
            return None
    except psycopg.Error as error:
        return str(error).strip()


@contextmanager
def server_url() -> Iterator[str]:
    """An admin URL (may create databases and roles) to a running server."""
    tried = []
    if url := os.environ.get("TEST_DATABASE_URL"):
        if (reason := reachable(url)) is not None:
            # The developer named this server: testing another one instead would mislead.
            raise NoServer(f"TEST_DATABASE_URL={without_password(url)} is unreachable: {reason}")
        yield url
        return
    container = _start_container(tried)
    if container is not None:
        try:
            yield container.get_connection_url()
        finally:
            container.stop()
        return
    if (reason := reachable(LOCAL_SERVER_URL)) is None:
        yield LOCAL_SERVER_URL
        return
    tried.append(f"{LOCAL_SERVER_URL}: {reason}")
    raise NoServer("no PostgreSQL server for the tests; tried:\n  " + "\n  ".join(tried))


def _start_container(tried: list[str]) -> object | None:
    docker_host = os.environ.get("DOCKER_HOST")
    if not docker_host and not Path("/var/run/docker.sock").exists():
        tried.append("testcontainers: no Docker engine (no DOCKER_HOST, no /var/run/docker.sock)")
        return None
    from docker.errors import DockerException
    from testcontainers.community.postgres import PostgresContainer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the docker client's socket
            container = PostgresContainer("postgres:16", driver=None)
            container.start()
        return container
    except DockerException as error:
        tried.append(f"testcontainers: {error}")
        return None


@dataclass(frozen=True)
class ThrowawayDatabase:
    """A throwaway database: an owner URL (migrate, load) and a read-only login URL."""

    name: str
    owner_url: str
    reader_url: str
    reader_role: str


def create_database(admin_url: str, migrate: Callable[[str], None]) -> ThrowawayDatabase:
    """A new database, migrated by `migrate(owner_url)`, with a login in reviews_reader."""
    suffix = secrets.token_hex(4)
    name = f"reviews_api_test_{suffix}"
    reader_role = f"reviews_api_reader_{suffix}"
    password = secrets.token_hex(12)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = ThrowawayDatabase(
        name=name,
        owner_url=with_database(admin_url, name),
        reader_url=with_database(admin_url, name, user=reader_role, password=password),
        reader_role=reader_role,
    )
    migrate(database.owner_url)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE reviews_reader").format(
                sql.Identifier(reader_role), sql.Literal(password)
            )
        )
    return database


def drop_database(admin_url: str, database: ThrowawayDatabase) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name))
        )
        admin.execute(
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(database.reader_role))
        )


@contextmanager
def extra_login(admin_url: str, database: ThrowawayDatabase) -> Iterator[tuple[str, str]]:
    """(role, url): another read-only login to `database`, dropped on exit (with whatever
    sessions it left). A server given it can be told apart in pg_stat_activity by usename
    from the session's other servers on the same database."""
    role = f"reviews_api_extra_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE reviews_reader").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        yield role, with_database(admin_url, database.name, user=role, password=password)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def service_connections(admin_url: str, role: str) -> int:
    """How many sessions the service (application_name reviews-api) holds as `role`."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE usename = %s AND application_name = 'reviews-api'",
            (role,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def sessions_waiting_for_a_lock(admin_url: str, role: str) -> int:
    """How many of `role`'s sessions wait for a lock (a query held up by the test)."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'",
            (role,),
        ).fetchone()
    assert row is not None
    return int(row[0])
