"""reviews-api: read-only HTTP API of aggregated review data, SQL-first."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reviews-api")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
