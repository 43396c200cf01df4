"""What a load keeps of a DBA's tuning of public.reviews and review_api.reviews (README,
"What a load keeps"), and what it refuses, through the real CLI.

Kept: the table's and the columns' comments, storage parameters (of the table and of its
TOAST table), per-column statistics targets and n_distinct, grants on the table and on
its columns, every index with its definition, storage parameters and comment, and the
view's options, grants and comments. Refused at the start of a load (naming it): anything
that depends on public.reviews and cannot follow it to the new table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres_server import ThrowawayDatabase
from psycopg import sql
from review_rows import Review, generate_reviews, write_sqlite
from test_loader import cli_fails, data_loads, load, query, raw_row, stored_rows

TUNING = [
    "COMMENT ON TABLE public.reviews IS 'tuned by the DBA'",
    "COMMENT ON COLUMN public.reviews.\"summary\" IS 'headline, as tuned'",
    "ALTER TABLE public.reviews SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.05)",
    "ALTER TABLE public.reviews SET (toast.autovacuum_enabled = false)",
    'ALTER TABLE public.reviews ALTER COLUMN "productID" SET STATISTICS 700',
    'ALTER TABLE public.reviews ALTER COLUMN "reviewerID" SET (n_distinct = -0.25)',
    "ALTER INDEX public.reviews_product_date_idx SET (fillfactor = 80)",
    "COMMENT ON INDEX public.reviews_product_date_idx IS 'product summaries'",
    'CREATE INDEX reviews_summary_idx ON public.reviews ("summary") WITH (fillfactor = 70)',
    "COMMENT ON INDEX public.reviews_summary_idx IS 'added by the DBA'",
    "GRANT SELECT ON public.reviews TO {reader}",
    'GRANT SELECT ("productID", "overall") ON public.reviews TO PUBLIC',
    "ALTER VIEW review_api.reviews SET (security_barrier = true)",
    "COMMENT ON COLUMN review_api.reviews.rating IS 'stars, as tuned'",
]

# Everything TUNING sets, read back from the catalogs.
CATALOG = """
SELECT 'table comment', obj_description('public.reviews'::regclass, 'pg_class')
UNION ALL SELECT 'column comment', col_description('public.reviews'::regclass, 9)
UNION ALL SELECT 'reloptions', array_to_string(reloptions, ',')
    FROM pg_class WHERE oid = 'public.reviews'::regclass
UNION ALL SELECT 'toast reloptions', array_to_string(t.reloptions, ',')
    FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
    WHERE c.oid = 'public.reviews'::regclass
UNION ALL SELECT 'statistics ' || attname, attstattarget::text
    FROM pg_attribute WHERE attrelid = 'public.reviews'::regclass AND attnum > 0
UNION ALL SELECT 'options ' || attname, array_to_string(array(
        SELECT o FROM unnest(attoptions) AS o
        WHERE split_part(o, '=', 1) IN ('n_distinct', 'n_distinct_inherited')), ',')
    FROM pg_attribute WHERE attrelid = 'public.reviews'::regclass AND attnum > 0
UNION ALL SELECT 'index ' || i.relname,
        pg_get_indexdef(i.oid) || ' / ' || coalesce(obj_description(i.oid, 'pg_class'), '-')
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = 'public.reviews'::regclass
UNION ALL SELECT 'table grants', array_to_string(relacl, ',')
    FROM pg_class WHERE oid = 'public.reviews'::regclass
UNION ALL SELECT 'column grants ' || attname, array_to_string(attacl, ',')
    FROM pg_attribute WHERE attrelid = 'public.reviews'::regclass AND attnum > 0
UNION ALL SELECT 'view options', array_to_string(reloptions, ',')
    FROM pg_class WHERE oid = 'review_api.reviews'::regclass
UNION ALL SELECT 'view grants', array_to_string(relacl, ',')
    FROM pg_class WHERE oid = 'review_api.reviews'::regclass
