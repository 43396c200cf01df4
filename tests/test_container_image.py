"""The container image, built and run for real (Docker, else podman: tests/containers.py).

`make image` builds it from the Dockerfile on the official base, or where no registry
answers on the stand-in of `make container-base`. It then runs as a deploy pipeline runs
it, against the tests' PostgreSQL on the host's network: `migrate` as a one-shot container,
`load` of a source mounted read-only, `serve` on a read-only root file system as uid 10001,
answering what the plain-Python oracle computes; its HEALTHCHECK, a SIGTERM, and the worker
count under a CPU limit.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import oracle
import pytest
from conftest import free_port, summary_path
from containers import (
    CHECKOUT,
    SETUP_TIMEOUT_S,
    TEST_IMAGE,
    Completed,
    base_images,
    engine,
    healthcheck_passes,
    image_size,
    run_engine,
    run_make,
    wait_until,
)
from postgres_server import ThrowawayDatabase, create_database, drop_database
from review_rows import Review, generate_reviews, write_sqlite

from service.settings import Settings

pytestmark = pytest.mark.timeout(SETUP_TIMEOUT_S)

MIGRATIONS = sorted(
    path.stem
    for path in (Path(__file__).resolve().parent.parent / "migrations" / "postgres").glob("*.sql")
    if not path.name.endswith(".rollback.sql")
)
GOAL_OVER_BASE_BYTES = 150_000_000  # what the image adds to its base, at most
SERVICE_UID = "10001"
GRACEFUL_SHUTDOWN_S = Settings.from_env({}).graceful_shutdown_s
START_WITHIN_S = 60
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


@pytest.fixture(scope="module")
def image() -> str:
    run_make("image", f"IMAGE={TEST_IMAGE}", f"BASE_IMAGE={base_images().python}")
    return TEST_IMAGE


@pytest.fixture(scope="module")
def reviews() -> list[Review]:
    return generate_reviews(count=80)


@pytest.fixture(scope="module")
def migrated(image: str, postgres_admin_url: str) -> Iterator[tuple[ThrowawayDatabase, Completed]]:
    """A fresh database migrated by the image's `migrate`, one-shot (--rm)."""
    runs: list[Completed] = []

    def migrate(owner_url: str) -> None:
        runs.append(
            run_engine(
                "run",
                "--rm",
                "--network",
                "host",
                "--env",
                f"MIGRATION_DATABASE_URL={owner_url}",
                image,
                "migrate",
            )
        )

    database = create_database(postgres_admin_url, migrate)
    yield database, runs[0]
    drop_database(postgres_admin_url, database)


@pytest.fixture(scope="module")
def loaded(
    image: str,
    migrated: tuple[ThrowawayDatabase, Completed],
    reviews: list[Review],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ThrowawayDatabase, Completed]:
    """The rows loaded by the image's `load` from a folder mounted read-only."""
    database, _ = migrated
    source = tmp_path_factory.mktemp("source")
    write_sqlite(source / "reviews.sqlite", reviews)
    source.chmod(0o755)  # readable by the image's uid, like compose.yaml's data folder
    (source / "reviews.sqlite").chmod(0o644)
    result = run_engine(
        "run",
        "--rm",
        "--network",
        "host",
        "--volume",
        f"{source}:/data:ro",
        "--env",
        f"MIGRATION_DATABASE_URL={database.owner_url}",
        image,
        "load",
        "--source",
        "/data/reviews.sqlite",
    )
    return database, result


@dataclass(frozen=True)
class Served:
    container: str
    base_url: str


