"""Shared fixtures: the test rows, a database per backend built from them, and a real
`reviews-api serve` process answering HTTP on a free loopback port."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import pytest
from postgres_server import NoServer, ThrowawayDatabase, create_database, drop_database, server_url
from psycopg import sql
from replication import ReplicaDatabase, ReplicaSet, ToolMissing, check_tools, replica_set
from review_rows import Review, generate_reviews, write_sqlite

BIN = Path(sys.executable).parent
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SERVER_START_TIMEOUT_S = 30


@pytest.fixture(scope="session")
def reviews() -> list[Review]:
    return generate_reviews()


@pytest.fixture(scope="session")
def sqlite_url(reviews: list[Review], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_sqlite(tmp_path_factory.mktemp("sqlite") / "reviews.sqlite", reviews)
    return f"sqlite:///{path}"


@dataclass
class RunningServer:
    """A `reviews-api serve` child process and an HTTP client pointed at it."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(database_url: str, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def start_server(database_url: str, log_path: Path, **extra_env: str) -> RunningServer:
    """Start the service as its users do, and wait until /health/live answers."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "reviews-api"), "serve"],
            env=server_environment(database_url, port, **extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: Sanic's manager SIGKILLs its whole group when a worker
            # fails to start or a second signal comes during shutdown; never pytest's.
            start_new_session=True,
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health/live", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"server did not start within {SERVER_START_TIMEOUT_S} s:\n{server.log()}")


def stop_server(server: RunningServer) -> None:
    """SIGTERM (graceful), then SIGKILL if it lingers: never leave a server behind."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)  # the server and its workers
            server.process.wait()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database behind the API: every HTTP test runs once per backend."""
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(database_url, tmp_path_factory.mktemp("server") / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


class Logged(Protocol):
    def log(self) -> str: ...


LOG_WAIT_S = 10.0


def log_lines(server: Logged) -> list[dict[str, Any]]:
    """The server's JSON log lines so far."""
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def wait_for_log_lines(
    server: Logged, matches: Callable[[dict[str, Any]], bool], count: int = 1
) -> list[dict[str, Any]]:
    """The server's log lines that `matches`, once there are at least `count` of them: the
    log writer flushes every 0.1 s, behind the requests, so poll rather than sleep."""
    deadline = time.monotonic() + LOG_WAIT_S
    while len(found := [line for line in log_lines(server) if matches(line)]) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} log line(s) not within {LOG_WAIT_S} s:\n{server.log()}")
        time.sleep(0.02)
    return found


def wait_until_caching(server: Logged, workers: int = 1) -> None:
    """PostgreSQL: every worker listens for loads, so its response cache serves (it logs
    `serving data version` at INFO when it starts to)."""

    def listening_workers() -> int:
        lines = log_lines(server)
        return len({line["pid"] for line in lines if line["message"].startswith("serving data")})

    deadline = time.monotonic() + LOG_WAIT_S
    while listening_workers() < workers:
        if time.monotonic() > deadline:
            raise AssertionError(f"{workers} worker(s) not caching:\n{server.log()}")
        time.sleep(0.02)


