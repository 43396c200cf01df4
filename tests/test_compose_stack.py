"""compose.yaml brought up for real, by the commands of the README's Compose section
(Docker Compose, else podman-compose: tests/containers.py), on the official images or,
where no registry answers, the stand-ins of `make container-base`.

The stack gets its own env file (made as the README says: .env.example with the three
passwords set), project name, free loopback port and data folder, so it never touches a
developer's .env, stack, port 8000 or 5432; it is taken down with its volume at the end.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import oracle
import psycopg
import pytest
from conftest import free_port, summary_path
from containers import (
    CHECKOUT,
    SETUP_TIMEOUT_S,
    STAND_IN_POSTGRES,
    TEST_IMAGE,
    Completed,
    base_images,
    healthcheck_passes,
    run_engine,
    run_make,
    wait_until,
)
from postgres_server import reachable
from review_rows import Review, generate_reviews, write_sqlite

pytestmark = pytest.mark.timeout(SETUP_TIMEOUT_S)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
COMPOSE_VARIABLES = set(
    re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", (ROOT / "compose.yaml").read_text())
)
# The README's Compose section, in order; the fixture below runs these.
README_STEPS = [
    "cp .env.example .env && chmod 600 .env",
    "make compose-up",
    "make compose-load",
    "make compose-down",
]
SERVICE_UID = "10001"
START_WITHIN_S = 60


def test_the_readme_compose_section_is_what_this_test_runs() -> None:
    section = README.split("### Compose", 1)[1].split("\n### ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    assert [command for command in commands if command] == README_STEPS


def with_settings(example: str, settings: dict[str, str]) -> str:
    """.env.example with `settings` filled in, each on the line that names it."""
    for name, value in settings.items():
        example, count = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", example)
        assert count == 1, f"{name} is not set in .env.example"
    return example


@dataclass
class Stack:
    make_environment: dict[str, str]
    project: str
    base_url: str
    loaded: Completed

    def make(self, target: str) -> Completed:
        return run_make(target, environment=self.make_environment)

    def container(self, service: str) -> str:
        names = run_engine(
            "ps",
            "--all",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).stdout.split()
        assert len(names) == 1, f"containers of {service}: {names}"
        return names[0]


@pytest.fixture(scope="module")
def reviews() -> list[Review]:
    return generate_reviews(count=80)


@pytest.fixture(scope="module")
def stack(reviews: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The README's steps: an env file from .env.example, `make compose-up`, then
    `make compose-load`."""
    bases = base_images()
    folder = tmp_path_factory.mktemp("compose")
    data = folder / "data"
    data.mkdir(mode=0o755)
    write_sqlite(data / "reviews.sqlite", reviews).chmod(0o644)
    data.chmod(0o755)  # readable by the image's uid, as the README asks
    env_file = folder / ".env"
    api_port = free_port()
    env_file.write_text(
        with_settings(
            ENV_EXAMPLE,
            {
                "POSTGRES_PASSWORD": secrets.token_hex(16),
                "REVIEWS_OWNER_PASSWORD": secrets.token_hex(16),
                "REVIEWS_API_PASSWORD": secrets.token_hex(16),
                "API_PORT": str(api_port),
                "POSTGRES_IMAGE": bases.postgres,
                "REVIEWS_API_IMAGE": TEST_IMAGE,
                "REVIEWS_DATA_DIR": str(data),
                "REVIEWS_SOURCE": "reviews.sqlite",
            },
        )
    )
    env_file.chmod(0o600)
    project = f"reviews-api-test-{CHECKOUT}-{secrets.token_hex(3)}"
    # Compose takes a variable from the environment before the env file: none of ours.
    environment = {
        name: value for name, value in os.environ.items() if name not in COMPOSE_VARIABLES
    }
    environment |= {
        "COMPOSE_ENV_FILE": str(env_file),
        "COMPOSE_PROJECT_NAME": project,
        "IMAGE": TEST_IMAGE,
        "BASE_IMAGE": bases.python,
    }
    try:
        run_make("compose-up", environment=environment)
        loaded = run_make("compose-load", environment=environment)
        yield Stack(environment, project, f"http://127.0.0.1:{api_port}", loaded)
    finally:
        try:
            run_make("compose-down", environment=environment)
        finally:
            run_engine("volume", "rm", "--force", f"{project}_pgdata", check=False)


def test_db_is_healthy_with_the_logins_of_its_first_start(stack: Stack) -> None:
    db = stack.container("db")
    assert healthcheck_passes(db)
    roles = run_engine(
        "exec",
        db,
        "psql",
        "--username=postgres",
        "--dbname=reviews",
        "--no-align",
        "--tuples-only",
        "--command",
        "SELECT rolname, rolsuper, rolcanlogin FROM pg_roles"
        " WHERE rolname LIKE 'reviews%' ORDER BY rolname",
    ).stdout.split()
    assert roles == ["reviews_api|f|t", "reviews_owner|f|t", "reviews_reader|f|f"]


