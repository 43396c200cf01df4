-- depends: 0005.reviews-reader-role
-- How `reviews-api load` replaces the review data atomically, as procedures a DBA can read
-- and tune (the loader only calls them, see queries/loader/postgres/):
--
--   1. CALL review_admin.create_staging_table();   an empty copy of public.reviews
--   2. COPY rows into review_admin.reviews_staging (from Python, in batches)
--   3. CALL review_admin.index_staging_table();    the live table's indexes, built once
--   4. VACUUM (ANALYZE) review_admin.reviews_staging;   visibility map and statistics, so
--      index-only scans work from the first query
--   5. CALL review_admin.publish_staging_table(...);    one short transaction: swap the
--      tables, re-point the view, record the load, NOTIFY listeners
--
-- Readers keep getting the previous data until step 5 commits; any failure before that
-- (bad row, killed process, lost connection) leaves the live table untouched, and the next
-- load drops the leftover staging table.

CREATE SCHEMA review_admin;
COMMENT ON SCHEMA review_admin IS
'reviews-api loading machinery: staging table and procedures. Owner only, not for readers.';

CREATE PROCEDURE review_admin.create_staging_table()
LANGUAGE plpgsql
AS $$
BEGIN
    DROP TABLE IF EXISTS review_admin.reviews_staging;
    -- Columns, defaults, generated columns, CHECK constraints and comments, but no index:
    -- building indexes once after the copy is several times faster than maintaining them.
    CREATE TABLE review_admin.reviews_staging (
        LIKE public.reviews INCLUDING ALL EXCLUDING INDEXES
    );
END
$$;

COMMENT ON PROCEDURE review_admin.create_staging_table () IS
'Load step 1: (re)create review_admin.reviews_staging, an empty copy of public.reviews '
'without indexes.';

CREATE PROCEDURE review_admin.index_staging_table()
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    live RECORD;
BEGIN
    -- Every index of the live table, with the same definition, named staging_<name>; a
    -- constraint (the primary key) is re-attached to its index. Index tuning done on
    -- public.reviews by a DBA is therefore kept across loads.
    FOR live IN
        SELECT
            index_class.relname AS index_name,
            pg_get_indexdef(ix.indexrelid) AS definition,
            con.conname AS constraint_name,
            con.contype AS constraint_type
        FROM pg_index AS ix
        INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
        LEFT JOIN pg_constraint AS con
            ON ix.indexrelid = con.conindid AND ix.indrelid = con.conrelid
        WHERE ix.indrelid = 'public.reviews'::REGCLASS
    LOOP
        EXECUTE regexp_replace(
            live.definition,
            '^CREATE (UNIQUE )?INDEX \S+ ON public\.reviews ',
            'CREATE \1INDEX ' || quote_ident('staging_' || live.index_name)
            || ' ON review_admin.reviews_staging '
        );
        IF live.constraint_type = 'p' THEN
            EXECUTE format(
                'ALTER TABLE review_admin.reviews_staging '
                'ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',
                'staging_' || live.constraint_name, 'staging_' || live.index_name
            );
        ELSIF live.constraint_type = 'u' THEN
            EXECUTE format(
                'ALTER TABLE review_admin.reviews_staging '
                'ADD CONSTRAINT %I UNIQUE USING INDEX %I',
                'staging_' || live.constraint_name, 'staging_' || live.index_name
            );
        END IF;
    END LOOP;
END
$$;

COMMENT ON PROCEDURE review_admin.index_staging_table () IS
'Load step 3: build on the staging table every index public.reviews has, named staging_*.';

CREATE PROCEDURE review_admin.publish_staging_table(
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
    view_definition TEXT;
    table_comment TEXT;
    staged RECORD;
    new_load_id BIGINT;
BEGIN
    SELECT count(*) INTO staged_rows FROM review_admin.reviews_staging;
    IF staged_rows <> expected_rows THEN
        RAISE EXCEPTION 'staging table holds % rows but the source had %',
            staged_rows, expected_rows;
    END IF;

    -- A long report holding the old table must not stall the switch forever: give up (and
    -- keep the old data) after 30 s.
    PERFORM set_config('lock_timeout', '30s', true);
    -- Lock the view before the table, the order in which readers take them: a reader and
    -- the switch can then never deadlock, and readers simply wait the few milliseconds.
    LOCK TABLE review_api.reviews IN ACCESS EXCLUSIVE MODE;
    LOCK TABLE public.reviews IN ACCESS EXCLUSIVE MODE;

    view_definition := pg_get_viewdef('review_api.reviews'::REGCLASS);
    table_comment := obj_description('public.reviews'::REGCLASS, 'pg_class');

    ALTER TABLE public.reviews RENAME TO reviews_retired;
    ALTER TABLE review_admin.reviews_staging SET SCHEMA public;
    ALTER TABLE public.reviews_staging RENAME TO reviews;
    -- A view is bound to a table's identity, not its name: re-point it (grants and column
    -- comments survive CREATE OR REPLACE).
    EXECUTE 'CREATE OR REPLACE VIEW review_api.reviews AS ' || view_definition;
    DROP TABLE public.reviews_retired;

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
    EXECUTE format('COMMENT ON TABLE public.reviews IS %L', table_comment);

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
'Load step 5, one short transaction: check the staged row count, swap the staging table in '
'as public.reviews, re-point review_api.reviews, record the load in data_loads and '
'NOTIFY reviews_data_loaded with the new load_id. Arguments: source_name and '
'source_checksum (SHA-256) of the imported file, expected_rows read from it, started_at.';
