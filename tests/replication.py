"""A primary, a streaming standby and pgbouncer, on loopback: the real parts of a replica
set-up, for the tests (fixtures in conftest.py) and scripts/bench/replicas.py.

    with replica_set() as replicas:          # initdb, pg_basebackup -R, pgbouncer
        database = create_database(replicas.primary.admin_url(), migrate)
        replicas.bouncer.allow(database.reader_url)
        ...load on the primary...
        replicas.wait_for_replay()
        replicas.on_standby(database.reader_url)      # the same login, read from the standby
        replicas.through_bouncer(database.reader_url)  # ... through pgbouncer to the standby

Everything lives in one temporary directory owned by the server's OS user, listens on
127.0.0.1 only (free ports, no Unix sockets), and is stopped by PID when the block ends,
whatever happened. PostgreSQL and pgbouncer refuse to run as root: as root they run as the
`postgres` OS user, switched to in the child before exec (subprocess's `user=`), so the
PID held is the server's own (`runuser` would stay in between as its parent).

The clusters are built for speed (initdb --no-sync; fsync, full_page_writes and
synchronous_commit off; small shared_buffers): their data is thrown away at the end.
`durable=True` keeps PostgreSQL's defaults for those, for measurements.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

SERVER_OS_USER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
REPLAY_TIMEOUT_S = 60
STANDBY_SLOT = "standby1"
INSTALL_HINT = (
    "run `make replica-tools` as root (apt-get install pgbouncer; the PostgreSQL server "
    "binaries come with the postgresql package), or `brew install postgresql pgbouncer`"
)
# Settings of both clusters; the standby gets the primary's postgresql.conf by
# pg_basebackup. What tests change at run time goes through `settings()` (ALTER SYSTEM),
# never the command line, which a reload could not override.
COMMON_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "60",
    "shared_buffers": "16MB",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "hot_standby": "on",
    "log_recovery_conflict_waits": "on",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
}
# Not synchronous_commit = off: the primary would then send WAL only when the WAL writer
# flushes it (every 200 ms), and the standby would look that much further behind.
FAST_SETTINGS = {"fsync": "off", "full_page_writes": "off"}
DURABLE_SETTINGS = {"shared_buffers": "128MB"}
HBA = """\
# The superuser (the tests' admin login) and replication on loopback without a password;
# every other login with its password, as in production.
host all         postgres 127.0.0.1/32 trust
host replication postgres 127.0.0.1/32 trust
host all         all      127.0.0.1/32 scram-sha-256
"""


class ToolMissing(Exception):
    """A program the replica set needs is not installed; the message says how to get it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path:
    """Where initdb, postgres and pg_basebackup are: PG_BINDIR, the PATH, or Debian's
    /usr/lib/postgresql/<newest>/bin (Debian keeps the server programs off the PATH)."""
    candidates = []
    if configured := os.environ.get("PG_BINDIR"):
        candidates.append(Path(configured))
    if on_path := shutil.which("initdb"):
        candidates.append(Path(on_path).parent)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    candidates.extend(reversed(debian))
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "postgres", "pg_basebackup")):
            return bindir
    raise ToolMissing(f"no PostgreSQL server binaries (initdb, postgres): {INSTALL_HINT}")


def pgbouncer_path() -> Path:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found is None:
        raise ToolMissing(f"pgbouncer is missing: {INSTALL_HINT}")
    return Path(found)


def server_user() -> dict[str, Any]:
    """subprocess arguments that run a server program as an OS user it accepts."""
    if os.geteuid() != 0:
        return {}
    try:
        import pwd

        pwd.getpwnam(SERVER_OS_USER)
    except KeyError as error:
        raise ToolMissing(
            f"running as root, and there is no `{SERVER_OS_USER}` OS user to run PostgreSQL "
            "and pgbouncer as (they refuse root): the postgresql package creates it"
        ) from error
    return {"user": SERVER_OS_USER, "group": SERVER_OS_USER, "extra_groups": []}


def check_tools() -> None:
    """ToolMissing unless every program replica_set() runs is installed and runnable."""
    postgres_bindir()
    pgbouncer_path()
    server_user()


def run_as_server_user(argv: list[str], *, cwd: Path, timeout: float = 120) -> None:
    """Run a PostgreSQL tool to completion; raises with its output on failure."""
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, **server_user()
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")


def with_port(url: str, port: int) -> str:
    """`url` with another port on the same host (the same login and database)."""
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"{parts.hostname}:{port}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc))


@dataclass
class ServerProcess:
    """A server program started as the server OS user, in its own process group."""

    name: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, argv: list[str], cwd: Path) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **server_user(),
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, first_signal: signal.Signals) -> None:
        """`first_signal` (each program's orderly stop), then SIGQUIT, then SIGKILL to the
        whole group; never returns with the process alive."""
        if self.process is None:
            return
        for sig, wait_s in ((first_signal, STOP_TIMEOUT_S), (signal.SIGQUIT, 10.0)):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything left of its group
        self.process.wait()
        self.process = None


