"""Property-based contract testing: schemathesis drives the running service on PostgreSQL
(the default development dataset, so documented examples hit real data) from its own
OpenAPI document, and every response must conform to it.

Excluded check, and why: `positive_data_acceptance` ("a schema-valid request must not be
rejected"): `from` after `to` is valid per parameter schema (JSON Schema cannot relate two
parameters) but a 400 by rule, and so is an impossible day that the date format lets
through in some generators (2015-02-30). Every other check runs: no 5xx, status codes,
content types (errors are application/problem+json), headers and response schemas
conform, negative data is rejected.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, RunningServer, run_cli, start_server, stop_server
from postgres_server import ThrowawayDatabase

RUN_BUDGET_S = 100
EXCLUDED_CHECKS = "positive_data_acceptance"


@pytest.fixture(scope="module")
def loaded_server(
    make_module_database: ThrowawayDatabase,
    default_dev_database: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    run_cli(
        "load",
        "--source",
        str(default_dev_database),
        "--database-url",
        make_module_database.owner_url,
    )
    server = start_server(
        make_module_database.reader_url, tmp_path_factory.mktemp("st") / "server.log", WORKERS="2"
    )
    yield server
    stop_server(server)


def test_schemathesis_finds_no_failure(loaded_server: RunningServer, tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [
            str(BIN / "st"),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{loaded_server.base_url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--max-examples",
            "40",
            "--seed",
            "20180928",
            # One worker: with two, its threads hit CPython 3.11's AST recursion-depth bug
            # in Hypothesis (gh-106905, "AST constructor recursion depth mismatch", seen
            # here once in a full run), a Runtime Error that fails the run for nothing.
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--max-time",
            "75",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
            "--output-truncate",
            "false",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_BUDGET_S + 20,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    elapsed = time.monotonic() - started
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(summary)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "generated" in summary
    assert elapsed < RUN_BUDGET_S, f"schemathesis took {elapsed:.0f} s"
