"""The suite's own rules, checked by running pytest as a developer would: no PostgreSQL is
a failure naming what was tried (never a skip, never another server than the one named),
a SQLite-only run happens only when asked for, and any skipped test fails the run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import BIN, free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Both backends: one SQLite test and one PostgreSQL test, in a second or two.
SELECTION = "tests/test_service.py::test_liveness_and_readiness"


def run_pytest(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CI", "SQLITE_ONLY", "TEST_DATABASE_URL", "PYTEST_ADDOPTS")
    }
    return subprocess.run(
        [str(BIN / "pytest"), "-p", "no:cacheprovider", *arguments],
        cwd=PROJECT_ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def unreachable_url() -> str:
    # A free port: nothing listens there.
    return f"postgresql://postgres:not-the-password@127.0.0.1:{free_port()}/postgres"


def test_an_unreachable_test_database_url_fails_naming_it() -> None:
    url = unreachable_url()
    result = run_pytest(SELECTION, TEST_DATABASE_URL=url)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    masked = url.replace("not-the-password", "***")
    assert f"TEST_DATABASE_URL={masked} is unreachable" in output
    assert "not-the-password" not in output
    # Never a fall-back to the local server: the PostgreSQL test did not run at all.
    assert "1 passed, 1 error" in output
    assert "skipped" not in output


def test_a_sqlite_only_run_must_be_asked_for_and_says_what_it_left_out() -> None:
    result = run_pytest(SELECTION, SQLITE_ONLY="1", TEST_DATABASE_URL=unreachable_url())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SQLITE_ONLY=1: 1 PostgreSQL tests were not run" in output
    assert "1 passed, 1 deselected" in output


def test_ci_refuses_a_sqlite_only_run() -> None:
    result = run_pytest(SELECTION, SQLITE_ONLY="1", CI="true")
    assert result.returncode == 4, result.stdout + result.stderr  # a usage error
    assert "SQLITE_ONLY=1 is refused with CI=true" in result.stderr


def test_a_skipped_test_fails_the_run(tmp_path: Path) -> None:
    test_file = tmp_path / "test_skips.py"
    test_file.write_text(
        "import pytest\n\n\ndef test_passes():\n    pass\n\n\n"
        "def test_skips():\n    pytest.skip('no server')\n"
    )
    # The suite's conftest as a plugin: its hooks hold for this file outside tests/.
    result = run_pytest("-p", "conftest", str(test_file), PYTHONPATH=str(PROJECT_ROOT / "tests"))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 passed, 1 skipped" in output
    assert "this suite must not skip" in output
