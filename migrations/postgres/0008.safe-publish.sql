-- depends: 0007.parallel-staging-indexes
-- Loads that never stall the API for long, never publish by accident, and keep what a DBA
-- tuned on public.reviews (README, "Production on PostgreSQL", and issue 11):
--
-- * review_admin.load_lock: the lock that makes loads take turns. Only the owner can lock
--   it (readers have no right on schema review_admin), unlike an advisory lock, which any
--   role that can connect may take. The loader holds it in a transaction of its own that
--   does nothing else, so it pins no snapshot (VACUUM can still mark the staged rows
--   all-visible).
-- * review_admin.load_blockers(): what depends on public.reviews that a load cannot carry
--   over (another view on it, a foreign key, a trigger, a policy). A load refuses to start,
--   and to publish, while one exists, naming it.
-- * create_staging_table() now carries over the live table's comment, storage parameters
--   (reloptions), per-column statistics targets and options (n_distinct) and grants, before
--   the rows are copied and analysed; build_staging_index() carries over index comments.
-- * publish_staging_table() takes every lock the swap needs in one LOCK statement, waiting
--   at most lock_timeout (200 ms, and below deadlock_timeout), so that queries queued
--   behind it wait no longer than that; the loader retries with back-off. The view keeps
--   its options (security_barrier, security_invoker, check_option). The retired table is
--   moved to review_admin and dropped after the commit (drop_retired_table()), not while
--   readers wait.
-- * Default privileges: what later migrations add to schema review_api is readable by
--   reviews_reader without new grants, and no function is executable by PUBLIC.

CREATE TABLE review_admin.load_lock ();

COMMENT ON TABLE review_admin.load_lock IS
'Locked (EXCLUSIVE) for the whole of a `reviews-api load` by a session of the loader that '
'does nothing else: one load at a time. Never holds rows.';

CREATE FUNCTION review_admin.load_blockers()
RETURNS TABLE (description TEXT)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
    -- Each would follow the retired table (objects bind to a table's identity, not its
    -- name) or be lost with it, so a load refuses them rather than break them.
    SELECT pg_describe_object('pg_class'::REGCLASS, r.ev_class, 0) AS description
    FROM pg_depend AS d
    INNER JOIN pg_rewrite AS r ON d.objid = r.oid
    WHERE
        d.classid = 'pg_rewrite'::REGCLASS
        AND d.refclassid = 'pg_class'::REGCLASS
        AND d.refobjid = 'public.reviews'::REGCLASS
        AND r.ev_class NOT IN ('review_api.reviews'::REGCLASS, 'public.reviews'::REGCLASS)
    UNION
    SELECT pg_describe_object(d.classid, d.objid, 0) AS description
    FROM pg_depend AS d
    WHERE
        d.classid = 'pg_proc'::REGCLASS
        AND d.refclassid = 'pg_class'::REGCLASS
        AND d.refobjid = 'public.reviews'::REGCLASS
    UNION
    SELECT format('foreign key %I on %s', c.conname, c.conrelid::REGCLASS) AS description
    FROM pg_constraint AS c
    WHERE
        c.contype = 'f'
        AND 'public.reviews'::REGCLASS IN (c.conrelid, c.confrelid)
    UNION
    SELECT format('trigger %I on public.reviews', t.tgname) AS description
    FROM pg_trigger AS t
    WHERE t.tgrelid = 'public.reviews'::REGCLASS AND NOT t.tgisinternal
    UNION
    SELECT format('rule %I on public.reviews', r.rulename) AS description
    FROM pg_rewrite AS r
    WHERE r.ev_class = 'public.reviews'::REGCLASS
    UNION
    SELECT format('policy %I on public.reviews', p.polname) AS description
    FROM pg_policy AS p
    WHERE p.polrelid = 'public.reviews'::REGCLASS
    UNION
    SELECT 'row level security on public.reviews' AS description
    FROM pg_class AS c
    WHERE c.oid = 'public.reviews'::REGCLASS AND c.relrowsecurity
    ORDER BY description;
$$;

COMMENT ON FUNCTION review_admin.load_blockers() IS
'What depends on public.reviews that a load cannot carry over to the new table: other views '
'and materialized views, functions with SQL-standard bodies, foreign keys, triggers, rules, '
'policies and row level security. A load refuses to start (and to publish) while any exists.';

CREATE FUNCTION review_admin.option_list(options TEXT[], prefix TEXT)
RETURNS TEXT
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
    -- {fillfactor=90,autovacuum_enabled=false} as fillfactor = '90', autovacuum_enabled =
    -- 'false', for ALTER ... SET (...); every value quoted as a literal.
    SELECT string_agg(
        option_list.prefix || split_part(o.setting, '=', 1) || ' = '
        || quote_literal(substr(o.setting, strpos(o.setting, '=') + 1)),
        ', '
        ORDER BY o.position
    )
    FROM unnest(option_list.options) WITH ORDINALITY AS o (setting, position);
$$;

COMMENT ON FUNCTION review_admin.option_list(TEXT[], TEXT) IS
'Storage parameters as pg_class.reloptions holds them, written for ALTER ... SET (...), each '
'name prefixed with prefix (''toast.'' for the TOAST table''s).';

CREATE OR REPLACE PROCEDURE review_admin.create_staging_table()
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    blockers TEXT;
    live RECORD;
    setting RECORD;
