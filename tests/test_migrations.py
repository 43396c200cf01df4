"""The PostgreSQL migrations: apply all, roll back all, apply again, through the CLI; and
a lock left by a killed migration is reported with the way out."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import psycopg
from conftest import BIN, run_cli
from postgres_server import ThrowawayDatabase

MIGRATION_IDS = [
    "0001.reviews-table",
    "0002.reviews-indexes",
    "0003.review-api-views",
    "0004.summary-functions",
    "0005.reviews-reader-role",
    "0006.loader-procedures",
    "0007.parallel-staging-indexes",
    "0008.safe-publish",
    "0009.api-annotations",
    "0010.monthly-trends",
    "0011.batches-reviews-dataset",
    "0012.rankings",
    "0013.dataset-from-rollups",
    "0014.load-blockers-rollups",
]


def listed(owner_url: str) -> list[str]:
    return run_cli("migrate", "list", "--database-url", owner_url).stdout.splitlines()


def objects(owner_url: str) -> set[str]:
    with psycopg.connect(owner_url) as connection:
        rows = connection.execute(
            """
            SELECT n.nspname || '.' || c.relname
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('public', 'review_api', 'review_admin')
              AND c.relname NOT LIKE '%yoyo%'
            UNION ALL
            SELECT n.nspname || '.' || p.proname
            FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('review_api', 'review_admin')
            """
        ).fetchall()
    return {row[0] for row in rows}


def test_apply_rollback_apply(make_database: Callable[[], ThrowawayDatabase]) -> None:
    database = make_database()
    assert listed(database.owner_url) == [f"applied  {m}" for m in MIGRATION_IDS]
    migrated = objects(database.owner_url)
    assert {"public.reviews", "review_api.reviews", "review_api.product_review_summary"} <= migrated

    rolled_back = run_cli("migrate", "rollback", "--database-url", database.owner_url).stdout
    assert f"rolled back {len(MIGRATION_IDS)} migration(s)" in rolled_back
    assert objects(database.owner_url) == set()
    assert listed(database.owner_url) == [f"pending  {m}" for m in MIGRATION_IDS]

    run_cli("migrate", "apply", "--database-url", database.owner_url)
    assert objects(database.owner_url) == migrated
    again = run_cli("migrate", "--database-url", database.owner_url).stdout
    assert "applied 0 migration(s)" in again


def test_stale_lock_is_reported_with_the_way_out(
    make_database: Callable[[], ThrowawayDatabase],
) -> None:
    database = make_database()
    with psycopg.connect(database.owner_url) as connection:
        # What a migration killed mid-way leaves behind.
        connection.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    result = subprocess.run(
        [
            str(BIN / "reviews-api"),
            "migrate",
            "--lock-timeout",
            "1",
            "--database-url",
            database.owner_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Process 4242 has locked this database" in result.stderr
    assert "reviews-api migrate break-lock" in result.stderr
    run_cli("migrate", "break-lock", "--database-url", database.owner_url)
    assert (
        "applied 0 migration(s)" in run_cli("migrate", "--database-url", database.owner_url).stdout
    )


def test_migrate_needs_an_owner_url() -> None:
    result = subprocess.run(
        [str(BIN / "reviews-api"), "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "MIGRATION_DATABASE_URL" in result.stderr
