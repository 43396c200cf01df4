"""`reviews-api`: serve the API, migrate the PostgreSQL schema, load review data.

    reviews-api serve                     configured by the environment (README)
    reviews-api migrate [apply|rollback|list|break-lock] [--database-url URL]
    reviews-api load --source FILE [--database-url URL | --target sqlite:///PATH]
                     [--on-bad-row fail|skip --rejects FILE] [--wait-timeout SECONDS]
    reviews-api index --database-url sqlite:///PATH
    reviews-api catalog [--check] [--output PATH] [--database-url URL]

`migrate`, `load` and `catalog` connect with an owner login: --database-url, defaulting to
MIGRATION_DATABASE_URL; the service's own DATABASE_URL is a read-only login.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from service import __version__
from service.settings import Settings, SettingsError, sqlite_path_from_url

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        command: Command = arguments.run
        return command(arguments)
    except SettingsError as error:
        print(f"reviews-api: configuration error: {error}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"reviews-api {arguments.command}: {error}", file=sys.stderr)
        return 1


class CommandError(Exception):
    """A command failed for a reason its message explains; no traceback for the user."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reviews-api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser(
        "serve", help="serve the HTTP API (configured by the environment)"
    )
    serve_parser.set_defaults(run=_serve)

    migrate_parser = commands.add_parser(
        "migrate", help="apply or roll back the PostgreSQL migrations"
    )
    migrate_parser.add_argument(
        "action", nargs="?", default="apply", choices=["apply", "rollback", "list", "break-lock"]
    )
    migrate_parser.add_argument(
        "--count", type=int, default=None, help="rollback: how many (default: all)"
    )
    migrate_parser.add_argument(
        "--lock-timeout",
        type=float,
        default=None,
        help="seconds to wait for another migration's lock (default: 600)",
    )
    _add_owner_url(migrate_parser)
    migrate_parser.set_defaults(run=_migrate)

    load_parser = commands.add_parser("load", help="replace the review data from a file")
    load_parser.add_argument(
        "--source",
        type=Path,
        required=True,
        help="a SQLite file of the original schema, or an Amazon JSON-lines dump (.json, .json.gz)",
    )
    load_parser.add_argument(
        "--target", help="sqlite:///PATH: write a development SQLite file instead of PostgreSQL"
    )
    load_parser.add_argument(
        "--on-bad-row",
        choices=["fail", "skip"],
        default="fail",
        help="fail: the first bad row stops the load (default); skip: load the good rows and "
        "list the bad ones in --rejects",
    )
    load_parser.add_argument(
        "--rejects",
        type=Path,
        help="with --on-bad-row skip: the file listing each skipped row (JSON lines: source, "
        "line or index, reason)",
    )
    load_parser.add_argument(
        "--wait-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="PostgreSQL: how long to wait for readers (old snapshots before publishing, "
        "locks while publishing) before giving up (default: 300)",
    )
    _add_owner_url(load_parser)
    load_parser.set_defaults(run=_load)

    index_parser = commands.add_parser(
        "index", help="add the development indexes to a SQLite file of the original schema"
    )
    index_parser.add_argument("--database-url", required=True, help="sqlite:///PATH")
    index_parser.set_defaults(run=_index)

    catalog_parser = commands.add_parser(
        "catalog",
        help="rewrite the API catalog (queries/catalog.json) from the functions of a migrated "
        "database, or --check it",
    )
    catalog_parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each difference between the file and the database",
    )
    catalog_parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the catalog file (default: the installed package's queries/catalog.json)",
    )
    _add_owner_url(catalog_parser)
    catalog_parser.set_defaults(run=_catalog)
    return parser


def _add_owner_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="owner login to PostgreSQL (default: $MIGRATION_DATABASE_URL)",
    )


def _owner_url(arguments: argparse.Namespace) -> str:
    url = arguments.database_url or os.environ.get("MIGRATION_DATABASE_URL", "")
    if not url:
        raise CommandError("give --database-url or set MIGRATION_DATABASE_URL (an owner login)")
    return str(url)


def _serve(arguments: argparse.Namespace) -> int:
    """Check the database is there, then run Sanic with `settings.workers` processes."""
    settings = Settings.from_env()
    _prepare_metrics_directory()
    # Imported only now: prometheus_client picks its storage when first imported.
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from service.http.app import create_app
    from service.store.database import load_queries

    if settings.dialect == "sqlite" and not settings.sqlite_path.is_file():
        raise SettingsError(
            f"SQLite database {settings.sqlite_path} does not exist; build it with "
            "`make data` or set DATABASE_URL to an existing file"
        )
    try:
        load_queries(settings.dialect)  # before any worker starts: an incomplete install
    except Exception as error:  # aiosql's and the file system's errors: all fatal
        raise CommandError(f"cannot read the service's SQL queries: {error}") from error
    # Workers are separate processes that rebuild the app from this loader.
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    single = settings.workers == 1
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # ours is structured (service/http/observability.py)
        motd=False,
        single_process=single,
    )
    try:
        if single:
            # One process that owns its socket: on SIGTERM it stops accepting at once, and
            # a signal during start-up is honoured (Sanic's worker manager can miss it).
            Sanic.serve_single(primary=app)
        else:
            Sanic.serve(primary=app, app_loader=loader)
    except Exception as error:  # logged by Sanic with its traceback
        # A start-up that failed (a listener raised) must not look like a clean stop.
        raise CommandError(f"the server stopped on an error: {error}") from error
    return 0