def send_raw(base_url: str, request: bytes, timeout: float = 10) -> bytes:
    """Send bytes no polite client would and return what the server answers (to EOF)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def load_generator() -> ModuleType:
    """Import scripts/generate_dev_data.py from its path: scripts/ is not a package."""
    spec = importlib.util.spec_from_file_location(
        "generate_dev_data", SCRIPTS / "generate_dev_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def default_dev_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The development database `make data` builds, at its default size and seed."""
    path = tmp_path_factory.mktemp("devdata") / "musical_instrument_reviews.sqlite"
    load_generator().generate(path, 231_392)
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server the tests may create databases and roles on (see postgres_server).
    None is a failure, never a skip: `make test-sqlite` (SQLITE_ONLY=1) leaves out the tests
    that need one instead."""
    missing = None
    try:
        with server_url() as url:
            yield url
    except NoServer as error:
        missing = str(error)
    if missing:  # outside the except: the report shows the reason, not a chained traceback
        pytest.fail(f"{missing}\n(a run without PostgreSQL: make test-sqlite)", pytrace=False)


# --- Suite policy: nothing is skipped silently ------------------------------------------------

SQLITE_ONLY = os.environ.get("SQLITE_ONLY") == "1"


def needs_postgres(item: pytest.Item) -> bool:
    """The test uses a PostgreSQL server (a fixture of its own, or the postgres backend)."""
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("backend") if callspec else None
    return "postgres_admin_url" in getattr(item, "fixturenames", ()) or backend == "postgres"


def pytest_configure(config: pytest.Config) -> None:
    if SQLITE_ONLY and os.environ.get("CI") == "true":
        raise pytest.UsageError("SQLITE_ONLY=1 is refused with CI=true: CI runs every test")
    config.pluginmanager.register(NoSilentSkips(), "no-silent-skips")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """SQLITE_ONLY=1 (`make test-sqlite`): the PostgreSQL tests are deselected, and said so."""
    if SQLITE_ONLY:
        left_out = [item for item in items if needs_postgres(item)]
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not needs_postgres(item)]


class NoSilentSkips:
    """A skipped test fails the run (a skip is how a missing server used to pass unseen);
    a SQLite-only run says how many PostgreSQL tests it left out."""

    def __init__(self) -> None:
        self.skipped: list[str] = []
        self.deselected = 0

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += sum(needs_postgres(item) for item in items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped:
            self.skipped.append(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if SQLITE_ONLY:
            terminalreporter.write_line(
                f"SQLITE_ONLY=1: {self.deselected} PostgreSQL tests were not run", yellow=True
            )
        if self.skipped:
            terminalreporter.write_line(
                f"{len(self.skipped)} skipped, and this suite must not skip: {self.skipped[:5]}",
                red=True,
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def run_cli(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `reviews-api ARGUMENTS`, as an operator would; raises with its output on failure."""
    result = subprocess.run(
        [str(BIN / "reviews-api"), *arguments], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(
            f"reviews-api {' '.join(arguments)} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def migrate_with_cli(owner_url: str) -> None:
    run_cli("migrate", "apply", "--database-url", owner_url)


@pytest.fixture
def make_database(postgres_admin_url: str) -> Iterator[Callable[[], ThrowawayDatabase]]:
    """A factory of fresh migrated databases, each dropped (with its login) afterwards."""
    created: list[ThrowawayDatabase] = []

    def make() -> ThrowawayDatabase:
        created.append(create_database(postgres_admin_url, migrate_with_cli))
        return created[-1]

    yield make
    for database in created:
        drop_database(postgres_admin_url, database)


@pytest.fixture(scope="module")
def make_module_database(postgres_admin_url: str) -> Iterator[ThrowawayDatabase]:
    """A fresh migrated database for one test module."""
    database = create_database(postgres_admin_url, migrate_with_cli)
    yield database
    drop_database(postgres_admin_url, database)


@pytest.fixture(scope="session")
def api_database(postgres_admin_url: str) -> Iterator[ThrowawayDatabase]:
    """The session's PostgreSQL database behind the HTTP suite."""
    database = create_database(postgres_admin_url, migrate_with_cli)
    yield database
    drop_database(postgres_admin_url, database)


@pytest.fixture(scope="session")
def postgres_url(api_database: ThrowawayDatabase, sqlite_url: str) -> str:
    """The test rows in PostgreSQL, imported by `reviews-api load` from the SQLite file of
    the same rows; the service connects with the read-only login."""
    run_cli(
        "load",
        "--source",
        sqlite_url.removeprefix("sqlite:///"),
        "--database-url",
        api_database.owner_url,
    )
    return api_database.reader_url


# --- A primary, a streaming standby and pgbouncer in front of it (tests/replication.py) -----


@pytest.fixture(scope="session")
def replicas() -> Iterator[ReplicaSet]:
    """Started once for the session, stopped by PID at its end. A missing program is
    treated like a missing PostgreSQL server (postgres_admin_url): a failure under CI=true."""
    try:
        check_tools()
    except ToolMissing as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {error}", pytrace=False)
        pytest.skip(str(error))
    with replica_set() as started:
        yield started


def load_on_primary(database: ReplicaDatabase, rows: list[Review], source: Path) -> None:
    """`reviews-api load` of `rows` on the primary (written to `source` first)."""
    write_sqlite(source, rows)
    run_cli("load", "--source", str(source), "--database-url", database.owner_url)


@pytest.fixture(scope="module")
def make_replica_database(
    replicas: ReplicaSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[list[Review]], ReplicaDatabase]]:
    """A factory of fresh databases on the primary, migrated and loaded with the given rows
    by the CLI, replayed by the standby; the read-only login's statement timeout is set by
    ALTER ROLE (the README's recipe behind pgbouncer). Dropped at the module's end."""
    created: list[ThrowawayDatabase] = []
    sources = tmp_path_factory.mktemp("replica-sources")

    def make(rows: list[Review]) -> ReplicaDatabase:
        admin_url = replicas.primary.admin_url()
        created.append(made := create_database(admin_url, migrate_with_cli))
        replicas.primary.query(
            sql.SQL("ALTER ROLE {} SET statement_timeout = '2s'").format(
                sql.Identifier(made.reader_role)
            )
        )
        database = replicas.database(made.name, made.owner_url, made.reader_url, made.reader_role)
        load_on_primary(database, rows, sources / f"{made.name}-1.sqlite")
        replicas.wait_for_replay()
        return database

    yield make
    for database in created:
        drop_database(replicas.primary.admin_url(), database)


def summary_path(
    kind: str, entity_id: str, date_from: date | None = None, date_to: date | None = None
) -> str:
    """/v1/{products|reviewers}/{id}/reviews/summary with the id percent-encoded."""
    bounds = (("from", date_from), ("to", date_to))
    query = "&".join(f"{name}={day.isoformat()}" for name, day in bounds if day is not None)
    path = f"/v1/{kind}/{quote(entity_id, safe='')}/reviews/summary"
    return f"{path}?{query}" if query else path