def test_migrate_completed_successfully(stack: Stack) -> None:
    migrate = stack.container("migrate")
    state = run_engine("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", migrate)
    assert state.stdout.split() == ["exited", "0"]


def test_load_completed(stack: Stack, reviews: list[Review]) -> None:
    assert f"loaded {len(reviews)} rows" in stack.loaded.stdout, stack.loaded.stdout


def answers_as_the_oracle(base_url: str, reviews: list[Review]) -> None:
    mismatches = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for kind, expected_body, entity_of in [
            ("products", oracle.product_summary, lambda review: review.productID),
            ("reviewers", oracle.reviewer_summary, lambda review: review.reviewerID),
        ]:
            for entity in sorted({entity_of(review) for review in reviews}):
                first = min(review.day for review in reviews if entity_of(review) == entity)
                for period in [(None, None), (first, first + timedelta(days=365))]:
                    response = client.get(summary_path(kind, entity, *period))
                    expected = expected_body(reviews, entity, *period)
                    if response.status_code != 200 or response.json() != expected:
                        mismatches.append((kind, entity, period, response.text, expected))
    assert not mismatches, mismatches[:3]


def test_api_is_healthy_and_answers_as_the_oracle(stack: Stack, reviews: list[Review]) -> None:
    assert healthcheck_passes(stack.container("api"))
    answers_as_the_oracle(stack.base_url, reviews)


def test_api_runs_as_the_service_uid_on_a_read_only_root(stack: Stack) -> None:
    api = stack.container("api")
    assert run_engine("exec", api, "id", "-u").stdout.strip() == SERVICE_UID
    write = run_engine("exec", api, "touch", "/app/x", check=False)
    assert "Read-only file system" in write.stderr


def test_down_then_up_keeps_the_data(stack: Stack, reviews: list[Review]) -> None:
    stack.make("compose-down")
    containers = run_engine(
        "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={stack.project}"
    )
    assert containers.stdout.split() == []
    stack.make("compose-up")
    answers_as_the_oracle(stack.base_url, reviews)


# ---- the stand-in PostgreSQL image, where no registry answers ------------------------------


def test_the_stand_in_postgres_starts_as_the_official_image_does(tmp_path: Path) -> None:
    """POSTGRES_PASSWORD over TCP, POSTGRES_DB, and /docker-entrypoint-initdb.d: *.sql,
    *.sh sourced or (executable) run, anything else ignored; SIGINT stops it with 0."""
    if not base_images().stand_in:
        pytest.skip("the official postgres image is used here")
    init = tmp_path / "init"
    init.mkdir()
    made_by = "psql -v ON_ERROR_STOP=1 --dbname \"$POSTGRES_DB\" -c 'CREATE TABLE made_by_{}()'\n"
    (init / "1.sql").write_text("CREATE TABLE made_by_sql();\n")
    (init / "2.sh").write_text(made_by.format("sourced_sh"))
    (init / "3.sh").write_text("#!/bin/sh\nset -e\n" + made_by.format("executable_sh"))
    (init / "3.sh").chmod(0o755)
    (init / "4.txt").write_text("CREATE TABLE made_by_txt();\n")
    init.chmod(0o755)
    port, password = free_port(), secrets.token_hex(8)
    container = run_engine(
        "run",
        "--detach",
        "--publish",
        f"127.0.0.1:{port}:5432",
        "--env",
        f"POSTGRES_PASSWORD={password}",
        "--env",
        "POSTGRES_DB=stand_in",
        "--volume",
        f"{init}:/docker-entrypoint-initdb.d:ro",
        STAND_IN_POSTGRES,
    ).stdout.strip()
    try:
        url = f"postgresql://postgres:{password}@127.0.0.1:{port}/stand_in"
        wait_until(lambda: reachable(url) is None, START_WITHIN_S, "the stand-in's server")
        with psycopg.connect(url) as connection:
            tables = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            assert {row[0] for row in tables} == {
                "made_by_sql",
                "made_by_sourced_sh",
                "made_by_executable_sh",
            }
        refused = reachable(url.replace(password, "not-the-password"))
        assert refused is not None and "password authentication failed" in refused
        run_engine("stop", container)
        state = run_engine("inspect", "--format", "{{.State.ExitCode}}", container)
        assert state.stdout.strip() == "0"
    finally:
        # --volumes: the image's anonymous volume (its VOLUME $PGDATA) too.
        run_engine("rm", "--force", "--volumes", container, check=False)
