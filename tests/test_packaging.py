"""The package as a user installs it (README, "Production on PostgreSQL"): a wheel built
from the checkout, installed into a fresh virtual environment outside it, and `migrate`,
`load` and `serve` run from another directory. The SQL must travel inside the wheel.

An installation that lost its SQL must fail loudly: `migrate` with a message rather than
"applied 0 migration(s)", `serve` with a non-zero exit rather than a process that never
listens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from postgres_server import ThrowawayDatabase, create_database, drop_database
from review_rows import Review, generate_reviews, write_sqlite

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = "ONE-DAY"
INSTALL_TIMEOUT_S = 600


def run(*command: str | Path, cwd: Path, timeout: float = 120, **env: str) -> str:
    """Run a command; its stdout, or an AssertionError with its output."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel` builds from the checkout, as `pip install .` would."""
    directory = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", directory,
        ROOT, cwd=directory, timeout=INSTALL_TIMEOUT_S)  # fmt: skip
    [built] = directory.glob("reviews_api-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment, outside the checkout, with the wheel and the pinned
    runtime dependencies; its bin directory."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    run(base_python, "-m", "venv", venv, cwd=venv.parent)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--constraint",
        ROOT / "constraints.txt", wheel, cwd=venv.parent, timeout=INSTALL_TIMEOUT_S)  # fmt: skip
    return venv / "bin"


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory that is neither the checkout nor the environment."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def reviews(elsewhere: Path) -> list[Review]:
    """The rows of reviews.sqlite in the working directory."""
    rows = generate_reviews(count=60)
    write_sqlite(elsewhere / "reviews.sqlite", rows)
    return rows


def test_the_wheel_carries_the_sql(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {
        f"service/sql_migrations/{path.relative_to(ROOT / 'migrations').as_posix()}"
        for path in (ROOT / "migrations").rglob("*.sql")
    } | {
        f"service/sql_queries/{path.relative_to(ROOT / 'queries').as_posix()}"
        for path in (ROOT / "queries").rglob("*.sql")
    }
    expected.add("service/sql_queries/catalog.json")  # the API catalog the service serves from
    assert expected <= names
    assert any(name.endswith("0001.reviews-table.sql") for name in expected)


def test_version(installed: Path, elsewhere: Path) -> None:
    assert run(installed / "reviews-api", "--version", cwd=elsewhere).strip() == (
        "reviews-api 0.1.0"
    )


# Every migration of the checkout (a rollback file goes with one of them).
SHIPPED_MIGRATIONS = [
    path
    for path in (Path(__file__).resolve().parent.parent / "migrations" / "postgres").glob("*.sql")
    if not path.name.endswith(".rollback.sql")
]


@pytest.fixture(scope="module")
def database(
    installed: Path, elsewhere: Path, postgres_admin_url: str
) -> Iterator[ThrowawayDatabase]:
    """A database migrated by the installed `reviews-api migrate`."""

    def migrate(owner_url: str) -> None:
        output = run(installed / "reviews-api", "migrate", cwd=elsewhere,
                     MIGRATION_DATABASE_URL=owner_url)  # fmt: skip
        assert output.startswith(f"applied {len(SHIPPED_MIGRATIONS)} migration(s)"), output

    created = create_database(postgres_admin_url, migrate)
    yield created
    drop_database(postgres_admin_url, created)


def serve(bin_dir: Path, cwd: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "HOST": "127.0.0.1", "PORT": str(port),
           "WORKERS": "1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    process = subprocess.Popen(
        [str(bin_dir / "reviews-api"), "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return process, f"http://127.0.0.1:{port}"


def review_count(process: subprocess.Popen[bytes], base_url: str) -> int:
    """The product's review count, once the server answers (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"serve exited {process.returncode}"
        try:
            answer = httpx.get(f"{base_url}/v1/products/{PRODUCT}/reviews/summary", timeout=5)
            assert answer.status_code == 200, answer.text
            return int(answer.json()["review_count"])
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve never answered"
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
    assert process.stderr is not None
    process.stderr.close()


def test_migrate_load_and_serve_from_another_directory(
    installed: Path, elsewhere: Path, database: ThrowawayDatabase, reviews: list[Review]
) -> None:
    expected = sum(review.productID == PRODUCT for review in reviews)

    loaded = run(installed / "reviews-api", "load", "--source", "reviews.sqlite",
                 cwd=elsewhere, MIGRATION_DATABASE_URL=database.owner_url)  # fmt: skip
    assert f"loaded {len(reviews)} rows" in loaded

    for database_url in (database.reader_url, "sqlite:///reviews.sqlite"):  # relative: to cwd
        process, base_url = serve(installed, elsewhere, database_url)
        try:
            assert review_count(process, base_url) == expected
        finally:
            stop(process)


def test_the_installed_catalog_is_up_to_date(
    installed: Path, elsewhere: Path, database: ThrowawayDatabase
) -> None:
    """The wheel's queries/catalog.json and queries/catalog/*.sql, read from elsewhere."""
    output = run(installed / "reviews-api", "catalog", "--check", cwd=elsewhere,
                 MIGRATION_DATABASE_URL=database.owner_url)  # fmt: skip
    assert output == "catalog up to date\n"


def test_an_installation_without_its_sql_fails_loudly(
    installed: Path, elsewhere: Path, database: ThrowawayDatabase, reviews: list[Review]
) -> None:
    """Runs last in this module: it breaks the environment."""
    site_packages = next((installed.parent / "lib").glob("python3*/site-packages"))
    for sql_file in (site_packages / "service").rglob("*.sql"):  # as the wheels of old
        sql_file.unlink()

    migrate = subprocess.run(
        [str(installed / "reviews-api"), "migrate", "--database-url", database.owner_url],
        cwd=elsewhere, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert migrate.returncode == 1
    assert "found no migrations" in migrate.stderr

    process, _ = serve(installed, elsewhere, "sqlite:///reviews.sqlite")
    try:
        assert process.wait(timeout=30) != 0
        assert process.stderr is not None
        assert b"cannot read the service's SQL queries" in process.stderr.read()
    finally:
        stop(process)