def serve(image: str, database: ThrowawayDatabase, *run_options: str) -> Served:
    """`serve` (the image's default command) in a container, as compose.yaml runs it: a
    read-only root file system with a tmpfs /tmp, all capabilities dropped; on the host's
    network, listening on loopback only. Returns once /health/live answers."""
    port = free_port()
    container = f"reviews-api-test-{CHECKOUT}-{secrets.token_hex(3)}"
    read_only = ["--read-only", "--tmpfs", "/tmp"]
    if engine() == "podman":
        read_only.append("--read-only-tmpfs=false")  # only /tmp, as under Docker
    run_engine(
        "run",
        "--detach",
        "--name",
        container,
        "--network",
        "host",
        *read_only,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--env",
        f"DATABASE_URL={database.reader_url}",
        "--env",
        "HOST=127.0.0.1",
        "--env",
        f"PORT={port}",
        *run_options,
        image,
    )
    served = Served(container, f"http://127.0.0.1:{port}")

    def live() -> bool:
        state = run_engine("inspect", "--format", "{{.State.Status}}", container).stdout
        if state.strip() != "running":
            logs = run_engine("logs", container, check=False)
            raise AssertionError(f"serve is {state.strip()}:\n{logs.stdout}{logs.stderr}")
        try:
            return httpx.get(f"{served.base_url}/health/live", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(live, START_WITHIN_S, "serve answering /health/live")
    except BaseException:
        remove(container)
        raise
    return served


def remove(container: str) -> None:
    run_engine("rm", "--force", container, check=False)


@pytest.fixture(scope="module")
def served(image: str, loaded: tuple[ThrowawayDatabase, Completed]) -> Iterator[Served]:
    running = serve(image, loaded[0])
    yield running
    remove(running.container)


# ---- the image --------------------------------------------------------------------------


def test_the_image_adds_at_most_150_mb_to_its_base(image: str) -> None:
    added = image_size(image) - image_size(base_images().python)
    assert added <= GOAL_OVER_BASE_BYTES, f"{added / 1e6:.1f} MB over {base_images().python}"


def test_the_image_keeps_its_user_and_healthcheck(image: str) -> None:
    """The Docker image format keeps HEALTHCHECK (podman's default, OCI, drops it)."""

    def inspect(field: str) -> str:
        return run_engine(
            "image", "inspect", "--format", f"{{{{json .Config.{field}}}}}", image
        ).stdout

    assert json.loads(inspect("User")) == f"{SERVICE_UID}:{SERVICE_UID}"
    assert json.loads(inspect("Healthcheck"))["Test"] == [
        "CMD",
        "/app/scripts/docker-entrypoint.sh",
        "healthcheck",
    ]


def certificates(bundle: str) -> set[str]:
    """The base64 bodies of the PEM certificates in `bundle`, one line each."""
    return {
        "".join(block.split())
        for block in re.findall(
            r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", bundle, re.DOTALL
        )
    }


def lent_bundle() -> Path | None:
    """The CA bundle scripts/container-image lends the build, by the same rule."""
    path = (
        os.environ.get("PIP_CERT")
        or subprocess.run(
            ["python3", "-m", "pip", "config", "get", "global.cert"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    )
    return Path(path) if path and Path(path).is_file() else None


def test_no_certificate_lent_to_the_build_is_in_the_image(image: str) -> None:
    """The proxy's CA is trusted by the build only (a build secret): no CA this host added
    to its trust (update-ca-certificates' LOCAL_CAS) that the build was lent may be in
    any of the image's files."""
    bundle = lent_bundle()
    if bundle is None:
        pytest.skip("no CA bundle is lent to the build here")
    local = set()
    for path in LOCAL_CAS.glob("**/*.crt"):
        local |= certificates(path.read_text(errors="replace"))
    lent_local = local & certificates(bundle.read_text(errors="replace"))
    if not lent_local:
        pytest.skip(f"{bundle} holds no CA added in {LOCAL_CAS}")
    # A line of each, as PEM files wrap them at 64 characters.
    needles = [body[64:128].encode() for body in lent_local]

    container = run_engine("create", image).stdout.strip()
    try:
        found = []
        with subprocess.Popen([engine(), "export", container], stdout=subprocess.PIPE) as export:
            assert export.stdout is not None
            with tarfile.open(fileobj=export.stdout, mode="r|") as files:
                for member in files:
                    extracted = files.extractfile(member) if member.isfile() else None
                    if extracted is not None:
                        content = extracted.read()
                        found += [member.name for needle in needles if needle in content]
        assert export.returncode == 0
    finally:
        remove(container)
    assert not found, f"certificates lent to the build are in the image: {found}"


# ---- migrate, load, serve -----------------------------------------------------------------


def test_migrate_applies_every_migration_as_a_one_shot_container(
    migrated: tuple[ThrowawayDatabase, Completed],
) -> None:
    _, run = migrated
    assert run.stdout.startswith(f"applied {len(MIGRATIONS)} migration(s)"), run.stdout


def test_load_reads_a_source_mounted_read_only(
    loaded: tuple[ThrowawayDatabase, Completed], reviews: list[Review]
) -> None:
    _, run = loaded
    assert f"loaded {len(reviews)} rows" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("kind", ["products", "reviewers"])
def test_serve_answers_as_the_oracle(served: Served, reviews: list[Review], kind: str) -> None:
    expected_body, entity_of = {
        "products": (oracle.product_summary, lambda review: review.productID),
        "reviewers": (oracle.reviewer_summary, lambda review: review.reviewerID),
    }[kind]
    mismatches = []
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        for entity in sorted({entity_of(review) for review in reviews}):
            days = sorted(review.day for review in reviews if entity_of(review) == entity)
            for period in [(None, None), (days[0], days[0] + timedelta(days=365))]:
                response = client.get(summary_path(kind, entity, *period))
                expected = expected_body(reviews, entity, *period)
                if response.status_code != 200 or response.json() != expected:
                    mismatches.append((entity, period, response.text, expected))
    assert not mismatches, mismatches[:3]


def test_serve_runs_as_the_service_uid_on_a_read_only_root(served: Served) -> None:
    assert run_engine("exec", served.container, "id", "-u").stdout.strip() == SERVICE_UID
    write = run_engine("exec", served.container, "touch", "/app/x", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    run_engine("exec", served.container, "touch", "/tmp/x")  # the one writable place


def test_the_healthcheck_passes(served: Served) -> None:
    wait_until(lambda: healthcheck_passes(served.container), START_WITHIN_S, "the HEALTHCHECK")


def test_sigterm_stops_serve_with_exit_0_within_the_grace_period(
    image: str, loaded: tuple[ThrowawayDatabase, Completed]
) -> None:
    """With one worker (one CPU): with several, Sanic's worker manager has been seen to
    exit 1 on SIGTERM now and then (README, "Handover"), which this test would not hide."""
    running = serve(image, loaded[0], "--cpus", "1")
    try:
        started = time.monotonic()
        run_engine("kill", "--signal", "TERM", running.container)
        status = run_engine("wait", running.container, timeout=GRACEFUL_SHUTDOWN_S + 30)
        elapsed = time.monotonic() - started
        logs = run_engine("logs", running.container)
        assert status.stdout.strip() == "0", logs.stdout + logs.stderr
        assert elapsed <= GRACEFUL_SHUTDOWN_S, f"stopped after {elapsed:.1f} s"
    finally:
        remove(running.container)


def workers_listening(base_url: str) -> int:
    """Workers holding their LISTEN connection: one per worker once all have started."""
    metrics = httpx.get(f"{base_url}/metrics", timeout=5).text
    found = re.search(r"^reviews_api_load_listener_up (\S+)$", metrics, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


@pytest.mark.parametrize(
    ("cpus", "workers"),
    # No limit: the CPUs this process may run on, which the engine's containers inherit.
    [(None, len(os.sched_getaffinity(0))), ("1", 1), ("1.5", 1)],
    ids=["no-limit", "cpus-1", "cpus-1.5"],
)
def test_workers_follow_the_cpu_limit(
    image: str, loaded: tuple[ThrowawayDatabase, Completed], cpus: str | None, workers: int
) -> None:
    running = serve(image, loaded[0], *(["--cpus", cpus] if cpus else []))
    try:
        environ = run_engine("exec", running.container, "cat", "/proc/1/environ").stdout
        assert f"WORKERS={workers}" in environ.split("\0")
        wait_until(
            lambda: workers_listening(running.base_url) == workers,
            START_WITHIN_S,
            f"{workers} worker(s) listening",
        )
    finally:
        remove(running.container)
