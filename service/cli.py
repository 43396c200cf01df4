"""`reviews-api` command line: `serve` (more subcommands arrive with their issues)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from .app import create_app
from .settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reviews-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API (configured by the environment)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"reviews-api: configuration error: {error}", file=sys.stderr)
        return 2
    if arguments.command == "serve":
        return serve(settings)
    return 2  # argparse already rejected anything else


def serve(settings: Settings) -> int:
    """Check the database is there, then run Sanic with `settings.workers` processes."""
    if settings.dialect == "sqlite" and not settings.sqlite_path.is_file():
        print(
            f"reviews-api: SQLite database {settings.sqlite_path} does not exist; build it "
            "with `make data` or set DATABASE_URL to an existing file",
            file=sys.stderr,
        )
        return 2
    # Workers are separate processes that rebuild the app from this loader.
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        motd=False,
        single_process=settings.workers == 1,
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
