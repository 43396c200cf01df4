-- Back to 0007: the advisory load lock, publish with one 30 s wait and the drop inside the
-- swap, no carry-over of the DBA's settings, no default privileges.
DROP PROCEDURE review_admin.drop_retired_table();
DROP TABLE IF EXISTS review_admin.reviews_retired;

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

    PERFORM set_config('lock_timeout', '30s', true);
    LOCK TABLE review_api.reviews IN ACCESS EXCLUSIVE MODE;
    LOCK TABLE public.reviews IN ACCESS EXCLUSIVE MODE;

    view_definition := pg_get_viewdef('review_api.reviews'::REGCLASS);
    table_comment := obj_description('public.reviews'::REGCLASS, 'pg_class');

    ALTER TABLE public.reviews RENAME TO reviews_retired;
    ALTER TABLE review_admin.reviews_staging SET SCHEMA public;
    ALTER TABLE public.reviews_staging RENAME TO reviews;
    EXECUTE 'CREATE OR REPLACE VIEW review_api.reviews AS ' || view_definition;
    DROP TABLE public.reviews_retired;

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
    PERFORM pg_notify('reviews_data_loaded', new_load_id::TEXT);
END
$$;

COMMENT ON PROCEDURE review_admin.publish_staging_table (TEXT, TEXT, BIGINT, TIMESTAMPTZ) IS
'Load step 5, one short transaction: check the staged row count, swap the staging table in '
'as public.reviews, re-point review_api.reviews, record the load in data_loads and '
'NOTIFY reviews_data_loaded with the new load_id. Arguments: source_name and '
'source_checksum (SHA-256) of the imported file, expected_rows read from it, started_at.';

CREATE OR REPLACE PROCEDURE review_admin.build_staging_index(index_name NAME)
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    live RECORD;
BEGIN
    SELECT
        pg_get_indexdef(ix.indexrelid) AS definition,
        con.conname AS constraint_name,
        con.contype AS constraint_type
    INTO live
    FROM pg_index AS ix
    INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
    LEFT JOIN pg_constraint AS con
        ON ix.indexrelid = con.conindid AND ix.indrelid = con.conrelid
    WHERE
        ix.indrelid = 'public.reviews'::REGCLASS
        AND index_class.relname = build_staging_index.index_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'public.reviews has no index named %', build_staging_index.index_name;
    END IF;

    EXECUTE regexp_replace(
        live.definition,
        '^CREATE (UNIQUE )?INDEX \S+ ON public\.reviews ',
        'CREATE \1INDEX ' || quote_ident('staging_' || build_staging_index.index_name)
        || ' ON review_admin.reviews_staging '
    );
    IF live.constraint_type = 'p' THEN
        EXECUTE format(
            'ALTER TABLE review_admin.reviews_staging '
            'ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',
            'staging_' || live.constraint_name, 'staging_' || build_staging_index.index_name
        );
    ELSIF live.constraint_type = 'u' THEN
        EXECUTE format(
            'ALTER TABLE review_admin.reviews_staging '
            'ADD CONSTRAINT %I UNIQUE USING INDEX %I',
            'staging_' || live.constraint_name, 'staging_' || build_staging_index.index_name
        );
    END IF;
END
$$;

COMMENT ON PROCEDURE review_admin.build_staging_index (NAME) IS
'Load step 3, one index: build on the staging table the index index_name of public.reviews, '
'named staging_<index_name> (with its constraint, for a primary key or unique index). '
'Sessions may build different indexes of the staging table at the same time.';

CREATE OR REPLACE PROCEDURE review_admin.create_staging_table()
LANGUAGE plpgsql
AS $$
BEGIN
    DROP TABLE IF EXISTS review_admin.reviews_staging;
    CREATE TABLE review_admin.reviews_staging (
        LIKE public.reviews INCLUDING ALL EXCLUDING INDEXES
    );
END
$$;

COMMENT ON PROCEDURE review_admin.create_staging_table () IS
'Load step 1: (re)create review_admin.reviews_staging, an empty copy of public.reviews '
'without indexes.';

DROP FUNCTION review_admin.option_list(TEXT[], TEXT);
DROP FUNCTION review_admin.load_blockers();
DROP TABLE review_admin.load_lock;

ALTER DEFAULT PRIVILEGES IN SCHEMA review_api REVOKE EXECUTE ON FUNCTIONS FROM reviews_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA review_api REVOKE SELECT ON TABLES FROM reviews_reader;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;  -- noqa: CP02
