"""The API catalog: what the SQL functions declare (service/catalog/build.py, run by
`reviews-api catalog`), and the checked-in file the routes are generated from."""

from __future__ import annotations

from pathlib import Path

from service.catalog.model import Catalog
from service.store.sql_files import queries_dir


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path` (API_CATALOG), by default the one installed with the package."""
    return Catalog.read(path or queries_dir("catalog.json"))