def _prepare_metrics_directory() -> None:
    """Workers share their metrics through files in PROMETHEUS_MULTIPROC_DIR: a fresh
    directory per start (or the operator's, emptied), inherited by every worker."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="reviews-api-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def _migrate(arguments: argparse.Namespace) -> int:
    from service.store import migrations

    url = _owner_url(arguments)
    lock_timeout_s = arguments.lock_timeout or migrations.LOCK_TIMEOUT_S
    try:
        if arguments.action == "list":
            for entry in migrations.status(url):
                print(f"{'applied' if entry.applied else 'pending'}  {entry.migration_id}")
        elif arguments.action == "apply":
            applied = migrations.apply(url, lock_timeout_s)
            print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m}" for m in applied))
        elif arguments.action == "rollback":
            rolled_back = migrations.rollback(url, arguments.count, lock_timeout_s)
            print(
                f"rolled back {len(rolled_back)} migration(s)"
                + "".join(f"\n  {m}" for m in rolled_back)
            )
        else:
            migrations.break_lock(url)
            print("migration lock cleared")
    except migrations.MigrationError as error:
        raise CommandError(str(error)) from error
    return 0


def _load(arguments: argparse.Namespace) -> int:
    from service.load import loader

    if arguments.rejects is not None and arguments.on_bad_row != "skip":
        raise CommandError("--rejects goes with --on-bad-row skip")
    if arguments.on_bad_row == "skip" and arguments.rejects is None:
        raise CommandError("--on-bad-row skip needs --rejects FILE, where the skipped rows go")
    wait_s = arguments.wait_timeout
    if wait_s is not None and not 0 < wait_s <= 86_400:
        raise CommandError("--wait-timeout takes seconds, above 0 and at most 86400")
    options = loader.LoadOptions(
        on_bad_row=arguments.on_bad_row,
        rejects=arguments.rejects,
        wait_s=loader.DEFAULT_WAIT_S if wait_s is None else wait_s,
    )
    try:
        if arguments.target:
            if not arguments.target.startswith("sqlite:///"):
                raise CommandError("--target takes a sqlite:///PATH URL")
            report = loader.load_into_sqlite(
                arguments.source,
                sqlite_path_from_url(arguments.target),
                progress=sys.stderr,
                options=options,
            )
        else:
            report = loader.load_into_postgres(
                arguments.source, _owner_url(arguments), progress=sys.stderr, options=options
            )
    except loader.LoadError as error:
        raise CommandError(str(error)) from error
    print(report.summary())
    return 0


def _index(arguments: argparse.Namespace) -> int:
    from service.load import loader

    if not arguments.database_url.startswith("sqlite:///"):
        raise CommandError("index takes a sqlite:///PATH URL")
    try:
        loader.index_sqlite(sqlite_path_from_url(arguments.database_url))
    except loader.LoadError as error:
        raise CommandError(str(error)) from error
    print("development indexes are in place")
    return 0


def _catalog(arguments: argparse.Namespace) -> int:
    """Introspect the database (docs/api-catalog.md) and write the catalog file, or with
    --check compare it; the builder's warnings go to stderr either way."""
    from service.catalog.build import catalog_json, differences
    from service.catalog.introspect import catalog_of_database
    from service.catalog.model import CatalogError
    from service.store.sql_files import queries_dir

    url = _owner_url(arguments)
    path: Path = arguments.output or queries_dir("catalog.json")
    try:
        catalog, warnings = catalog_of_database(url)
    except CatalogError as error:
        raise CommandError(str(error)) from error
    for warning in warnings:
        print(f"reviews-api catalog: warning: {warning}", file=sys.stderr)
    text = catalog_json(catalog)
    if not arguments.check:
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # never a half-written catalog
        print(f"wrote {path}: {len(catalog['endpoints'])} endpoint(s)")
        return 0
    try:
        written = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error}") from error
    try:
        found = differences(json.loads(written), catalog)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        found = [f"the file is not a catalog ({error.__class__.__name__}: {error})"]
    if not found and written != text:
        found = ["the file is not laid out as `reviews-api catalog` writes it"]
    if not found:
        print("catalog up to date")
        return 0
    print(f"{path} differs from the functions of the database:")
    for difference in found:
        print(f"  {difference}")
    print("rewrite it with `reviews-api catalog` and review the diff (docs/api-catalog.md)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
