"""The container image and the Compose deployment, held to their rules without running a
container (test_container_image.py and test_compose_stack.py build and run them for real).

The Dockerfile, .dockerignore, compose.yaml and .env.example are read and checked; the
entry point the image runs (scripts/docker-entrypoint.sh) is run outside a container for
every command the image runs: `serve` on SQLite, `migrate` of a fresh PostgreSQL
database, `load` into it and `serve` on it through the read-only login, `healthcheck`,
the default worker count and the usage error.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import free_port
from postgres_server import ThrowawayDatabase, create_database, drop_database
from review_rows import Review, generate_reviews, write_sqlite

from service.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "scripts" / "docker-entrypoint.sh"
BIN = Path(sys.executable).parent
SETTING_NAMES = {spec.name for spec in SETTINGS}
MIGRATION_FILES = sorted(
    path.stem
    for path in (ROOT / "migrations" / "postgres").glob("*.sql")
    if not path.name.endswith(".rollback.sql")
)
START_TIMEOUT_S = 30
PRODUCT = "ONE-DAY"  # generate_reviews' edge cases: three reviews on one day


# ---- the Dockerfile ------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def words(self) -> list[str]:
        """The arguments, from the exec form (a JSON array) or split like a shell would."""
        if self.arguments.startswith("["):
            return [str(word) for word in json.loads(self.arguments)]
        return shlex.split(self.arguments)


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[list[Instruction]]]:
    """The global ARGs (before the first FROM) and the instructions of each build stage,
    continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not (stripped or pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        pending = ""
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    global_args: list[Instruction] = []
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        if not stages:
            assert instruction.keyword == "ARG", f"{instruction.keyword} before the first FROM"
            global_args.append(instruction)
        else:
            stages[-1].append(instruction)
    return global_args, stages


GLOBAL_ARGS, STAGES = parse_dockerfile((ROOT / "Dockerfile").read_text())
FINAL = STAGES[-1]


def instructions(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [instruction for instruction in stage if instruction.keyword == keyword]


def the_one(stage: list[Instruction], keyword: str) -> Instruction:
    found = instructions(stage, keyword)
    assert len(found) == 1, f"expected one {keyword} in the stage, found {len(found)}"
    return found[0]


def copies(stage: list[Instruction]) -> list[tuple[Instruction, list[str], str]]:
    """(instruction, sources, destination) of each COPY/ADD from the build context."""
    found = []
    for instruction in instructions(stage, "COPY") + instructions(stage, "ADD"):
        words = instruction.words()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        found.append((instruction, paths[:-1], paths[-1]))
    return found


def copied_into(stage: list[Instruction]) -> dict[str, list[str]]:
    """Absolute destination -> sources, for the stage's copies from the build context."""
    return {
        workdir_path(stage, instruction, destination): sources
        for instruction, sources, destination in copies(stage)
    }


def workdir_path(stage: list[Instruction], instruction: Instruction, path: str) -> str:
    """`path` made absolute against the WORKDIR in force at `instruction`."""
    workdir = "/"
    for earlier in stage[: stage.index(instruction)]:
        if earlier.keyword == "WORKDIR":
            workdir = str(Path(workdir, earlier.arguments))
    return str(Path(workdir, path))


def test_the_image_is_built_in_stages_on_a_slim_python() -> None:
    """Both stages on BASE_IMAGE (the venv links to the interpreter of its base), by
    default the official slim Python; a stand-in only where no registry answers."""
    assert len(STAGES) >= 2
    assert [arg.arguments for arg in GLOBAL_ARGS] == ["BASE_IMAGE=python:3.11-slim"]
    for stage in (STAGES[0], FINAL):
        assert the_one(stage, "FROM").words()[0] == "${BASE_IMAGE}"


def test_the_dependencies_are_the_pinned_runtime_ones() -> None:
    installs = [
        run.arguments
        for stage in STAGES
        for run in instructions(stage, "RUN")
        if "pip install" in run.arguments
    ]
    assert installs, "no pip install in the Dockerfile"
    for install in installs:
        assert "--constraint constraints.txt" in install
        assert "[dev]" not in install
    assert not [run for run in instructions(FINAL, "RUN") if "pip install" in run.arguments]


def test_the_service_runs_as_a_non_root_numeric_user() -> None:
    user = the_one(FINAL, "USER")
    uid = user.arguments.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user.arguments}: not a numeric non-root uid"
    for keyword in ("ENTRYPOINT", "CMD", "HEALTHCHECK"):
        assert FINAL.index(user) < FINAL.index(the_one(FINAL, keyword))


def test_the_image_listens_on_every_interface_of_the_container() -> None:
    env = dict(
        word.split("=", 1)
        for instruction in instructions(FINAL, "ENV")
        for word in instruction.words()
    )
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "8000"
    assert the_one(FINAL, "EXPOSE").words() == ["8000"]


def test_the_entry_point_is_the_script_and_serves_by_default() -> None:
    entrypoint = the_one(FINAL, "ENTRYPOINT").words()
    assert entrypoint == ["/app/scripts/docker-entrypoint.sh"]
    assert the_one(FINAL, "CMD").words() == ["serve"]
    assert copied_into(FINAL)[entrypoint[0]] == ["scripts/docker-entrypoint.sh"]


def test_the_healthcheck_asks_the_readiness_route_through_the_entry_point() -> None:
    healthcheck = the_one(FINAL, "HEALTHCHECK").arguments
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command == [*the_one(FINAL, "ENTRYPOINT").words(), "healthcheck"]
    # That command is run against a real server below; this is what it asks.
    assert "/health/ready" in ENTRYPOINT.read_text()


def test_nothing_but_the_service_is_copied_into_the_image() -> None:
    for stage in STAGES:
        for _, sources, _ in copies(stage):
            for source in sources:
                top = Path(source).parts[0]
                assert top not in {"data", "tests", ".venv", ".git", ".env"}, source
                assert not source.endswith((".sqlite", ".env")), source
    assert not any(instructions(stage, "ADD") for stage in STAGES)


def test_the_image_installs_the_package_with_its_sql() -> None:
    """A regular install in the build stage, after the service and its SQL are copied in
    (the SQL travels inside the package: tests/test_packaging.py); the runtime stage takes
    only the venv and the entry point, no source tree."""
    build = STAGES[0]
    copied = copied_into(build)
    installs = [run for run in instructions(build, "RUN") if "pip install" in run.arguments]
    project_install = installs[-1]
    assert "--editable" not in " ".join(run.arguments for run in installs)
    install_command = next(
        part for part in project_install.arguments.split("&&") if "pip install" in part
    )
    assert install_command.split()[-1] == "."
    for folder in ("service", "queries", "migrations"):
        copy = next(i for i in instructions(build, "COPY") if i.words()[0] == folder)
        assert build.index(copy) < build.index(project_install)
        assert workdir_path(build, copy, folder) in copied
    final_copies = copied_into(FINAL)
    assert set(final_copies) == {"/app/scripts/docker-entrypoint.sh"}
    assert any(
        "--from=build" in instruction.arguments and "/opt/venv" in instruction.arguments
        for instruction in instructions(FINAL, "COPY")
    )


# ---- .dockerignore -------------------------------------------------------------------------


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) per line of .dockerignore, in Docker's glob syntax."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", glob):
            if token.startswith("["):
                regex += token.replace("[!", "[^")  # a character class, as in Go
            else:
                regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                    token, re.escape(token)
                )
        rules.append((excludes, re.compile(regex)))
    return rules