BEGIN
    SELECT string_agg(b.description, ', ') INTO blockers FROM review_admin.load_blockers() AS b;
    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION 'public.reviews has dependent objects a load cannot carry over: %',
            blockers
            USING HINT = 'drop them, or build them on the view review_api.reviews instead';
    END IF;
    DROP TABLE IF EXISTS review_admin.reviews_staging;
    DROP TABLE IF EXISTS review_admin.reviews_retired;  -- a load killed after publishing
    -- Columns, defaults, generated columns, CHECK constraints, column comments, storage,
    -- compression and extended statistics, but no index: building indexes once after the
    -- copy is several times faster than maintaining them.
    CREATE TABLE review_admin.reviews_staging (
        LIKE public.reviews INCLUDING ALL EXCLUDING INDEXES
    );

    -- What LIKE leaves behind, set before the copy (fillfactor) and the ANALYZE (targets).
    SELECT
        c.reloptions AS table_options,
        t.reloptions AS toast_options,
        obj_description(c.oid, 'pg_class') AS table_comment
    INTO live
    FROM pg_class AS c
    LEFT JOIN pg_class AS t ON c.reltoastrelid = t.oid
    WHERE c.oid = 'public.reviews'::REGCLASS;
    EXECUTE format(
        'COMMENT ON TABLE review_admin.reviews_staging IS %L', live.table_comment
    );
    IF live.table_options IS NOT NULL THEN
        EXECUTE format(
            'ALTER TABLE review_admin.reviews_staging SET (%s)',
            review_admin.option_list(live.table_options, '')
        );
    END IF;
    IF live.toast_options IS NOT NULL THEN
        EXECUTE format(
            'ALTER TABLE review_admin.reviews_staging SET (%s)',
            review_admin.option_list(live.toast_options, 'toast.')
        );
    END IF;
    FOR setting IN
        SELECT
            a.attname,
            a.attstattarget,
            -- The options ALTER COLUMN ... SET documents; nothing a server build adds.
            nullif(array(
                SELECT o.setting
                FROM unnest(a.attoptions) AS o (setting)
                WHERE split_part(o.setting, '=', 1) IN ('n_distinct', 'n_distinct_inherited')
            ), '{}') AS attoptions
        FROM pg_attribute AS a
        WHERE a.attrelid = 'public.reviews'::REGCLASS AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        IF setting.attstattarget >= 0 THEN  -- -1 is the server's default_statistics_target
            EXECUTE format(
                'ALTER TABLE review_admin.reviews_staging ALTER COLUMN %I SET STATISTICS %s',
                setting.attname, setting.attstattarget
            );
        END IF;
        IF setting.attoptions IS NOT NULL THEN  -- n_distinct, n_distinct_inherited
            EXECUTE format(
                'ALTER TABLE review_admin.reviews_staging ALTER COLUMN %I SET (%s)',
                setting.attname, review_admin.option_list(setting.attoptions, '')
            );
        END IF;
    END LOOP;

    -- Grants on the table and its columns (the owner's own rights come with ownership).
    FOR setting IN
        SELECT
            acl.privilege_type,
            acl.grantee,
            acl.is_grantable,
            NULL::NAME AS column_name
        FROM pg_class AS c
        CROSS JOIN LATERAL aclexplode(c.relacl) AS acl
        WHERE c.oid = 'public.reviews'::REGCLASS AND acl.grantee <> c.relowner
        UNION ALL
        SELECT
            acl.privilege_type,
            acl.grantee,
            acl.is_grantable,
            a.attname AS column_name
        FROM pg_attribute AS a
        CROSS JOIN LATERAL aclexplode(a.attacl) AS acl
        WHERE a.attrelid = 'public.reviews'::REGCLASS AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        EXECUTE format(
            'GRANT %s%s ON review_admin.reviews_staging TO %s%s',
            setting.privilege_type,
            CASE WHEN setting.column_name IS NOT NULL THEN format(' (%I)', setting.column_name) END,
            CASE
                WHEN setting.grantee = 0 THEN 'PUBLIC'
                ELSE quote_ident(pg_get_userbyid(setting.grantee))
            END,
            CASE WHEN setting.is_grantable THEN ' WITH GRANT OPTION' END
        );
    END LOOP;
END
$$;

COMMENT ON PROCEDURE review_admin.create_staging_table () IS
'Load step 1: refuse if review_admin.load_blockers() names anything; else (re)create '
'review_admin.reviews_staging, an empty copy of public.reviews without indexes, with the live '
'table''s comment, storage parameters, column statistics targets and options, and grants.';

CREATE OR REPLACE PROCEDURE review_admin.build_staging_index(index_name NAME)
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    live RECORD;
BEGIN
    -- The live index's definition (with its storage parameters), named staging_<name>; a
    -- constraint (the primary key) is re-attached to its index; the index's comment is
    -- copied. Index tuning done on public.reviews by a DBA is therefore kept across loads.
    SELECT
        pg_get_indexdef(ix.indexrelid) AS definition,
        obj_description(ix.indexrelid, 'pg_class') AS index_comment,
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
    EXECUTE format(
        'COMMENT ON INDEX review_admin.%I IS %L',
        'staging_' || build_staging_index.index_name, live.index_comment
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
'named staging_<index_name> (with its constraint, for a primary key or unique index, and its '
'comment). Sessions may build different indexes of the staging table at the same time.';

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

CREATE PROCEDURE review_admin.drop_retired_table()
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

-- Objects that later migrations add to the contract are readable by reviews_reader without
-- grants of their own; and functions are never executable by PUBLIC (0005 revoked it for
-- the functions that existed then). For objects created by the role running migrations.
ALTER DEFAULT PRIVILEGES IN SCHEMA review_api GRANT SELECT ON TABLES TO reviews_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA review_api GRANT EXECUTE ON FUNCTIONS TO reviews_reader;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;  -- noqa: CP02
