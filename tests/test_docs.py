"""The README is the handover: it must name every route and setting, and its example
responses must be what the service really answers on the default development database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunningServer, start_server, stop_server

from service.catalog import load_catalog
from service.catalog.model import Endpoint
from service.settings import SETTINGS, SettingSpec

ENDPOINTS = load_catalog().endpoints
README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
# A ```sh block holding one curl of a local URL, then a ```json block: its response.
EXAMPLE = re.compile(
    r"```sh\ncurl '(?P<url>http://127\.0\.0\.1:8000[^']+)'\n```\s*```json\n(?P<body>.*?)```",
    re.DOTALL,
)


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_route_is_documented(endpoint: Endpoint) -> None:
    assert f"`{endpoint.path}`" in README


@pytest.mark.parametrize("spec", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented_with_its_default(spec: SettingSpec) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `{spec.name}` |")]
    assert rows, f"{spec.name} is missing from the README's configuration table"
    assert (f"`{spec.default}`" if spec.default else "(none)") in rows[0]


@pytest.fixture(scope="module")
def dev_server(
    default_dev_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server(
        f"sqlite:///{default_dev_database}", tmp_path_factory.mktemp("docs") / "server.log"
    )
    yield server
    stop_server(server)


def test_readme_examples_are_real_responses(dev_server: RunningServer) -> None:
    examples = list(EXAMPLE.finditer(README))
    assert len(examples) >= 2
    with dev_server.client() as client:
        for example in examples:
            path = example["url"].removeprefix("http://127.0.0.1:8000")
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.json() == json.loads(example["body"]), path
