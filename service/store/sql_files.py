"""Where the SQL files are: inside the installed package.

The folders queries/ and migrations/ at the top of the repository are where DBAs read and
review the SQL; pyproject.toml installs them as the packages `service.sql_queries` and
`service.sql_migrations`, so a wheel carries them and an editable install points at the
repository's own folders. Reading them through importlib.resources finds them either way,
whatever the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

QUERIES_PACKAGE = "service.sql_queries"
MIGRATIONS_PACKAGE = "service.sql_migrations"


class MissingSQL(RuntimeError):
    """The installed package lacks its SQL: an incomplete installation."""


def queries_dir(*parts: str) -> Path:
    """A folder (or file) of queries/, e.g. queries_dir("postgres")."""
    return _path(QUERIES_PACKAGE, parts)


def migrations_dir(*parts: str) -> Path:
    """A folder (or file) of migrations/, e.g. migrations_dir("sqlite", "schema.sql")."""
    return _path(MIGRATIONS_PACKAGE, parts)


def _path(package: str, parts: tuple[str, ...]) -> Path:
    # aiosql and yoyo read folders from the file system: the package is installed as
    # files (a wheel, an editable install), never imported from a zip archive.
    try:
        resource = files(package).joinpath(*parts)
    except ModuleNotFoundError:
        raise MissingSQL(
            f"the package {package} is not installed: this installation of reviews-api is "
            "incomplete (reinstall it)"
        ) from None
    if not isinstance(resource, Path):
        raise MissingSQL(f"{package} is not installed as files on disk ({resource!r})")
    return resource
