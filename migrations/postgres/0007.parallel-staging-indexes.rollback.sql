-- Back to 0006: index_staging_table builds the indexes itself, in one session.
CREATE OR REPLACE PROCEDURE review_admin.index_staging_table()
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    live RECORD;
BEGIN
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

DROP PROCEDURE review_admin.build_staging_index(NAME);
DROP FUNCTION review_admin.staging_indexes();