UNION ALL SELECT 'view column comment', col_description('review_api.reviews'::regclass, 5)
ORDER BY 1
"""


def catalog(database: ThrowawayDatabase) -> dict[str, Any]:
    return dict(query(database.owner_url, CATALOG))


@pytest.fixture
def database(make_database: Callable[[], ThrowawayDatabase]) -> ThrowawayDatabase:
    return make_database()


@pytest.fixture
def reviews() -> list[Review]:
    return generate_reviews(count=200, seed=4)


@pytest.fixture
def source(reviews: list[Review], tmp_path: Path) -> Path:
    return write_sqlite(tmp_path / "reviews.sqlite", reviews)


def tune(database: ThrowawayDatabase, statements: list[str]) -> None:
    with psycopg.connect(database.owner_url, autocommit=True) as owner:
        for statement in statements:
            owner.execute(statement.format(reader=f'"{database.reader_role}"'))


def test_a_load_keeps_what_the_dba_tuned(
    database: ThrowawayDatabase, source: Path, reviews: list[Review]
) -> None:
    load(source, database)
    tune(database, TUNING)
    tuned = catalog(database)
    assert tuned["statistics productID"] == "700"
    assert "security_barrier=true" in tuned["view options"]
    assert "(fillfactor='80')" in tuned["index reviews_product_date_idx"]

    load(source, database)

    assert catalog(database) == tuned
    assert stored_rows(database) == [raw_row(r) for r in reviews]
    # The grants work, not only read back: the reader role reads the raw table now.
    with psycopg.connect(database.reader_url, autocommit=True) as reader:
        [(count,)] = reader.execute("SELECT count(*) FROM public.reviews").fetchall()
    assert count == len(reviews)
    # The column settings were in force when the new rows were analysed.
    [(n_distinct,)] = query(
        database.owner_url,
        "SELECT n_distinct FROM pg_stats WHERE schemaname = 'public' AND tablename = 'reviews'"
        " AND attname = 'reviewerID'",
    )
    assert n_distinct == -0.25


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        (
            'CREATE VIEW public.dba_products AS SELECT DISTINCT "productID" FROM public.reviews',
            "view public.dba_products",
        ),
        (
            "CREATE MATERIALIZED VIEW public.dba_counts AS SELECT count(*) FROM public.reviews",
            "materialized view public.dba_counts",
        ),
        (
            "CREATE TABLE public.dba_notes (review BIGINT REFERENCES public.reviews)",
            "foreign key dba_notes_review_fkey on public.dba_notes",
        ),
        ("ALTER TABLE public.reviews ENABLE ROW LEVEL SECURITY", "row level security"),
        # The rollups are replaced in the same swap (migration 0014).
        (
            "CREATE VIEW public.dba_leaders AS SELECT product_id FROM public.product_rollups",
            "view public.dba_leaders (on public.product_rollups)",
        ),
        (
            "ALTER TABLE public.reviewer_rollups ENABLE ROW LEVEL SECURITY",
            "row level security on public.reviewer_rollups",
        ),
    ],
)
def test_a_load_refuses_at_once_what_it_cannot_carry_over(
    database: ThrowawayDatabase,
    source: Path,
    reviews: list[Review],
    statement: str,
    named: str,
) -> None:
    load(source, database)
    loads_before = data_loads(database)
    tune(database, [statement])

    message = cli_fails("load", "--source", str(source), "--database-url", database.owner_url)

    assert "creating the staging table failed" in message
    assert "public.reviews has dependent objects a load cannot carry over" in message
    assert named in message
    assert "the previous data is still live" in message
    assert data_loads(database) == loads_before
    [(staging,)] = query(database.owner_url, "SELECT to_regclass('review_admin.reviews_staging')")
    assert staging is None  # refused before anything was copied


def test_the_publish_refuses_a_dependent_view_created_during_the_load(
    database: ThrowawayDatabase, source: Path
) -> None:
    """The check under the publish's locks: a view created after the load started."""
    load(source, database)
    loads_before = data_loads(database)
    with psycopg.connect(database.owner_url, autocommit=True) as owner:
        owner.execute("CALL review_admin.create_staging_table()")
        owner.execute("CALL review_admin.stage_rollups('product')")  # migration 0012
        owner.execute("CALL review_admin.stage_rollups('reviewer')")
        owner.execute(
            sql.SQL("CREATE VIEW public.late_view AS SELECT count(*) FROM public.reviews")
        )
        with pytest.raises(psycopg.errors.RaiseException, match=r"view public\.late_view"):
            owner.execute("CALL review_admin.publish_staging_table('x', 'y', 0, now())")
    assert data_loads(database) == loads_before