def excluded_from_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    excluded = False
    for excludes, pattern in dockerignore_rules():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            excluded = excludes
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".env",
        "data/musical_instrument_reviews.sqlite",
        "data/musical_instrument_reviews.sqlite-journal",
        "tests/conftest.py",
        ".pytest_cache/README.md",
        ".hypothesis/examples/x",
        "service/__pycache__/app.cpython-311.pyc",
        "service/stray.pyc",
        "scripts/generate_dev_data.py",
        "reviews_api.egg-info/PKG-INFO",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert excluded_from_context(path)


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    sources = [source for stage in STAGES for _, sources, _ in copies(stage) for source in sources]
    for source in sources:
        path = ROOT / source
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        files = [f for f in files if "__pycache__" not in f.parts]
        assert files, f"COPY {source}: nothing there"
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            assert not excluded_from_context(relative), f"{relative} is left out of the context"


# ---- compose.yaml and .env.example -----------------------------------------------------------

COMPOSE_TEXT = (ROOT / "compose.yaml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = ROOT / ".env.example"
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


def env_example() -> dict[str, str]:
    assignments = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, equals, value = line.partition("=")
            assert equals, f".env.example: {line!r} is not NAME=value"
            assignments[name.strip()] = value.strip()
    return assignments


def test_compose_runs_the_database_then_the_migration_then_the_api() -> None:
    assert set(SERVICES) == {"db", "migrate", "load", "api"}
    db, migrate, load, api = (SERVICES[name] for name in ("db", "migrate", "load", "api"))

    assert db["image"] == "${POSTGRES_IMAGE:-postgres:16}"  # a stand-in only without registry
    assert "pg_isready" in db["healthcheck"]["test"]
    volume = db["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"], "the database lives in a named volume"

    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"

    assert load["profiles"] == ["load"]
    assert load["command"] == [
        "load",
        "--source",
        "/data/${REVIEWS_SOURCE:-musical_instrument_reviews.sqlite}",
    ]
    assert "${REVIEWS_DATA_DIR:-./data}:/data:ro" in load["volumes"]
    assert load["restart"] == "no"

    assert api["command"] == ["serve"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["ports"] and all(port.startswith("127.0.0.1:") for port in api["ports"])
    assert api["healthcheck"]["test"] == [
        "CMD",
        *the_one(FINAL, "ENTRYPOINT").words(),
        "healthcheck",
    ]


def test_compose_runs_one_image_built_from_the_dockerfile() -> None:
    images = {SERVICES[name]["image"] for name in ("migrate", "load", "api")}
    assert len(images) == 1
    assert all(SERVICES[name]["build"] == "." for name in ("migrate", "load", "api"))


def test_each_service_gets_only_the_settings_it_needs() -> None:
    assert set(SERVICES["api"]["environment"]) == SETTING_NAMES - {"MIGRATION_DATABASE_URL"}
    for one_shot in ("migrate", "load"):
        assert set(SERVICES[one_shot]["environment"]) == {"MIGRATION_DATABASE_URL"}


def test_compose_holds_no_secret() -> None:
    assert not re.search(r"://[^/\s:@]+:(?!\$\{)[^@\s]*@", COMPOSE_TEXT), "a password in a URL"
    for name, definition in SERVICES.items():
        assert "env_file" not in definition or definition["env_file"] == ".env"
        for variable, value in (definition.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET|TOKEN", variable):
                # Required (":?"), never a default value that would be a password.
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{name}: {variable}"


def test_the_env_file_is_git_ignored_and_its_example_is_not() -> None:
    def ignored(path: str) -> bool:
        check = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False
        )
        assert check.returncode in (0, 1), "git check-ignore failed"
        return check.returncode == 0

    assert ignored(".env")
    assert ENV_EXAMPLE.is_file() and not ignored(".env.example")


def test_the_env_example_names_every_setting_and_every_variable_compose_reads() -> None:
    example = env_example()
    assert set(example) >= SETTING_NAMES, "settings missing from .env.example"
    referenced = set(REFERENCE.findall(COMPOSE_TEXT))
    assert referenced <= set(example), f"missing from .env.example: {referenced - set(example)}"


def test_the_env_example_holds_no_password() -> None:
    for name, value in env_example().items():
        if "PASSWORD" in name:
            assert value == "", f"{name} must be left empty in the example"
        assert not re.search(r"://[^/\s:@]+:(?!\$\{)[^@\s]*@", value), name


def test_the_database_initialisation_gets_the_passwords_it_requires() -> None:
    """deploy/postgres-init creates the logins at the first start of `db`."""
    db = SERVICES["db"]
    mount = next(v for v in db["volumes"] if v.endswith(":/docker-entrypoint-initdb.d:ro"))
    scripts = sorted((ROOT / mount.split(":")[0]).glob("*.sh"))
    assert scripts and all(os.access(script, os.X_OK) for script in scripts)
    required = {
        name for script in scripts for name in re.findall(r"\$\{(\w+):\?", script.read_text())
    }
    assert required and required <= set(db["environment"])


# ---- the entry point, run outside a container ------------------------------------------------


def entrypoint_environment(**values: str) -> dict[str, str]:
    """This process's environment without any setting, the venv first on the PATH."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTING_NAMES and name != "REVIEWS_API_CGROUP_ROOT"
    }
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    return {**environment, **values}


def run_entrypoint(
    *arguments: str, environment: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRYPOINT), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    environment: dict[str, str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start `docker-entrypoint.sh serve` in its own process group (Sanic may signal its
    group); whatever is left at the end is killed with the whole group."""
    started: list[Served] = []

    def start(**values: str) -> Served:
        port = free_port()
        environment = entrypoint_environment(
            HOST="127.0.0.1", PORT=str(port), LOG_LEVEL="WARNING", **values
        )
        log_path = tmp_path / f"serve{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(ENTRYPOINT), "serve"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        served = Served(process, f"http://127.0.0.1:{port}", environment)
        started.append(served)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert process.poll() is None, f"exited {process.returncode}:\n{log_path.read_text()}"
            try:
                if httpx.get(f"{served.base_url}/health/ready", timeout=1).status_code == 200:
                    return served
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready in {START_TIMEOUT_S} s:\n{log_path.read_text()}")

    yield start
    for served in started:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()


# Sanic's worker manager never stops if SIGTERM arrives before it has seen every worker's
# start-up acknowledgement (sanic/worker/manager.py, wait_for_ack), a moment that can
# follow the first answer by ~0.1 s: give it that moment before stopping.
SETTLE_S = 1.0


def stop_gracefully(served: Served) -> int:
    time.sleep(SETTLE_S)
    served.process.send_signal(signal.SIGTERM)
    return served.process.wait(timeout=30)


def summary_count(base_url: str) -> int:
    response = httpx.get(f"{base_url}/v1/products/{PRODUCT}/reviews/summary", timeout=10)
    assert response.status_code == 200, response.text
    return int(response.json()["review_count"])


@pytest.fixture(scope="module")
def reviews() -> list[Review]:
    return generate_reviews(count=80)


@pytest.fixture(scope="module")
def reviews_file(reviews: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("deployment") / "reviews.sqlite", reviews)


def expected_count(reviews: list[Review]) -> int:
    return sum(review.productID == PRODUCT for review in reviews)


def test_serve_answers_until_sigterm_then_exits_cleanly(
    serve: Any, reviews: list[Review], reviews_file: Path
) -> None:
    """As the image runs it, with the healthcheck command. One worker: with several,
    Sanic's multi-process manager sometimes exits 1 on SIGTERM (seen in a CI run; an
    upstream shutdown race, README "Handover"); the WORKERS default is covered by the
    stand-in tests below."""
    served = serve(DATABASE_URL=f"sqlite:///{reviews_file}", WORKERS="1")
    assert summary_count(served.base_url) == expected_count(reviews)
    healthy = run_entrypoint("healthcheck", environment=served.environment)
    assert healthy.returncode == 0, healthy.stderr

    assert stop_gracefully(served) == 0  # exec: the server itself got the SIGTERM
    unhealthy = run_entrypoint("healthcheck", environment=served.environment)
    assert unhealthy.returncode == 1
    assert "not ready" in unhealthy.stderr


@pytest.mark.parametrize("arguments", [["bogus"], ["index"], [""], ["--help"]])
def test_an_unknown_command_is_a_usage_error(arguments: list[str]) -> None:
    result = run_entrypoint(*arguments, environment=entrypoint_environment())
    assert result.returncode == 64
    assert "usage:" in result.stderr
    assert result.stdout == ""


# ---- the default worker count, with a stand-in for reviews-api -------------------------------

CPUS = len(os.sched_getaffinity(0))


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    """A `reviews-api` first on the PATH that prints WORKERS and its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "reviews-api"
    script.write_text('#!/bin/sh\necho "WORKERS=${WORKERS-unset}"\nprintf "%s\\n" "$@"\n')
    script.chmod(0o755)
    return bin_dir


def run_with_stand_in(stand_in: Path, *arguments: str, **values: str) -> tuple[str, list[str]]:
    environment = entrypoint_environment(**values)
    environment["PATH"] = f"{stand_in}{os.pathsep}{environment['PATH']}"
    result = run_entrypoint(*arguments, environment=environment, timeout=10)
    assert result.returncode == 0, result.stderr
    workers, *passed = result.stdout.splitlines()
    return workers.removeprefix("WORKERS="), passed


@pytest.mark.parametrize(
    ("cgroup_files", "expected"),
    [
        ({}, CPUS),
        ({"cpu.max": "max 100000\n"}, CPUS),
        ({"cpu.max": "100000 100000\n"}, 1),
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU: still one worker
        ({"cpu.max": "250000 100000\n"}, min(2, CPUS)),  # 2.5 CPUs round down
        ({"cpu.max": f"{CPUS * 400000} 100000\n"}, CPUS),  # a quota above the CPUs
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, CPUS),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
    ],
    ids=["none", "v2-max", "v2-1", "v2-0.5", "v2-2.5", "v2-above", "v1-none", "v1-1"],
)
def test_workers_default_to_the_cpus_the_container_may_use(
    stand_in: Path, tmp_path: Path, cgroup_files: dict[str, str], expected: int
) -> None:
    cgroup = tmp_path / "cgroup"
    for name, content in cgroup_files.items():
        (cgroup / name).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / name).write_text(content)
    workers, passed = run_with_stand_in(stand_in, "serve", REVIEWS_API_CGROUP_ROOT=str(cgroup))
    assert (workers, passed) == (str(expected), ["serve"])


def test_workers_on_this_machine_are_between_one_and_its_cpus(stand_in: Path) -> None:
    workers, _ = run_with_stand_in(stand_in, "serve")
    assert 1 <= int(workers) <= CPUS


def test_a_configured_worker_count_wins(stand_in: Path, tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    workers, _ = run_with_stand_in(
        stand_in, "serve", WORKERS="3", REVIEWS_API_CGROUP_ROOT=str(tmp_path)
    )
    assert workers == "3"


@pytest.mark.parametrize(
    "arguments",
    [
        [],  # the image's CMD is serve; an empty command serves too
        ["migrate", "rollback", "--count", "1"],
        ["load", "--source", "/data/a file.json.gz", "--database-url", "postgresql://x"],
    ],
)
def test_arguments_reach_reviews_api_unchanged(stand_in: Path, arguments: list[str]) -> None:
    _, passed = run_with_stand_in(stand_in, *arguments, WORKERS="1")
    assert passed == (arguments or ["serve"])


# ---- migrate, load and serve on PostgreSQL, as compose.yaml runs them ------------------------


@pytest.fixture(scope="module")
def migrated(postgres_admin_url: str) -> Iterator[tuple[ThrowawayDatabase, str]]:
    """A fresh database migrated by `docker-entrypoint.sh migrate` (the owner login from
    MIGRATION_DATABASE_URL, as in compose.yaml), with its output; dropped afterwards."""
    outputs: list[str] = []

    def migrate(owner_url: str) -> None:
        result = run_entrypoint(
            "migrate", environment=entrypoint_environment(MIGRATION_DATABASE_URL=owner_url)
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)

    database = create_database(postgres_admin_url, migrate)
    yield database, outputs[0]
    drop_database(postgres_admin_url, database)


def test_migrate_applies_every_migration_to_a_fresh_database(
    migrated: tuple[ThrowawayDatabase, str],
) -> None:
    database, output = migrated
    assert output.startswith(f"applied {len(MIGRATION_FILES)} migration(s)")
    listed = run_entrypoint(
        "migrate",
        "list",
        "--database-url",
        database.owner_url,
        environment=entrypoint_environment(),
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [word for name in MIGRATION_FILES for word in ("applied", name)]


def test_load_then_serve_through_the_read_only_login(
    migrated: tuple[ThrowawayDatabase, str],
    serve: Any,
    reviews: list[Review],
    reviews_file: Path,
) -> None:
    database, _ = migrated
    loaded = run_entrypoint(
        "load",
        "--source",
        str(reviews_file),
        environment=entrypoint_environment(MIGRATION_DATABASE_URL=database.owner_url),
    )
    assert loaded.returncode == 0, loaded.stderr
    assert f"loaded {len(reviews)} rows" in loaded.stdout

    served = serve(DATABASE_URL=database.reader_url, WORKERS="1")
    assert summary_count(served.base_url) == expected_count(reviews)
    assert stop_gracefully(served) == 0
