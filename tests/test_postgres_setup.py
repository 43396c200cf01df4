"""The manual production set-up (README, "Production on PostgreSQL"): deploy/postgres-setup.sql
run once by a superuser with psql, then migrate and load as the owner it created (no
CREATEROLE, no superuser) and serve as its service login.

Roles are cluster-wide and other test runs share the server: this test creates its own
owner and service logins and database, all named with a random suffix, and drops them;
reviews_reader is only ever created if missing, and given settings in this database only.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import run_cli, start_server, stop_server, summary_path
from postgres_server import with_database
from psycopg import sql
from review_rows import generate_reviews, write_sqlite
from test_loader import cli_fails

SETUP_SQL = Path(__file__).resolve().parent.parent / "deploy" / "postgres-setup.sql"
READER_SETTINGS = {"jit": "off", "idle_in_transaction_session_timeout": "2min"}


@dataclass(frozen=True)
class SetUp:
    database: str
    owner: str
    service_login: str
    owner_url: str
    service_url: str


def run_setup(admin_url: str, names: dict[str, str]) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    assert psql, "psql (the PostgreSQL client) is needed to run deploy/postgres-setup.sql"
    variables = [f"--set={name}={value}" for name, value in names.items()]
    return subprocess.run(
        [psql, "--no-psqlrc", "--quiet", admin_url, *variables, "--file", str(SETUP_SQL)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def setup(postgres_admin_url: str) -> Iterator[SetUp]:
    suffix = secrets.token_hex(4)
    names = {
        "database": f"reviews_setup_{suffix}",
        "owner": f"reviews_owner_{suffix}",
        "owner_password": secrets.token_hex(12),
        "service_login": f"reviews_api_{suffix}",
        "service_password": secrets.token_hex(12),
    }
    try:
        for _ in range(2):  # idempotent: a second run changes nothing and fails nothing
            result = run_setup(postgres_admin_url, names)
            assert result.returncode == 0, result.stderr
        yield SetUp(
            database=names["database"],
            owner=names["owner"],
            service_login=names["service_login"],
            owner_url=with_database(postgres_admin_url, names["database"], names["owner"],
                                    names["owner_password"]),
            service_url=with_database(postgres_admin_url, names["database"],
                                      names["service_login"], names["service_password"]),
        )  # fmt: skip
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(names["database"])
                )
            )
            for role in (names["service_login"], names["owner"]):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def admin_query(admin_url: str, database: str, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(with_database(admin_url, database), autocommit=True) as admin:
        return admin.execute(statement, params).fetchall()


def test_the_script_refuses_to_run_without_its_variables(postgres_admin_url: str) -> None:
    result = run_setup(postgres_admin_url, {"database": "x"})
    assert result.returncode != 0
    assert "set the psql variables" in result.stderr


def test_the_roles_and_rights_are_as_documented(setup: SetUp, postgres_admin_url: str) -> None:
    [(superuser, createrole, createdb)] = admin_query(
        postgres_admin_url, setup.database,
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
        setup.owner,
    )  # fmt: skip
    assert (superuser, createrole, createdb) == (False, False, False)
    [(owner_of_database, public_connect, public_temp, reader_connect, member)] = admin_query(
        postgres_admin_url,
        setup.database,
        "SELECT pg_get_userbyid(datdba), has_database_privilege('public', datname, 'CONNECT'),"
        " has_database_privilege('public', datname, 'TEMPORARY'),"
        " has_database_privilege('reviews_reader', datname, 'CONNECT'),"
        " pg_has_role(%s, 'reviews_reader', 'MEMBER')"
        " FROM pg_database WHERE datname = current_database()",
        setup.service_login,
    )
    assert owner_of_database == setup.owner
    assert (public_connect, public_temp, reader_connect, member) == (False, False, True, True)
    with psycopg.connect(setup.service_url, autocommit=True) as service:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute("CREATE TEMPORARY TABLE scratch (x INTEGER)")
        # Item 13: the readers' settings reach the service's sessions.
        for name, value in READER_SETTINGS.items():
            [(shown,)] = service.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
            assert shown == value


def test_the_readers_settings_are_kept_on_reviews_reader_and_every_login_in_it(
    setup: SetUp, postgres_admin_url: str
) -> None:
    rows = admin_query(
        postgres_admin_url,
        setup.database,
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s"
        " JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND r.rolname IN ('reviews_reader', %s)",
        setup.service_login,
    )
    expected = sorted(f"{name}={value}" for name, value in READER_SETTINGS.items())
    assert {role: sorted(config) for role, config in rows} == {
        "reviews_reader": expected,
        setup.service_login: expected,
    }


def test_migrate_load_and_serve_with_the_logins_it_made(
    setup: SetUp, postgres_admin_url: str, tmp_path: Path
) -> None:
    reviews = generate_reviews(count=50)
    source = write_sqlite(tmp_path / "reviews.sqlite", reviews)
    run_cli("migrate", "--database-url", setup.owner_url)  # no CREATEROLE needed
    run_cli("load", "--source", str(source), "--database-url", setup.owner_url)
    server = start_server(setup.service_url, tmp_path / "serve.log")
    try:
        answer = httpx.get(f"{server.base_url}{summary_path('products', 'ONE-DAY')}", timeout=10)
    finally:
        stop_server(server)
    assert answer.status_code == 200, answer.text
    assert answer.json()["review_count"] == sum(r.productID == "ONE-DAY" for r in reviews)


def test_what_later_migrations_add_is_readable_by_readers_without_grants(
    setup: SetUp,
) -> None:
    run_cli("migrate", "--database-url", setup.owner_url)
    with psycopg.connect(setup.owner_url, autocommit=True) as owner:
        owner.execute("CREATE VIEW review_api.later_view AS SELECT 1 AS answer")
        owner.execute(
            "CREATE FUNCTION review_api.later_function() RETURNS INTEGER"
            " LANGUAGE sql STABLE AS 'SELECT 2'"
        )
    try:
        with psycopg.connect(setup.service_url, autocommit=True) as service:
            assert service.execute("SELECT answer FROM review_api.later_view").fetchall() == [(1,)]
            assert service.execute("SELECT review_api.later_function()").fetchall() == [(2,)]
            [(public_may_run,)] = service.execute(
                "SELECT has_function_privilege('public', 'review_api.later_function()', 'EXECUTE')"
            ).fetchall()
        assert public_may_run is False
    finally:
        with psycopg.connect(setup.owner_url, autocommit=True) as owner:
            owner.execute("DROP VIEW review_api.later_view")
            owner.execute("DROP FUNCTION review_api.later_function()")


def test_a_lock_holder_the_owner_cannot_see_in_full_is_named_without_a_crash(
    setup: SetUp, postgres_admin_url: str, tmp_path: Path
) -> None:
    """Issue 11 item 3: without pg_read_all_stats, another role's session shows NULL for
    backend_start and state; the message names what it can."""
    run_cli("migrate", "--database-url", setup.owner_url)
    source = write_sqlite(tmp_path / "reviews.sqlite", generate_reviews(count=20))
    admin_url = with_database(postgres_admin_url, setup.database)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("REVOKE pg_read_all_stats FROM {}").format(sql.Identifier(setup.owner))
        )
    try:
        with psycopg.connect(admin_url) as dba:
            dba.execute("SET application_name = 'dba-maintenance'")
            dba.execute("LOCK TABLE review_admin.load_lock IN EXCLUSIVE MODE")
            message = cli_fails("load", "--source", str(source), "--database-url", setup.owner_url)
            dba_pid = dba.info.backend_pid
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(setup.owner))
            )
    assert f"another load is running (session pid {dba_pid}" in message
    assert "user postgres" in message


def test_a_login_refused_a_right_gets_503_and_an_error_in_the_log(
    setup: SetUp, postgres_admin_url: str, tmp_path: Path
) -> None:
    """A login without reviews_reader (a set-up step missed): 503 and a logged ERROR, never
    a 500."""
    run_cli("migrate", "--database-url", setup.owner_url)
    role, password = f"reviews_norights_{secrets.token_hex(4)}", secrets.token_hex(12)
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(setup.database), sql.Identifier(role)
            )
        )
    url = with_database(postgres_admin_url, setup.database, role, password)
    server = start_server(url, tmp_path / "serve.log", LOG_LEVEL="INFO")
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            summary = client.get(summary_path("products", "ONE-DAY"))
            ready = client.get("/health/ready")
    finally:
        stop_server(server)
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                    sql.Identifier(setup.database), sql.Identifier(role)
                )
            )
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    for answer in (summary, ready):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/database-unavailable"
    errors = [line for line in server.log().splitlines() if '"level":"ERROR"' in line]
    assert errors and all("permission denied" in line for line in errors), server.log()
    assert "reviews_reader" in errors[0]
