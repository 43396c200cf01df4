-- depends: 0006.loader-procedures
-- Load step 3 in parallel: `reviews-api load` builds the staging table's indexes on several
-- sessions at once (one index per session at a time), which on a 2-core server takes about
-- two thirds of the time of building them one after another in one session, even with
-- parallel maintenance workers (the sort's merge and the index writing are serial).
--
-- The work of review_admin.index_staging_table (0006) is split in two: the list of indexes
-- to build, and the build of one of them. index_staging_table itself is kept, now a loop
-- over the same two, for a DBA who wants the one-session build.

CREATE FUNCTION review_admin.staging_indexes()
RETURNS TABLE (index_name NAME)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
    -- Largest first, so that the sessions finish at about the same time.
    SELECT index_class.relname AS index_name
    FROM pg_index AS ix
    INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
    WHERE ix.indrelid = 'public.reviews'::REGCLASS
    ORDER BY index_class.relpages DESC, index_class.relname ASC;
$$;

COMMENT ON FUNCTION review_admin.staging_indexes() IS
'Load step 3: the indexes of public.reviews that review_admin.build_staging_index must build '
'on the staging table, largest first.';

CREATE PROCEDURE review_admin.build_staging_index(index_name NAME)
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    live RECORD;
BEGIN
    -- The live index's definition, named staging_<name>; a constraint (the primary key) is
    -- re-attached to its index. Index tuning done on public.reviews by a DBA is therefore
    -- kept across loads.
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

CREATE OR REPLACE PROCEDURE review_admin.index_staging_table()
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    staged RECORD;
BEGIN
    FOR staged IN SELECT s.index_name FROM review_admin.staging_indexes() AS s LOOP
        CALL review_admin.build_staging_index(staged.index_name);
    END LOOP;
END
$$;

COMMENT ON PROCEDURE review_admin.index_staging_table () IS
'Load step 3 in one session: build on the staging table every index public.reviews has, '
'named staging_* (review_admin.build_staging_index for each of review_admin.staging_indexes).';