@dataclass
class PostgresCluster:
    """One PostgreSQL server: its data directory, port and process."""

    name: str
    data_dir: Path
    port: int
    server: ServerProcess

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, bindir: Path) -> None:
        self.server.start(
            [str(bindir / "postgres"), "-D", str(self.data_dir), "-c", f"port={self.port}"],
            cwd=self.data_dir.parent,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.server.exited():
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.server.log()}")
            try:
                with psycopg.connect(self.admin_url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"{self.name} did not accept connections within {START_TIMEOUT_S} s:\n"
                        f"{self.server.log()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.server.stop(signal.SIGINT)  # fast shutdown: roll back, disconnect, stop

    def query(
        self,
        statement: str | sql.Composable,
        params: tuple[Any, ...] = (),
        database: str = "postgres",
    ) -> Any:
        """The first column of the first row of `statement` (None when it returns no
        rows), run as the superuser in a transaction of its own."""
        with psycopg.connect(self.admin_url(database), autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            row = cursor.fetchone() if cursor.description else None
        return None if row is None else row[0]

    @contextlib.contextmanager
    def settings(self, **values: str) -> Iterator[None]:
        """Server settings changed (ALTER SYSTEM, reload) for the block, then reset."""
        self._apply(values)
        try:
            yield
        finally:
            self._apply(dict.fromkeys(values))

    def _apply(self, values: dict[str, str | None]) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            for name, value in values.items():
                if value is None:
                    statement = sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name))
                else:
                    statement = sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                connection.execute(statement)
            connection.execute("SELECT pg_reload_conf()")
        # The postmaster re-reads its files when signalled: wait until a new session sees
        # each setting come from (or no longer from) postgresql.auto.conf.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with psycopg.connect(self.admin_url(), autocommit=True) as connection:
                rows = connection.execute(
                    "SELECT name, coalesce(sourcefile LIKE '%%/postgresql.auto.conf', false)"
                    " FROM pg_settings WHERE name = ANY(%s)",
                    (list(values),),
                ).fetchall()
            if all(from_auto == (values[name] is not None) for name, from_auto in rows):
                return
            assert time.monotonic() < deadline, f"{self.name}: {values} not in effect"
            time.sleep(0.02)


