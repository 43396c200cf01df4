-- Undo 0012: no rankings (their routes go with them), no rollups; the load procedures of
-- 0008 again.
DROP FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
);
DROP FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
);
DROP FUNCTION review_api.rollup_period(DATE, DATE);
DROP TYPE review_api.sort_order;  -- noqa: CP05
DROP TYPE review_api.ranking_sort;  -- noqa: CP05
DROP PROCEDURE review_admin.build_staging_rollup_index(NAME);
DROP FUNCTION review_admin.staging_rollup_indexes();
DROP PROCEDURE review_admin.stage_rollups(TEXT);
DROP PROCEDURE review_admin.copy_table_settings(REGCLASS, REGCLASS);
DROP PROCEDURE review_admin.fill_rollups(TEXT, REGCLASS, REGCLASS);
DROP VIEW review_api.reviewer_rollups;
DROP VIEW review_api.product_rollups;
DROP TABLE public.reviewer_rollups;
DROP TABLE public.product_rollups;
DROP TABLE IF EXISTS review_admin.product_rollups_staging;
DROP TABLE IF EXISTS review_admin.reviewer_rollups_staging;
DROP TABLE IF EXISTS review_admin.product_rollups_retired;
DROP TABLE IF EXISTS review_admin.reviewer_rollups_retired;

-- As 0008.safe-publish.sql defines them.
CREATE OR REPLACE PROCEDURE review_admin.publish_staging_table(
    source_name TEXT,
    source_checksum TEXT,
    expected_rows BIGINT,
    started_at TIMESTAMPTZ
)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    staged_rows BIGINT;
    blockers TEXT;
    view_definition TEXT;
    view_options TEXT[];
    staged RECORD;
    new_load_id BIGINT;
BEGIN
    SELECT count(*) INTO staged_rows FROM review_admin.reviews_staging;
    IF staged_rows <> expected_rows THEN
        RAISE EXCEPTION 'staging table holds % rows but the source had %',
            staged_rows, expected_rows;
    END IF;

    -- Queries that arrive while the swap waits for its locks queue behind it: wait 200 ms
    -- at most (the loader retries later), and less than deadlock_timeout, so that a reader
    -- holding one of these tables and asking for another never deadlocks with the swap:
    -- the swap gives up first. One statement takes every lock the swap needs.
    PERFORM set_config(
        'lock_timeout',
        least(
            200,
            extract(EPOCH FROM current_setting('deadlock_timeout')::INTERVAL) * 1000 / 2
        )::INTEGER || 'ms',
        true
    );
    LOCK TABLE review_api.reviews, public.reviews, review_admin.reviews_staging
    IN ACCESS EXCLUSIVE MODE;

    -- Created since the load started: refuse rather than break it.
    SELECT string_agg(b.description, ', ') INTO blockers FROM review_admin.load_blockers() AS b;
    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION 'public.reviews has dependent objects a load cannot carry over: %',
            blockers
            USING HINT = 'drop them, or build them on the view review_api.reviews instead';
    END IF;

    view_definition := pg_get_viewdef('review_api.reviews'::REGCLASS);
    SELECT c.reloptions INTO view_options
    FROM pg_class AS c
    WHERE c.oid = 'review_api.reviews'::REGCLASS;

    ALTER TABLE public.reviews RENAME TO reviews_retired;
    ALTER TABLE public.reviews_retired SET SCHEMA review_admin;
    ALTER TABLE review_admin.reviews_staging SET SCHEMA public;
    ALTER TABLE public.reviews_staging RENAME TO reviews;
    -- A view is bound to a table's identity, not its name: re-point it. Grants and
    -- comments survive CREATE OR REPLACE; its options are given again.
    EXECUTE 'CREATE OR REPLACE VIEW review_api.reviews'
    || coalesce(' WITH (' || array_to_string(view_options, ', ') || ')', '')
    || ' AS ' || view_definition;

    -- Give indexes and constraints back the names the migrations and DBAs know.
    FOR staged IN
        SELECT
            index_class.relname AS index_name,
            con.conname AS constraint_name
        FROM pg_index AS ix
        INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
        LEFT JOIN pg_constraint AS con
            ON ix.indexrelid = con.conindid AND ix.indrelid = con.conrelid
        WHERE ix.indrelid = 'public.reviews'::REGCLASS
    LOOP
        IF staged.constraint_name IS NOT NULL THEN
            EXECUTE format(
                'ALTER TABLE public.reviews RENAME CONSTRAINT %I TO %I',
                staged.constraint_name, substr(staged.constraint_name, 9)
            );
        ELSE
            EXECUTE format(
                'ALTER INDEX public.%I RENAME TO %I',
                staged.index_name, substr(staged.index_name, 9)
            );
        END IF;
    END LOOP;

    INSERT INTO public.data_loads (source_name, source_checksum, row_count, started_at)
    VALUES (
        publish_staging_table.source_name,
        publish_staging_table.source_checksum,
        staged_rows,
        publish_staging_table.started_at
    )
    RETURNING load_id INTO new_load_id;
    -- Delivered at commit: API workers drop their caches and take the new data version.
    PERFORM pg_notify('reviews_data_loaded', new_load_id::TEXT);
END
$$;

COMMENT ON PROCEDURE review_admin.publish_staging_table (TEXT, TEXT, BIGINT, TIMESTAMPTZ) IS
'Load step 6, one short transaction: check the staged row count, lock (waiting at most '
'200 ms: lock_not_available, retried by the loader) review_api.reviews, public.reviews and the '
'staging table in one statement, swap the staging table in as public.reviews (the old one '
'moves to review_admin.reviews_retired), re-point review_api.reviews with its options, record '
'the load in data_loads and NOTIFY reviews_data_loaded with the new load_id. Arguments: '
'source_name and source_checksum (SHA-256) of the imported file, expected_rows read from it, '
'started_at.';

CREATE OR REPLACE PROCEDURE review_admin.drop_retired_table()
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    -- Nobody can reach the retired table by name any more; wait for a straggler briefly.
    PERFORM set_config('lock_timeout', '5s', true);
    DROP TABLE IF EXISTS review_admin.reviews_retired;
END
$$;

COMMENT ON PROCEDURE review_admin.drop_retired_table () IS
'Load step 7, after the publish committed: drop the previous data '
'(review_admin.reviews_retired). The next load drops it if this step did not.';
