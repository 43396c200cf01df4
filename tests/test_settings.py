"""Configuration: defaults, validation with clear messages, and refusing a missing file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import BIN, free_port, server_environment

from service.settings import SETTINGS, Settings, SettingsError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.dialect == "sqlite"
    assert settings.sqlite_path == tmp_path / "data" / "musical_instrument_reviews.sqlite"
    assert {spec.name for spec in SETTINGS} >= {"DATABASE_URL", "HOST", "PORT", "WORKERS"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "http"}, "PORT='http' is not a whole number"),
        ({"PORT": "70000"}, "PORT=70000 is outside 1..65535"),
        ({"WORKERS": "0"}, "WORKERS=0 is outside"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud': expected one of"),
        ({"DATABASE_URL": "mysql://x/y"}, "unsupported scheme 'mysql'"),
        ({"DATABASE_URL": "sqlite://relative.db"}, "a SQLite URL is sqlite:///"),
        ({"DB_QUEUE_MAX": "-1"}, "DB_QUEUE_MAX=-1 is outside 0..1000000"),
        ({"DB_QUEUE_WAIT_MS": "0"}, "DB_QUEUE_WAIT_MS=0 is outside 1..600000"),
        ({"DB_QUEUE_WAIT_MS": "1s"}, "DB_QUEUE_WAIT_MS='1s' is not a whole number"),
        ({"API_KEYS": "s3cret-key"}, "API_KEYS: entry 1 is not a SHA-256 hex digest"),
        ({"API_KEYS": f"{'a' * 64}, {'b' * 63}"}, "API_KEYS: entry 2 is not a SHA-256"),
        ({"API_KEYS": f"{'g' * 64}"}, "API_KEYS: entry 1 is not a SHA-256"),
        ({"CORS_ORIGINS": "bi.example.com"}, "CORS_ORIGINS: 'bi.example.com' is not an origin"),
        ({"CORS_ORIGINS": "https://a.example/x"}, "CORS_ORIGINS: 'https://a.example/x' is not"),
        ({"CORS_ORIGINS": "ftp://a.example"}, "CORS_ORIGINS: 'ftp://a.example' is not"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "4"}, "DB_POOL_MIN=5 is above DB_POOL_MAX=4"),
        ({"DB_CONNECT_TIMEOUT_S": "0"}, "DB_CONNECT_TIMEOUT_S=0.0 is outside 0..3600 seconds"),
        ({"LISTEN_DATABASE_URL": "sqlite:///x"}, "LISTEN_DATABASE_URL: expected a postgresql://"),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Settings.from_env(environ)


def test_a_pasted_key_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"API_KEYS": "my-real-secret-key"})
    assert "my-real-secret-key" not in str(error.value)


def test_lists_are_normalised() -> None:
    digest = "AB" * 32
    settings = Settings.from_env(
        {
            "API_KEYS": f" {digest} ,, {'c' * 64}",
            "CORS_ORIGINS": "https://bi.example.com/ , http://localhost:3000",
            "DB_POOL_MIN": "4",
            "DB_POOL_MAX": "4",
        }
    )
    assert settings.api_key_digests == (digest.lower(), "c" * 64)
    assert settings.cors_origins == ("https://bi.example.com", "http://localhost:3000")
    assert (settings.db_pool_min, settings.db_pool_max) == (4, 4)


def test_absolute_and_relative_sqlite_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative to the working directory, wherever the package is installed."""
    monkeypatch.chdir(tmp_path)
    absolute = Settings.from_env({"DATABASE_URL": "sqlite:////srv/reviews.sqlite"})
    assert absolute.sqlite_path == Path("/srv/reviews.sqlite")
    relative = Settings.from_env({"DATABASE_URL": "sqlite:///data/other.sqlite"})
    assert relative.sqlite_path == tmp_path / "data" / "other.sqlite"


def run_serve(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "reviews-api"), "serve"],
        env={**server_environment("sqlite:////nonexistent/x.sqlite", free_port()), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_missing_database_file_is_a_clear_startup_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    result = run_serve(DATABASE_URL=f"sqlite:///{missing}")
    assert result.returncode == 2
    assert f"SQLite database {missing} does not exist" in result.stderr
    assert not missing.exists(), "the service must never create an empty database"


def test_bad_setting_stops_start_up() -> None:
    result = run_serve(PORT="eighty")
    assert result.returncode == 2
    assert "configuration error: PORT='eighty' is not a whole number" in result.stderr