@dataclass
class Pgbouncer:
    """pgbouncer in transaction mode in front of one server; logins are added with
    `allow()` (its auth file, re-read on SIGHUP)."""

    port: int
    config_path: Path
    auth_path: Path
    server: ServerProcess
    logins: dict[str, str] = field(default_factory=dict)

    def url(self, url: str) -> str:
        """`url` (a login and a database of the server behind) through pgbouncer."""
        return with_port(url, self.port)

    def start(self, binary: Path, target_port: int, pool_size: int) -> None:
        self._write_auth_file()
        self.config_path.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={target_port}\n"
            "\n[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {self.auth_path}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "reserve_pool_size = 0\n"
            "max_client_conn = 200\n"
            # The README's settings for the service behind pgbouncer (statement timeout
            # set with ALTER ROLE, DB_STATEMENT_TIMEOUT_MS=0).
            "ignore_startup_parameters = statement_timeout\n"
            "server_login_retry = 1\n"
        )
        self.server.start([str(binary), str(self.config_path)], cwd=self.config_path.parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.server.exited():
                raise RuntimeError(f"pgbouncer exited at start-up:\n{self.server.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            assert time.monotonic() < deadline, f"pgbouncer did not listen:\n{self.server.log()}"
            time.sleep(0.05)

    def allow(self, url: str) -> None:
        """Let the login of `url` (user and password) in, from now on."""
        parts = urlsplit(url)
        assert parts.username and parts.password, "pgbouncer needs the login's password"
        self.logins[unquote(parts.username)] = unquote(parts.password)
        self._write_auth_file()
        if not self.server.exited():
            os.kill(self.server.pid, signal.SIGHUP)  # re-read the auth file
            time.sleep(0.2)  # handled by its event loop at once; no way to ask when

    def _write_auth_file(self) -> None:
        def quoted(text: str) -> str:
            return '"' + text.replace('"', '""') + '"'

        self.auth_path.write_text(
            "".join(f"{quoted(user)} {quoted(pw)}\n" for user, pw in self.logins.items())
        )
        os.chmod(self.auth_path, 0o644)  # readable by the server OS user

    def stop(self) -> None:
        self.server.stop(signal.SIGINT)  # SIGINT: pgbouncer's "safe shutdown"


@dataclass(frozen=True)
class ReplicaDatabase:
    """A database made on the primary, and its read-only login's three ways to read it."""

    name: str
    owner_url: str  # on the primary: migrate and load
    reader_role: str
    primary_url: str  # the read-only login on the primary (where a worker LISTENs)
    standby_url: str  # ... on the standby
    bouncer_url: str  # ... through pgbouncer to the standby


@dataclass
class ReplicaSet:
    """A primary, a streaming standby of it, and pgbouncer in front of the standby."""

    workdir: Path
    primary: PostgresCluster
    standby: PostgresCluster
    bouncer: Pgbouncer

    def on_standby(self, url: str) -> str:
        """`url` (a login and database of the primary) on the standby."""
        return with_port(url, self.standby.port)

    def through_bouncer(self, url: str) -> str:
        """`url` (a login and database of the primary) through pgbouncer to the standby."""
        return self.bouncer.url(url)

    def database(
        self, name: str, owner_url: str, reader_url: str, reader_role: str
    ) -> ReplicaDatabase:
        """A database of the primary with a read-only login (`reader_url`, with its
        password), which pgbouncer lets in from now on."""
        self.bouncer.allow(reader_url)
        return ReplicaDatabase(
            name=name,
            owner_url=owner_url,
            reader_role=reader_role,
            primary_url=reader_url,
            standby_url=self.on_standby(reader_url),
            bouncer_url=self.through_bouncer(reader_url),
        )

    def replay_gap_bytes(self) -> int:
        """WAL bytes the primary has written that the standby has not replayed yet."""
        target = self.primary.query("SELECT pg_current_wal_lsn()::text")
        return int(
            self.standby.query(
                "SELECT greatest(pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()), 0)",
                (target,),
            )
        )

    def wait_for_replay(self, timeout_s: float = REPLAY_TIMEOUT_S) -> float:
        """Wait until the standby has replayed everything the primary has written so far;
        the seconds waited. AssertionError after `timeout_s`."""
        started = time.monotonic()
        target = self.primary.query("SELECT pg_current_wal_lsn()::text")
        while True:
            behind = self.standby.query(
                "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())", (target,)
            )
            if behind <= 0:
                return time.monotonic() - started
            assert time.monotonic() - started < timeout_s, (
                f"the standby has not replayed up to {target} after {timeout_s} s "
                f"({behind} bytes behind):\n{self.standby.server.log()[-3000:]}"
            )
            time.sleep(0.01)

    @contextlib.contextmanager
    def replay_paused(self) -> Iterator[None]:
        """The standby receives WAL but replays none of it during the block."""
        self.standby.query("SELECT pg_wal_replay_pause()")
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while self.standby.query("SELECT pg_get_wal_replay_pause_state()") != "paused":
                assert time.monotonic() < deadline, "the standby's replay did not pause"
                time.sleep(0.01)
            yield
        finally:
            self.standby.query("SELECT pg_wal_replay_resume()")


@contextlib.contextmanager
def replica_set(
    *,
    durable: bool = False,
    pool_size: int = 4,
    parent_dir: Path | None = None,
) -> Iterator[ReplicaSet]:
    """Start a primary, a standby and pgbouncer (see the module's docstring); stop them
    by PID and remove their directory at the end, whatever happened. ToolMissing before
    anything starts when a program is not installed."""
    bindir, bouncer_binary, as_user = postgres_bindir(), pgbouncer_path(), server_user()
    workdir = Path(tempfile.mkdtemp(prefix="reviews-api-replicas-", dir=parent_dir))
    if as_user:
        shutil.chown(workdir, as_user["user"], as_user["group"])
    primary = _cluster("primary", workdir)
    standby = _cluster("standby", workdir)
    bouncer = Pgbouncer(
        port=free_port(),
        config_path=workdir / "pgbouncer.ini",
        auth_path=workdir / "pgbouncer-users.txt",
        server=ServerProcess("pgbouncer", workdir / "pgbouncer.log"),
    )
    try:
        settings = COMMON_SETTINGS | (DURABLE_SETTINGS if durable else FAST_SETTINGS)
        _initdb(bindir, primary, settings, durable=durable)
        primary.start(bindir)
        run_as_server_user(
            [
                str(bindir / "pg_basebackup"),
                f"--dbname={primary.admin_url()}",
                f"--pgdata={standby.data_dir}",
                "--write-recovery-conf",  # standby.signal and primary_conninfo
                "--wal-method=stream",
                "--checkpoint=fast",
                "--create-slot",
                f"--slot={STANDBY_SLOT}",
                *([] if durable else ["--no-sync"]),
            ],
            cwd=workdir,
        )
        standby.start(bindir)
        bouncer.start(bouncer_binary, standby.port, pool_size)
        yield ReplicaSet(workdir, primary, standby, bouncer)
    finally:
        bouncer.stop()
        standby.stop()
        primary.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _cluster(name: str, workdir: Path) -> PostgresCluster:
    return PostgresCluster(
        name=name,
        data_dir=workdir / name,
        port=free_port(),
        server=ServerProcess(name, workdir / f"{name}.log"),
    )


def _initdb(
    bindir: Path, cluster: PostgresCluster, settings: dict[str, str], *, durable: bool
) -> None:
    run_as_server_user(
        [
            str(bindir / "initdb"),
            f"--pgdata={cluster.data_dir}",
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
            *([] if durable else ["--no-sync"]),
        ],
        cwd=cluster.data_dir.parent,
    )
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# reviews-api tests (tests/replication.py)\n")
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
    (cluster.data_dir / "pg_hba.conf").write_text(HBA)
