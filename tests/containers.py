"""A real container engine for the image and Compose tests: Docker when an engine answers,
else podman (scripts/container-engine), and the base images they build on.

Where neither can run, those tests skip, except under CI=true, where they fail: CI
installs podman first (`make test` runs scripts/container-tools there).
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
IN_CI = os.environ.get("CI") == "true"
# Building the bases from nothing, then the image, takes minutes on a busy 2-core machine.
SETUP_TIMEOUT_S = 900

OFFICIAL_PYTHON = "docker.io/library/python:3.11-slim"
OFFICIAL_POSTGRES = "docker.io/library/postgres:16"
STAND_IN_PYTHON = "localhost/reviews-api-stand-in/python:3.11-bookworm"
STAND_IN_POSTGRES = "localhost/reviews-api-stand-in/postgres:15-bookworm"

# Names of this checkout's test image and containers: another checkout testing on the same
# machine at the same time uses other ones.
CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
TEST_IMAGE = f"localhost/reviews-api:test-{CHECKOUT}"

Completed = subprocess.CompletedProcess[str]


def unavailable(reason: str) -> NoReturn:
    """Skip, or under CI=true fail: there the container tests must run."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _detected_engine() -> tuple[str | None, str]:
    result = subprocess.run(
        [str(SCRIPTS / "container-engine")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None, result.stderr.strip()
    return result.stdout.strip(), ""


def engine() -> str:
    """`docker` or `podman`; skips (fails under CI) when neither can run containers."""
    name, reason = _detected_engine()
    if name is None:
        unavailable(f"no container engine: {reason}")
    return name


def run_engine(*arguments: str, timeout: float = 120, check: bool = True) -> Completed:
    """`ENGINE ARGUMENTS`; with check, a failure raises with everything it printed."""
    result = subprocess.run(
        [engine(), *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{engine()} {' '.join(arguments)} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def run_make(*arguments: str, environment: dict[str, str] | None = None) -> Completed:
    """`make ARGUMENTS` in the project, as the README says; raises with its output."""
    result = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"make {' '.join(arguments)} exited {result.returncode}:\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


@dataclass(frozen=True)
class BaseImages:
    """What the image is built on (python) and compose's db runs (postgres)."""

    python: str
    postgres: str
    stand_in: bool


def _present_or_pulled(image: str) -> bool:
    if run_engine("image", "inspect", image, check=False).returncode == 0:
        return True
    return run_engine("pull", "--quiet", image, timeout=600, check=False).returncode == 0


@functools.cache
def base_images() -> BaseImages:
    """The official images where the engine has or can pull them, else the stand-ins of
    `make container-base` (built once, then cached outside the repository)."""
    if _present_or_pulled(OFFICIAL_PYTHON) and _present_or_pulled(OFFICIAL_POSTGRES):
        return BaseImages(OFFICIAL_PYTHON, OFFICIAL_POSTGRES, stand_in=False)
    try:
        run_make("container-base")
    except AssertionError as error:
        unavailable(f"no registry answers and the stand-in bases cannot be built: {error}")
    return BaseImages(STAND_IN_PYTHON, STAND_IN_POSTGRES, stand_in=True)


def image_size(image: str) -> int:
    return int(run_engine("image", "inspect", "--format", "{{.Size}}", image).stdout)


def wait_until(check: Callable[[], bool], within_s: float, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` when `within_s` has passed."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within_s} s")
        time.sleep(0.2)


def healthcheck_passes(container: str) -> bool:
    """The image's HEALTHCHECK, run now: `podman healthcheck run`; Docker has no such
    command, so there it is the status of the checks the engine ran itself."""
    if engine() == "podman":
        return run_engine("healthcheck", "run", container, check=False).returncode == 0
    status = run_engine("inspect", "--format", "{{.State.Health.Status}}", container).stdout
    return status.strip() == "healthy"
