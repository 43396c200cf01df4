-- depends: 0011.batches-reviews-dataset
-- Rankings of products and reviewers over any date range, as SQL functions BI tools call
-- directly and the API serves (GET /v1/products, GET /v1/reviewers; their COMMENTs carry
-- the routes, docs/api-catalog.md):
--
--   SELECT * FROM review_api.top_products('2016-01-01', '2016-12-31');
--   SELECT * FROM review_api.top_reviewers(sort => 'average_rating', min_reviews => 10);
--
-- A ranking row carries the additive aggregates of the summaries (0004): review count,
-- rating sum (as the average) and distribution, verified count, helpful votes, first and
-- last review day. Distinct counts (a product's distinct reviewers, a reviewer's distinct
-- products) are not there: they do not add up across periods, so no rollup can hold them
-- for an arbitrary range, and computing them per ranked row would cost a second pass over
-- the reviews; the summary of one id gives them.
--
-- Order: by the sort value, ties by id, both in the direction asked, so the order is total
-- and one index serves both directions. Pages are keyset pages: the next page starts
-- after the last row's (sort_value, id), compared as a row, (key, id) < (after_value,
-- after_id) descending, > ascending; never OFFSET, whose cost grows with the depth.
-- after_id NULL with an after_value counts as the empty id, which sorts before every id.
-- A NULL sort, sort_order or min_reviews is the default ('review_count', 'desc', 1).

CREATE TYPE review_api.ranking_sort AS ENUM (  -- noqa: CP05
    'review_count', 'average_rating', 'helpful_votes', 'verified_review_count'
);
COMMENT ON TYPE review_api.ranking_sort IS
'What a ranking (review_api.top_products, top_reviewers) sorts by.';

CREATE TYPE review_api.sort_order AS ENUM ('desc', 'asc');  -- noqa: CP05
COMMENT ON TYPE review_api.sort_order IS
'The direction of a ranking: desc (largest first) or asc; ties by id in the same direction.';

-- Rollups: the rankings' aggregates per product and per reviewer, for each calendar year
-- and for all time, so that a ranking over a calendar year or all time reads one index range
-- instead of aggregating millions of reviews. Measured at 10M reviews (issue 14): product
-- and reviewer months would be 5.89M and 9.05M rows (hardly fewer than the reviews), years
-- plus all time 2.28M and 6.33M. A row holds only additive aggregates (see above).
--
-- They are the owner's tables, like public.reviews, replaced wholesale by `reviews-api load`
-- in the same transaction as the reviews (review_admin.publish_staging_table), so that the
-- API never sees rollups and reviews of different loads; readers see them through the views
-- review_api.product_rollups and reviewer_rollups. This migration fills them from the data
-- already loaded.
--
-- One btree per sort key on (period_year, key, id): a page of a ranking is one range of it,
-- read in either direction; the others carry review_count (INCLUDE) so that min_reviews is
-- checked in the index. A page's full rows are then fetched through the review_count index
-- by (period_year, review_count, id), so no fifth index is needed.

CREATE TABLE public.product_rollups (
    period_year SMALLINT NOT NULL,
    product_id TEXT COLLATE "C" NOT NULL,
    review_count INTEGER NOT NULL,
    average_rating DOUBLE PRECISION NOT NULL,
    rating_1 INTEGER NOT NULL,
    rating_2 INTEGER NOT NULL,
    rating_3 INTEGER NOT NULL,
    rating_4 INTEGER NOT NULL,
    rating_5 INTEGER NOT NULL,
    verified_review_count INTEGER NOT NULL,
    helpful_votes BIGINT NOT NULL,
    first_review_date DATE NOT NULL,
    last_review_date DATE NOT NULL
);

CREATE TABLE public.reviewer_rollups (
    period_year SMALLINT NOT NULL,
    reviewer_id TEXT COLLATE "C" NOT NULL,
    review_count INTEGER NOT NULL,
    average_rating DOUBLE PRECISION NOT NULL,
    rating_1 INTEGER NOT NULL,
    rating_2 INTEGER NOT NULL,
    rating_3 INTEGER NOT NULL,
    rating_4 INTEGER NOT NULL,
    rating_5 INTEGER NOT NULL,
    verified_review_count INTEGER NOT NULL,
    helpful_votes BIGINT NOT NULL,
    first_review_date DATE NOT NULL,
    last_review_date DATE NOT NULL
);

COMMENT ON TABLE public.product_rollups IS
'Review aggregates per product, one row per calendar year with reviews and one for all time '
'(period_year 0), built by `reviews-api load` from the reviews it publishes with them. Read '
'it through the view review_api.product_rollups.';
COMMENT ON COLUMN public.product_rollups.period_year IS
'Calendar year (UTC) of the reviews counted; 0 for all time.';
COMMENT ON COLUMN public.product_rollups.product_id IS 'Product id (the ASIN).';
COMMENT ON COLUMN public.product_rollups.review_count IS 'Reviews in the period (at least 1).';
COMMENT ON COLUMN public.product_rollups.average_rating IS
'Mean star rating of the period: sum / count in double precision, as the summaries compute it.';
COMMENT ON COLUMN public.product_rollups.rating_1 IS 'Reviews of the period with 1 star.';
COMMENT ON COLUMN public.product_rollups.rating_2 IS 'Reviews of the period with 2 stars.';
COMMENT ON COLUMN public.product_rollups.rating_3 IS 'Reviews of the period with 3 stars.';
COMMENT ON COLUMN public.product_rollups.rating_4 IS 'Reviews of the period with 4 stars.';
COMMENT ON COLUMN public.product_rollups.rating_5 IS 'Reviews of the period with 5 stars.';
COMMENT ON COLUMN public.product_rollups.verified_review_count IS
'Reviews of the period marked as verified purchases.';
COMMENT ON COLUMN public.product_rollups.helpful_votes IS
'Sum of the helpful votes of the period''s reviews.';
COMMENT ON COLUMN public.product_rollups.first_review_date IS
'First review day (UTC) of the period.';
COMMENT ON COLUMN public.product_rollups.last_review_date IS 'Last review day (UTC) of the period.';
CREATE INDEX product_rollups_review_count_idx
ON public.product_rollups (period_year, review_count, product_id);
CREATE INDEX product_rollups_average_rating_idx
ON public.product_rollups (period_year, average_rating, product_id) INCLUDE (review_count);
CREATE INDEX product_rollups_helpful_votes_idx
ON public.product_rollups (period_year, helpful_votes, product_id) INCLUDE (review_count);
CREATE INDEX product_rollups_verified_review_count_idx
ON public.product_rollups (period_year, verified_review_count, product_id) INCLUDE (review_count);

CREATE VIEW review_api.product_rollups AS
SELECT
    r.period_year,
    r.product_id,
    r.review_count,
    r.average_rating,
    r.rating_1,
    r.rating_2,
    r.rating_3,
    r.rating_4,
    r.rating_5,
    r.verified_review_count,
    r.helpful_votes,
    r.first_review_date,
    r.last_review_date
FROM public.product_rollups AS r;

COMMENT ON VIEW review_api.product_rollups IS
'Review aggregates per product: one row per calendar year with reviews, and one for all time '
'(period_year 0), as of the current load. Counts, sums and the rating distribution add up '
'across years; no distinct counts (they do not add up).';
COMMENT ON COLUMN review_api.product_rollups.period_year IS
'Calendar year (UTC) of the reviews counted; 0 for all time.';
COMMENT ON COLUMN review_api.product_rollups.product_id IS 'Product id (the ASIN).';
COMMENT ON COLUMN review_api.product_rollups.review_count IS 'Reviews in the period (at least 1).';
COMMENT ON COLUMN review_api.product_rollups.average_rating IS
'Mean star rating of the period: sum / count in double precision, as the summaries compute it.';
COMMENT ON COLUMN review_api.product_rollups.rating_1 IS 'Reviews of the period with 1 star.';
COMMENT ON COLUMN review_api.product_rollups.rating_2 IS 'Reviews of the period with 2 stars.';
COMMENT ON COLUMN review_api.product_rollups.rating_3 IS 'Reviews of the period with 3 stars.';
COMMENT ON COLUMN review_api.product_rollups.rating_4 IS 'Reviews of the period with 4 stars.';
COMMENT ON COLUMN review_api.product_rollups.rating_5 IS 'Reviews of the period with 5 stars.';
COMMENT ON COLUMN review_api.product_rollups.verified_review_count IS
'Reviews of the period marked as verified purchases.';
COMMENT ON COLUMN review_api.product_rollups.helpful_votes IS
'Sum of the helpful votes of the period''s reviews.';
COMMENT ON COLUMN review_api.product_rollups.first_review_date IS
'First review day (UTC) of the period.';
COMMENT ON COLUMN review_api.product_rollups.last_review_date IS
'Last review day (UTC) of the period.';

COMMENT ON TABLE public.reviewer_rollups IS
'Review aggregates per reviewer, one row per calendar year with reviews and one for all time '
'(period_year 0), built by `reviews-api load` from the reviews it publishes with them. Read '
'it through the view review_api.reviewer_rollups.';
COMMENT ON COLUMN public.reviewer_rollups.period_year IS
'Calendar year (UTC) of the reviews counted; 0 for all time.';
COMMENT ON COLUMN public.reviewer_rollups.reviewer_id IS 'Reviewer (user) id.';
COMMENT ON COLUMN public.reviewer_rollups.review_count IS 'Reviews in the period (at least 1).';
COMMENT ON COLUMN public.reviewer_rollups.average_rating IS
'Mean star rating of the period: sum / count in double precision, as the summaries compute it.';
COMMENT ON COLUMN public.reviewer_rollups.rating_1 IS 'Reviews of the period with 1 star.';
COMMENT ON COLUMN public.reviewer_rollups.rating_2 IS 'Reviews of the period with 2 stars.';
COMMENT ON COLUMN public.reviewer_rollups.rating_3 IS 'Reviews of the period with 3 stars.';
COMMENT ON COLUMN public.reviewer_rollups.rating_4 IS 'Reviews of the period with 4 stars.';
COMMENT ON COLUMN public.reviewer_rollups.rating_5 IS 'Reviews of the period with 5 stars.';
COMMENT ON COLUMN public.reviewer_rollups.verified_review_count IS
'Reviews of the period marked as verified purchases.';
COMMENT ON COLUMN public.reviewer_rollups.helpful_votes IS
'Sum of the helpful votes of the period''s reviews.';
COMMENT ON COLUMN public.reviewer_rollups.first_review_date IS
'First review day (UTC) of the period.';
COMMENT ON COLUMN public.reviewer_rollups.last_review_date IS
'Last review day (UTC) of the period.';
CREATE INDEX reviewer_rollups_review_count_idx
ON public.reviewer_rollups (period_year, review_count, reviewer_id);
CREATE INDEX reviewer_rollups_average_rating_idx
ON public.reviewer_rollups (period_year, average_rating, reviewer_id) INCLUDE (review_count);
CREATE INDEX reviewer_rollups_helpful_votes_idx
ON public.reviewer_rollups (period_year, helpful_votes, reviewer_id) INCLUDE (review_count);
CREATE INDEX reviewer_rollups_verified_review_count_idx
ON public.reviewer_rollups (period_year, verified_review_count, reviewer_id) INCLUDE (review_count);

CREATE VIEW review_api.reviewer_rollups AS
SELECT
    r.period_year,
    r.reviewer_id,
    r.review_count,
    r.average_rating,
    r.rating_1,
    r.rating_2,
    r.rating_3,
    r.rating_4,
    r.rating_5,
    r.verified_review_count,
    r.helpful_votes,
    r.first_review_date,
    r.last_review_date
FROM public.reviewer_rollups AS r;

COMMENT ON VIEW review_api.reviewer_rollups IS
'Review aggregates per reviewer: one row per calendar year with reviews, and one for all time '
'(period_year 0), as of the current load. Counts, sums and the rating distribution add up '
'across years; no distinct counts (they do not add up).';
COMMENT ON COLUMN review_api.reviewer_rollups.period_year IS
'Calendar year (UTC) of the reviews counted; 0 for all time.';
COMMENT ON COLUMN review_api.reviewer_rollups.reviewer_id IS 'Reviewer (user) id.';
COMMENT ON COLUMN review_api.reviewer_rollups.review_count IS 'Reviews in the period (at least 1).';
COMMENT ON COLUMN review_api.reviewer_rollups.average_rating IS
'Mean star rating of the period: sum / count in double precision, as the summaries compute it.';
COMMENT ON COLUMN review_api.reviewer_rollups.rating_1 IS 'Reviews of the period with 1 star.';
COMMENT ON COLUMN review_api.reviewer_rollups.rating_2 IS 'Reviews of the period with 2 stars.';
COMMENT ON COLUMN review_api.reviewer_rollups.rating_3 IS 'Reviews of the period with 3 stars.';
COMMENT ON COLUMN review_api.reviewer_rollups.rating_4 IS 'Reviews of the period with 4 stars.';
COMMENT ON COLUMN review_api.reviewer_rollups.rating_5 IS 'Reviews of the period with 5 stars.';
COMMENT ON COLUMN review_api.reviewer_rollups.verified_review_count IS
'Reviews of the period marked as verified purchases.';
COMMENT ON COLUMN review_api.reviewer_rollups.helpful_votes IS
'Sum of the helpful votes of the period''s reviews.';
COMMENT ON COLUMN review_api.reviewer_rollups.first_review_date IS
'First review day (UTC) of the period.';
COMMENT ON COLUMN review_api.reviewer_rollups.last_review_date IS
'Last review day (UTC) of the period.';

CREATE PROCEDURE review_admin.fill_rollups(entity TEXT, source REGCLASS, target REGCLASS)
LANGUAGE plpgsql
SET search_path = pg_catalog
-- Group in the order of the covering index (id, review_date), which the planner reads with
-- an index-only scan and sorts by year within each id (Incremental Sort): measured at 10M,
-- half the time of a hash aggregate, and no spill of a hash table of millions of groups.
SET enable_hashagg = off
SET enable_seqscan = off
AS $$
DECLARE
    id_column TEXT := CASE fill_rollups.entity
        WHEN 'product' THEN 'productID'
        WHEN 'reviewer' THEN 'reviewerID'
    END;
BEGIN
    IF id_column IS NULL THEN
        RAISE EXCEPTION 'entity must be product or reviewer, not %', fill_rollups.entity;
    END IF;
    -- One row per (id, calendar year) and one per id for all time (the ROLLUP's subtotal,
    -- period_year 0), in one pass. The year is date_part of the date as a TIMESTAMP (no
    -- time zone, a double): date_trunc on a DATE goes through TIMESTAMPTZ and the session's
    -- TimeZone, and extract answers NUMERIC, slower. sum() of the SMALLINT and INTEGER
    -- columns adds in BIGINT (sum of a BIGINT would add in NUMERIC).
    EXECUTE format(
        $sql$
        INSERT INTO %1$s (
            period_year, %2$I, review_count, average_rating, rating_1, rating_2, rating_3,
            rating_4, rating_5, verified_review_count, helpful_votes, first_review_date,
            last_review_date
        )
        SELECT
            coalesce(date_part('year', s.review_date::TIMESTAMP)::SMALLINT, 0),
            s.%3$I,
            count(*)::INTEGER,
            sum(s."overall")::DOUBLE PRECISION / count(*),
            count(*) FILTER (WHERE s."overall" = 1)::INTEGER,
            count(*) FILTER (WHERE s."overall" = 2)::INTEGER,
            count(*) FILTER (WHERE s."overall" = 3)::INTEGER,
            count(*) FILTER (WHERE s."overall" = 4)::INTEGER,
            count(*) FILTER (WHERE s."overall" = 5)::INTEGER,
            count(*) FILTER (WHERE s."verified")::INTEGER,
            coalesce(sum(s.helpful_votes), 0),
            min(s.review_date),
            max(s.review_date)
        FROM %4$s AS s
        GROUP BY s.%3$I, ROLLUP (date_part('year', s.review_date::TIMESTAMP)::SMALLINT)
        $sql$,
        fill_rollups.target,
        fill_rollups.entity || '_id',
        id_column,
        fill_rollups.source
    );
END
$$;

COMMENT ON PROCEDURE review_admin.fill_rollups (TEXT, REGCLASS, REGCLASS) IS
'Insert into target (public.product_rollups or reviewer_rollups, or its staging copy) the '
'rollups of entity (''product'' or ''reviewer'') computed from source (public.reviews or its '
'staging copy): one row per id and calendar year, and one per id for all time.';

-- Load steps for the rollups (service/load/loader.py drives them after the staged reviews
-- are vacuumed, on two sessions at once): stage_rollups('product') and ('reviewer'), then
-- build_staging_rollup_index for each of staging_rollup_indexes() of that entity, then
-- VACUUM (FREEZE, ANALYZE) of its staging copy, each step as soon as a session is free and
-- the previous step of the entity is done; publish_staging_table swaps them in with the
-- reviews.

CREATE PROCEDURE review_admin.copy_table_settings(live REGCLASS, staging REGCLASS)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    settings RECORD;
    setting RECORD;
BEGIN
    -- What CREATE TABLE ... (LIKE ... INCLUDING ALL) leaves behind, as create_staging_table
    -- (0008) carries it over for public.reviews: the comment, storage parameters, column
    -- statistics targets and options, and grants. A DBA's tuning of a rollup table is
    -- therefore kept across loads.
    SELECT
        c.reloptions AS table_options,
        t.reloptions AS toast_options,
        obj_description(c.oid, 'pg_class') AS table_comment
    INTO settings
    FROM pg_class AS c
    LEFT JOIN pg_class AS t ON c.reltoastrelid = t.oid
    WHERE c.oid = copy_table_settings.live;
    EXECUTE format('COMMENT ON TABLE %s IS %L', copy_table_settings.staging, settings.table_comment);
    IF settings.table_options IS NOT NULL THEN
        EXECUTE format(
            'ALTER TABLE %s SET (%s)',
            copy_table_settings.staging, review_admin.option_list(settings.table_options, '')
        );
    END IF;
    IF settings.toast_options IS NOT NULL THEN
        EXECUTE format(
            'ALTER TABLE %s SET (%s)',
            copy_table_settings.staging, review_admin.option_list(settings.toast_options, 'toast.')
        );
    END IF;
    FOR setting IN
        SELECT
            a.attname,
            a.attstattarget,
            nullif(array(
                SELECT o.setting
                FROM unnest(a.attoptions) AS o (setting)
                WHERE split_part(o.setting, '=', 1) IN ('n_distinct', 'n_distinct_inherited')
            ), '{}') AS attoptions
        FROM pg_attribute AS a
        WHERE a.attrelid = copy_table_settings.live AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        IF setting.attstattarget >= 0 THEN
            EXECUTE format(
                'ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s',
                copy_table_settings.staging, setting.attname, setting.attstattarget
            );
        END IF;
        IF setting.attoptions IS NOT NULL THEN
            EXECUTE format(
                'ALTER TABLE %s ALTER COLUMN %I SET (%s)',
                copy_table_settings.staging,
                setting.attname,
                review_admin.option_list(setting.attoptions, '')
            );
        END IF;
    END LOOP;
    FOR setting IN
        SELECT
            acl.privilege_type,
            acl.grantee,
            acl.is_grantable,
            NULL::NAME AS column_name
        FROM pg_class AS c
        CROSS JOIN LATERAL aclexplode(c.relacl) AS acl
        WHERE c.oid = copy_table_settings.live AND acl.grantee <> c.relowner
        UNION ALL
        SELECT
            acl.privilege_type,
            acl.grantee,
            acl.is_grantable,
            a.attname AS column_name
        FROM pg_attribute AS a
        CROSS JOIN LATERAL aclexplode(a.attacl) AS acl
        WHERE a.attrelid = copy_table_settings.live AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        EXECUTE format(
            'GRANT %s%s ON %s TO %s%s',
            setting.privilege_type,
            CASE WHEN setting.column_name IS NOT NULL THEN format(' (%I)', setting.column_name) END,
            copy_table_settings.staging,
            CASE
                WHEN setting.grantee = 0 THEN 'PUBLIC'
                ELSE quote_ident(pg_get_userbyid(setting.grantee))
            END,
            CASE WHEN setting.is_grantable THEN ' WITH GRANT OPTION' END
        );
    END LOOP;
END
$$;

COMMENT ON PROCEDURE review_admin.copy_table_settings (REGCLASS, REGCLASS) IS
'Give the staging copy staging the comment, storage parameters, column statistics targets and '
'options, and grants of the live table live.';

CREATE PROCEDURE review_admin.stage_rollups(entity TEXT)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    live REGCLASS := format('public.%I', stage_rollups.entity || '_rollups')::REGCLASS;
    staging_name TEXT := stage_rollups.entity || '_rollups_staging';
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS review_admin.%I', staging_name);
    -- A load killed after publishing leaves the previous rollups behind.
    EXECUTE format('DROP TABLE IF EXISTS review_admin.%I', stage_rollups.entity || '_rollups_retired');
    -- No index: built once after the rows are in (build_staging_rollup_index).
    EXECUTE format(
        'CREATE TABLE review_admin.%I (LIKE %s INCLUDING ALL EXCLUDING INDEXES)',
        staging_name, live
    );
    CALL review_admin.copy_table_settings(live, format('review_admin.%I', staging_name)::REGCLASS);
    CALL review_admin.fill_rollups(
        stage_rollups.entity,
        'review_admin.reviews_staging',
        format('review_admin.%I', staging_name)::REGCLASS
    );
END
$$;

COMMENT ON PROCEDURE review_admin.stage_rollups (TEXT) IS
'Load step 5: (re)create review_admin.<entity>_rollups_staging, a copy of '
'public.<entity>_rollups (entity: product or reviewer) without indexes and with its settings, '
'filled from the staged reviews (vacuumed, so that their covering indexes are read in order).';

CREATE FUNCTION review_admin.staging_rollup_indexes()
RETURNS TABLE (entity TEXT, index_name NAME)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
    -- Each with the entity whose rollups it indexes: the loader builds a table's indexes
    -- as soon as that table is filled. Largest first, so that the sessions finish at about
    -- the same time.
    SELECT
        replace(table_class.relname, '_rollups', '') AS entity,
        index_class.relname AS index_name
    FROM pg_index AS ix
    INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
    INNER JOIN pg_class AS table_class ON ix.indrelid = table_class.oid
    WHERE ix.indrelid IN ('public.product_rollups'::REGCLASS, 'public.reviewer_rollups'::REGCLASS)
    ORDER BY index_class.relpages DESC, index_class.relname ASC;
$$;

COMMENT ON FUNCTION review_admin.staging_rollup_indexes() IS
'Load step 5: the indexes of public.product_rollups and reviewer_rollups that '
'review_admin.build_staging_rollup_index must build on their staging copies, largest first, '
'each with its entity (product or reviewer).';

CREATE PROCEDURE review_admin.build_staging_rollup_index(index_name NAME)
LANGUAGE plpgsql
SET search_path = pg_catalog
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    live RECORD;
BEGIN
    -- As build_staging_index (0008) for the reviews: the live index's definition, on the
    -- staging copy of its table, named staging_<name>, with its comment.
    SELECT
        pg_get_indexdef(ix.indexrelid) AS definition,
        obj_description(ix.indexrelid, 'pg_class') AS index_comment,
        table_class.relname AS table_name
    INTO live
    FROM pg_index AS ix
    INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
    INNER JOIN pg_class AS table_class ON ix.indrelid = table_class.oid
    WHERE
        ix.indrelid IN ('public.product_rollups'::REGCLASS, 'public.reviewer_rollups'::REGCLASS)
        AND index_class.relname = build_staging_rollup_index.index_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the rollup tables have no index named %',
            build_staging_rollup_index.index_name;
    END IF;
    EXECUTE regexp_replace(
        live.definition,
        '^CREATE (UNIQUE )?INDEX \S+ ON public\.\S+ ',
        'CREATE \1INDEX ' || quote_ident('staging_' || build_staging_rollup_index.index_name)
        || ' ON review_admin.' || quote_ident(live.table_name || '_staging') || ' '
    );
    EXECUTE format(
        'COMMENT ON INDEX review_admin.%I IS %L',
        'staging_' || build_staging_rollup_index.index_name, live.index_comment
    );
END
$$;

COMMENT ON PROCEDURE review_admin.build_staging_rollup_index (NAME) IS
'Load step 5, one index: build on the staging copy of its table the index index_name of '
'public.product_rollups or reviewer_rollups, named staging_<index_name>, with its comment. '
'Sessions may build different indexes at the same time.';

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
    entity TEXT;
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
    -- The rollups (0012) go live with the reviews they were built from, in this transaction:
    -- never the reviews alone.
    IF
        to_regclass('review_admin.product_rollups_staging') IS NULL
        OR to_regclass('review_admin.reviewer_rollups_staging') IS NULL
    THEN
        RAISE EXCEPTION 'the rollups of the staged reviews are not staged'
            USING HINT = 'CALL review_admin.stage_rollups(''product'') and (''reviewer'') first';
    END IF;
    LOCK TABLE
        review_api.reviews,
        public.reviews,
        review_admin.reviews_staging,
        review_api.product_rollups,
        public.product_rollups,
        review_admin.product_rollups_staging,
        review_api.reviewer_rollups,
        public.reviewer_rollups,
        review_admin.reviewer_rollups_staging
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

    -- The rollups, the same way: swapped, their view re-pointed, their indexes renamed.
    FOREACH entity IN ARRAY ARRAY['product', 'reviewer'] LOOP
        view_definition := pg_get_viewdef(format('review_api.%I', entity || '_rollups')::REGCLASS);
        SELECT c.reloptions INTO view_options
        FROM pg_class AS c
        WHERE c.oid = format('review_api.%I', entity || '_rollups')::REGCLASS;
        EXECUTE format('ALTER TABLE public.%I RENAME TO %I', entity || '_rollups', entity || '_rollups_retired');
        EXECUTE format('ALTER TABLE public.%I SET SCHEMA review_admin', entity || '_rollups_retired');
        EXECUTE format('ALTER TABLE review_admin.%I SET SCHEMA public', entity || '_rollups_staging');
        EXECUTE format('ALTER TABLE public.%I RENAME TO %I', entity || '_rollups_staging', entity || '_rollups');
        EXECUTE format('CREATE OR REPLACE VIEW review_api.%I', entity || '_rollups')
        || coalesce(' WITH (' || array_to_string(view_options, ', ') || ')', '')
        || ' AS ' || view_definition;
        FOR staged IN
            SELECT index_class.relname AS index_name
            FROM pg_index AS ix
            INNER JOIN pg_class AS index_class ON ix.indexrelid = index_class.oid
            WHERE ix.indrelid = format('public.%I', entity || '_rollups')::REGCLASS
        LOOP
            EXECUTE format(
                'ALTER INDEX public.%I RENAME TO %I',
                staged.index_name, substr(staged.index_name, 9)
            );
        END LOOP;
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
'Load step 7, one short transaction: check the staged row count, lock (waiting at most '
'200 ms: lock_not_available, retried by the loader) review_api.reviews, public.reviews, the '
'rollup views and tables (0012) and their staging copies in one statement, swap the staging '
'tables in as public.reviews, product_rollups and reviewer_rollups (the old ones move to '
'review_admin.*_retired), re-point the views with their options, record the load in '
'data_loads and NOTIFY reviews_data_loaded with the new load_id. Arguments: source_name and '
'source_checksum (SHA-256) of the imported file, expected_rows read from it, started_at.';

CREATE OR REPLACE PROCEDURE review_admin.drop_retired_table()
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    -- Nobody can reach the retired tables by name any more; wait for a straggler briefly.
    PERFORM set_config('lock_timeout', '5s', true);
    DROP TABLE IF EXISTS review_admin.reviews_retired;
    DROP TABLE IF EXISTS review_admin.product_rollups_retired;
    DROP TABLE IF EXISTS review_admin.reviewer_rollups_retired;
END
$$;

COMMENT ON PROCEDURE review_admin.drop_retired_table () IS
'Load step 8, after the publish committed: drop the previous data '
'(review_admin.reviews_retired, product_rollups_retired and reviewer_rollups_retired). The next '
'load drops them if this step did not.';

-- The rollups of the data loaded before this migration.
CALL review_admin.fill_rollups('product', 'public.reviews', 'public.product_rollups');
CALL review_admin.fill_rollups('reviewer', 'public.reviews', 'public.reviewer_rollups');
ANALYZE public.product_rollups;
ANALYZE public.reviewer_rollups;

CREATE FUNCTION review_api.rollup_period(from_date DATE, to_date DATE)
RETURNS SMALLINT
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- make_date and date_part on a TIMESTAMP (no time zone): nothing here depends on the
    -- session's TimeZone, so the function is immutable and inlined.
    SELECT
        CASE
            WHEN rollup_period.from_date IS NULL AND rollup_period.to_date IS NULL THEN 0
            WHEN
                rollup_period.from_date
                = make_date(date_part('year', rollup_period.from_date::TIMESTAMP)::INTEGER, 1, 1)
                AND rollup_period.to_date
                = make_date(date_part('year', rollup_period.from_date::TIMESTAMP)::INTEGER, 12, 31)
                THEN date_part('year', rollup_period.from_date::TIMESTAMP)::SMALLINT
        END;
$$;

COMMENT ON FUNCTION review_api.rollup_period(DATE, DATE) IS
'The rollup period (review_api.product_rollups.period_year) that the date range from_date to '
'to_date (inclusive) is: the calendar year for YYYY-01-01 to YYYY-12-31, 0 for no dates at all '
'(all time), NULL for any other range (the rankings then aggregate the reviews).';

CREATE FUNCTION review_api.top_products(
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL,
    sort review_api.ranking_sort DEFAULT 'review_count',  -- noqa: CP05
    sort_order review_api.sort_order DEFAULT 'desc',  -- noqa: CP05
    min_reviews INTEGER DEFAULT 1,
    max_rows INTEGER DEFAULT 20,
    after_value DOUBLE PRECISION DEFAULT NULL,
    after_id TEXT DEFAULT NULL
)
RETURNS TABLE (
    product_id TEXT,
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT,
    first_review_date DATE,
    last_review_date DATE,
    sort_value DOUBLE PRECISION
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
-- The full aggregation (the last strategy below) groups in the order of the covering index,
-- one process: at 10M reviews on 2 cores, 0.9-1.4 s for 400 days, against 1.9-2.1 s for a
-- parallel hash aggregate (which spills past work_mem). The other statements are not
-- affected: they aggregate a few ids, or none.
SET enable_hashagg = off
SET max_parallel_workers_per_gather = 0
AS $$
#variable_conflict use_column
DECLARE
    rollup_year SMALLINT := review_api.rollup_period(top_products.from_date, top_products.to_date);
    first_day DATE := coalesce(top_products.from_date, '-infinity'::DATE);
    end_day DATE := coalesce(top_products.to_date + 1, 'infinity'::DATE);
    descending BOOLEAN := coalesce(top_products.sort_order, 'desc') = 'desc';
    -- The cursor as bounds of a row comparison. A double key compares with after_value
    -- itself; an integer key (an index on an INTEGER or BIGINT column is not used against a
    -- double) with after_value rounded up, and with the empty id when that rounding moved
    -- it: (key, id) < (3.5, x) is (key, id) < (4, ''), and > (3.5, x) is > (4, ''), as
    -- ids are never empty. Clamped to what a BIGINT holds; no cursor is the far end.
    real_value DOUBLE PRECISION := coalesce(
        top_products.after_value,
        CASE WHEN descending THEN 'Infinity'::DOUBLE PRECISION ELSE '-Infinity' END
    );
    real_id TEXT := coalesce(top_products.after_id, '');
    clamped DOUBLE PRECISION := least(greatest(real_value, -9e18), 9e18);
    whole_value BIGINT := ceil(clamped)::BIGINT;
    whole_id TEXT := CASE WHEN clamped = ceil(clamped) THEN real_id ELSE '' END;
    first_year SMALLINT;
    last_year SMALLINT;
    threshold BIGINT;
BEGIN
    -- NULL is the default (the API always passes a value; a BI user may pass NULL).
    top_products.sort := coalesce(top_products.sort, 'review_count');
    top_products.min_reviews := coalesce(top_products.min_reviews, 1);
    IF rollup_year IS NOT NULL THEN
        -- A calendar year or all time: the page is one range of the rollup index of the
        -- sort key, (period_year, key, product_id), from the cursor on, in either direction;
        -- min_reviews is checked in the index (review_count is in every one of them). The
        -- page's rows are then read through the review_count index by their full key.
        -- Dynamic SQL because the column and the direction of the ORDER BY must be constants
        -- for the planner to pick the index; they come from the two enums, nothing else.
        RETURN QUERY EXECUTE format(
            $sql$
            WITH page AS (
                SELECT
                    r.period_year,
                    r.review_count,
                    r.product_id
                FROM review_api.product_rollups AS r
                WHERE
                    r.period_year = $1
                    AND r.review_count >= $2
                    AND (r.%1$I, r.product_id) %2$s (%4$s)
                ORDER BY r.%1$I %3$s, r.product_id %3$s
                LIMIT $3
            )

            SELECT
                r.product_id,
                r.review_count::BIGINT,
                r.average_rating,
                r.rating_1::BIGINT,
                r.rating_2::BIGINT,
                r.rating_3::BIGINT,
                r.rating_4::BIGINT,
                r.rating_5::BIGINT,
                r.verified_review_count::BIGINT,
                r.helpful_votes,
                r.first_review_date,
                r.last_review_date,
                r.%1$I::DOUBLE PRECISION AS sort_value
            FROM page AS p
            INNER JOIN review_api.product_rollups AS r
                ON
                    r.period_year = p.period_year
                    AND r.review_count = p.review_count
                    AND r.product_id = p.product_id
            ORDER BY r.%1$I %3$s, r.product_id %3$s
            $sql$,
            top_products.sort,
            CASE WHEN descending THEN '<' ELSE '>' END,
            CASE WHEN descending THEN 'DESC' ELSE 'ASC' END,
            CASE WHEN top_products.sort = 'average_rating' THEN '$6, $7' ELSE '$4, $5' END
        ) USING
            rollup_year,
            top_products.min_reviews,
            top_products.max_rows,
            whole_value,
            whole_id,
            real_value,
            real_id;
        RETURN;
    END IF;

    IF descending AND top_products.sort IN ('review_count', 'helpful_votes') THEN
        -- Any other range, largest first, by an additive key: threshold pruning. The range
        -- lies in the calendar years first_year..last_year (k of them); a product whose key
        -- over the range is at least T has a key of at least T / k in one of those years
        -- (the range's part of a year is at most the year). T is taken from the exact keys
        -- of a few products (the max_rows largest of each year, four times as many for votes,
        -- from the cursor on): the max_rows-th largest of them that would be on this page.
        -- The page's products all
        -- have a key of at least T, so only the products of those years' rollups with a key
        -- of at least ceil(T / k) are aggregated exactly, each from its own index range.
        first_year := coalesce(
            date_part('year', top_products.from_date::TIMESTAMP)::SMALLINT,
            (
                SELECT min(r.period_year)
                FROM review_api.product_rollups AS r
                WHERE r.period_year > 0
            )
        );
        last_year := coalesce(
            date_part('year', top_products.to_date::TIMESTAMP)::SMALLINT,
            (SELECT max(r.period_year) FROM review_api.product_rollups AS r)
        );
        EXECUTE format(
            $sql$
            WITH seeds AS (
                SELECT DISTINCT s.product_id
                FROM generate_series($1::INTEGER, $2::INTEGER) AS y (period_year)
                CROSS JOIN LATERAL (
                    SELECT r.product_id
                    FROM review_api.product_rollups AS r
                    WHERE r.period_year = y.period_year AND r.%1$I <= $3
                    ORDER BY r.%1$I DESC, r.product_id DESC
                    LIMIT $4 * %2$s
                ) AS s
            ),

            exact AS (
                SELECT
                    s.product_id,
                    a.review_count,
                    a.helpful_votes
                FROM seeds AS s
                CROSS JOIN LATERAL (
                    SELECT
                        count(*) AS review_count,
                        coalesce(sum(r.helpful_votes), 0) AS helpful_votes
                    FROM review_api.reviews AS r
                    WHERE
                        r.product_id = s.product_id
                        AND r.review_date >= $5
                        AND r.review_date < $6
                ) AS a
            ),

            on_page AS (
                SELECT e.%1$I AS key
                FROM exact AS e
                WHERE
                    e.review_count >= greatest($7, 1)
                    AND (e.%1$I::DOUBLE PRECISION, e.product_id) < ($8, $9)
                ORDER BY e.%1$I DESC
                LIMIT $4
            )

            SELECT CASE WHEN count(*) = $4 THEN min(p.key) END
            FROM on_page AS p
            $sql$,
            top_products.sort,
            -- Votes are lumpy (one review may carry thousands): a year's leaders by votes
            -- often got them outside the range, so take more of them. Review counts are
            -- smooth: the max_rows leaders of each year give a close threshold.
            CASE WHEN top_products.sort = 'helpful_votes' THEN 4 ELSE 1 END
        ) INTO threshold USING
            first_year,
            last_year,
            whole_value,
            top_products.max_rows,
            first_day,
            end_day,
            top_products.min_reviews,
            real_value,
            real_id;
        IF threshold IS NOT NULL AND top_products.sort = 'review_count' THEN
            threshold := greatest(threshold, top_products.min_reviews);
        END IF;
        IF threshold > 0 THEN
            RETURN QUERY EXECUTE format(
                $sql$
                WITH candidates AS (
                    SELECT DISTINCT c.product_id
                    FROM generate_series($1::INTEGER, $2::INTEGER) AS y (period_year)
                    CROSS JOIN LATERAL (
                        SELECT r.product_id
                        FROM review_api.product_rollups AS r
                        WHERE r.period_year = y.period_year AND r.%1$I >= $3
                    ) AS c
                ),

                totals AS (
                    SELECT
                        c.product_id,
                        a.*
                    FROM candidates AS c
                    CROSS JOIN LATERAL (
                        SELECT
                            count(*) AS review_count,
                            sum(r.rating)::DOUBLE PRECISION / count(*) AS average_rating,
                            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
                            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
                            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
                            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
                            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
                            count(*) FILTER (WHERE r.verified) AS verified_review_count,
                            coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
                            min(r.review_date) AS first_review_date,
                            max(r.review_date) AS last_review_date
                        FROM review_api.reviews AS r
                        WHERE
                            r.product_id = c.product_id
                            AND r.review_date >= $4
                            AND r.review_date < $5
                    ) AS a
                )

                SELECT
                    t.product_id,
                    t.review_count,
                    t.average_rating,
                    t.rating_1,
                    t.rating_2,
                    t.rating_3,
                    t.rating_4,
                    t.rating_5,
                    t.verified_review_count,
                    t.helpful_votes,
                    t.first_review_date,
                    t.last_review_date,
                    t.%1$I::DOUBLE PRECISION AS sort_value
                FROM totals AS t
                WHERE
                    t.review_count >= greatest($6, 1)
                    AND (t.%1$I::DOUBLE PRECISION, t.product_id) < ($7, $8)
                ORDER BY t.%1$I DESC, t.product_id DESC
                LIMIT $9
                $sql$,
                top_products.sort
            ) USING
                first_year,
                last_year,
                ceil(threshold::DOUBLE PRECISION / (last_year - first_year + 1))::BIGINT,
                first_day,
                end_day,
                top_products.min_reviews,
                real_value,
                real_id,
                top_products.max_rows;
            RETURN;
        END IF;
        -- No threshold: fewer than max_rows products seen on this page (a last page, or
        -- max_rows NULL for every row): aggregate every product.
    END IF;

    -- Any other range, sort or direction: every product's aggregates over the range, from
    -- one pass over reviews_product_date_idx, then the page's rows by the sort value.
    RETURN QUERY
    WITH totals AS (
        SELECT
            r.product_id,
            count(*) AS review_count,
            sum(r.rating)::DOUBLE PRECISION / count(*) AS average_rating,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
            count(*) FILTER (WHERE r.verified) AS verified_review_count,
            coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
            min(r.review_date) AS first_review_date,
            max(r.review_date) AS last_review_date
        FROM review_api.reviews AS r
        WHERE r.review_date >= first_day AND r.review_date < end_day
        GROUP BY r.product_id
        HAVING count(*) >= top_products.min_reviews
    ),

    keyed AS (
        SELECT
            t.*,
            CASE top_products.sort
                WHEN 'review_count' THEN t.review_count::DOUBLE PRECISION
                WHEN 'average_rating' THEN t.average_rating
                WHEN 'helpful_votes' THEN t.helpful_votes::DOUBLE PRECISION
                WHEN 'verified_review_count' THEN t.verified_review_count::DOUBLE PRECISION
            END AS sort_value
        FROM totals AS t
    )

    SELECT
        k.product_id,
        k.review_count,
        k.average_rating,
        k.rating_1,
        k.rating_2,
        k.rating_3,
        k.rating_4,
        k.rating_5,
        k.verified_review_count,
        k.helpful_votes,
        k.first_review_date,
        k.last_review_date,
        k.sort_value
    FROM keyed AS k
    WHERE
        CASE
            WHEN descending THEN (k.sort_value, k.product_id) < (real_value, real_id)
            ELSE (k.sort_value, k.product_id) > (real_value, real_id)
        END
    ORDER BY
        CASE WHEN descending THEN k.sort_value END DESC,
        CASE WHEN descending THEN k.product_id END DESC,
        k.sort_value ASC,
        k.product_id ASC
    LIMIT top_products.max_rows;
END
$$;

COMMENT ON FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) IS $$
Products ranked by their reviews in an optional date range: most reviewed, best or worst rated, most helpful votes, most verified reviews.
One row per product with at least min_reviews reviews in the range, max_rows at most,
ordered by sort in sort_order, ties by product_id in the same direction (the order is total).
A row carries the additive aggregates of the range: review count, average rating, rating
distribution, verified reviews, helpful votes, first and last review day. Distinct counts
(distinct reviewers) are not there: they do not add up
across periods, so no rollup can hold them; the product's summary gives them.

Pages are keyset pages: the next page is the call with after_value and after_id set to the
sort_value and product_id of the last row (rows strictly after them in the ranking's order;
after_id NULL counts as the empty id). Never OFFSET: a deep page costs what the first does.
A calendar year (from_date YYYY-01-01, to_date YYYY-12-31) or all time (no dates) reads the
rollups (review_api.product_rollups), one index range; any other range aggregates the reviews,
by threshold pruning over the yearly rollups for review_count and helpful_votes descending.
Every answer is exact: the same rows in the same order as aggregating the reviews.

Examples, the most reviewed of 2016, the best rated with at least 10 reviews, the next page:
SELECT * FROM review_api.top_products('2016-01-01', '2016-12-31');
SELECT * FROM review_api.top_products(sort => 'average_rating', min_reviews => 10);
SELECT * FROM review_api.top_products(after_value => 42, after_id => 'B000068NW5');
@route GET /v1/products
@returns list
@example {"items": [{"product_id": "B06WLFWURY", "review_count": 345, "average_rating": 4.046376811594203, "rating_distribution": {"1": 32, "2": 16, "3": 47, "4": 59, "5": 191}, "verified_review_count": 314, "helpful_votes": 241, "first_review_date": "2016-01-01", "last_review_date": "2016-12-31"}, {"product_id": "B00VT5M827", "review_count": 288, "average_rating": 4.649305555555555, "rating_distribution": {"1": 3, "2": 4, "3": 18, "4": 41, "5": 222}, "verified_review_count": 267, "helpful_votes": 231, "first_review_date": "2016-01-01", "last_review_date": "2016-12-30"}], "next": "/v1/products?from=2016-01-01&to=2016-12-31&limit=2&after=eyJ2IjoiMSIsInEiOiJiZTQ4MWRmYTY4MmM5YzY4IiwiayI6WzI4OC4wLCJCMDBWVDVNODI3Il19"}
@param from_date from
@param to_date to
@param sort_order order
@param max_rows limit
@argument from_date First review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after to. A calendar year (from YYYY-01-01 to YYYY-12-31) or no dates at all is read from the rollups.
@argument to_date Last review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not before from.
@argument sort What to rank by: review_count (default), average_rating, helpful_votes or verified_review_count.
@argument sort_order desc (default), largest first, or asc, smallest first (the worst rated); ties by product_id in the same direction.
@argument min_reviews {"enum": [1, 5, 10, 25, 50, 100]} Only products with at least this many reviews in the range: 1 (default), 5, 10, 25, 50 or 100, so that 2 five-star reviews do not top the best rated unless asked.
@argument max_rows {"minimum": 1, "maximum": 100} Rows per page, 1 to 100 (default 20).
@argument after_value The sort value of the previous page's last row (set by the cursor).
@argument after_id The product_id of the previous page's last row (set by the cursor).
@limit max_rows
@cursor after: after_value=sort_value after_id=product_id
@hidden sort_value
@group rating_distribution rating_
@range from_date to_date
@column product_id Product id (the ASIN).
@column review_count {"minimum": 1} Reviews in the range.
@column average_rating {"minimum": 1, "maximum": 5} Mean star rating in the range, sum / count, unrounded.
@column rating_distribution Reviews in the range per star rating, keys "1" to "5", always all five.
@column rating_1 {"minimum": 0} Reviews in the range with 1 star.
@column rating_2 {"minimum": 0} Reviews in the range with 2 stars.
@column rating_3 {"minimum": 0} Reviews in the range with 3 stars.
@column rating_4 {"minimum": 0} Reviews in the range with 4 stars.
@column rating_5 {"minimum": 0} Reviews in the range with 5 stars.
@column verified_review_count {"minimum": 0} Reviews in the range marked as verified purchases.
@column helpful_votes {"minimum": 0} Sum of the helpful votes of the reviews in the range (no vote counts 0).
@column first_review_date First review day in the range, YYYY-MM-DD (UTC).
@column last_review_date Last review day in the range, YYYY-MM-DD (UTC).
$$;

CREATE FUNCTION review_api.top_reviewers(
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL,
    sort review_api.ranking_sort DEFAULT 'review_count',  -- noqa: CP05
    sort_order review_api.sort_order DEFAULT 'desc',  -- noqa: CP05
    min_reviews INTEGER DEFAULT 1,
    max_rows INTEGER DEFAULT 20,
    after_value DOUBLE PRECISION DEFAULT NULL,
    after_id TEXT DEFAULT NULL
)
RETURNS TABLE (
    reviewer_id TEXT,
    reviewer_name TEXT,
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT,
    first_review_date DATE,
    last_review_date DATE,
    sort_value DOUBLE PRECISION
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
-- The full aggregation (the last strategy below) groups in the order of the covering index,
-- one process: at 10M reviews on 2 cores, 0.9-1.4 s for 400 days, against 1.9-2.1 s for a
-- parallel hash aggregate (which spills past work_mem). The other statements are not
-- affected: they aggregate a few ids, or none.
SET enable_hashagg = off
SET max_parallel_workers_per_gather = 0
AS $$
#variable_conflict use_column
DECLARE
    rollup_year SMALLINT := review_api.rollup_period(top_reviewers.from_date, top_reviewers.to_date);
    first_day DATE := coalesce(top_reviewers.from_date, '-infinity'::DATE);
    end_day DATE := coalesce(top_reviewers.to_date + 1, 'infinity'::DATE);
    descending BOOLEAN := coalesce(top_reviewers.sort_order, 'desc') = 'desc';
    -- The cursor as bounds of a row comparison. A double key compares with after_value
    -- itself; an integer key (an index on an INTEGER or BIGINT column is not used against a
    -- double) with after_value rounded up, and with the empty id when that rounding moved
    -- it: (key, id) < (3.5, x) is (key, id) < (4, ''), and > (3.5, x) is > (4, ''), as
    -- ids are never empty. Clamped to what a BIGINT holds; no cursor is the far end.
    real_value DOUBLE PRECISION := coalesce(
        top_reviewers.after_value,
        CASE WHEN descending THEN 'Infinity'::DOUBLE PRECISION ELSE '-Infinity' END
    );
    real_id TEXT := coalesce(top_reviewers.after_id, '');
    clamped DOUBLE PRECISION := least(greatest(real_value, -9e18), 9e18);
    whole_value BIGINT := ceil(clamped)::BIGINT;
    whole_id TEXT := CASE WHEN clamped = ceil(clamped) THEN real_id ELSE '' END;
    first_year SMALLINT;
    last_year SMALLINT;
    threshold BIGINT;
BEGIN
    -- NULL is the default (the API always passes a value; a BI user may pass NULL).
    top_reviewers.sort := coalesce(top_reviewers.sort, 'review_count');
    top_reviewers.min_reviews := coalesce(top_reviewers.min_reviews, 1);
    IF rollup_year IS NOT NULL THEN
        -- A calendar year or all time: the page is one range of the rollup index of the
        -- sort key, (period_year, key, reviewer_id), from the cursor on, in either direction;
        -- min_reviews is checked in the index (review_count is in every one of them). The
        -- page's rows are then read through the review_count index by their full key.
        -- Dynamic SQL because the column and the direction of the ORDER BY must be constants
        -- for the planner to pick the index; they come from the two enums, nothing else.
        RETURN QUERY EXECUTE format(
            $sql$
            WITH page AS (
                SELECT
                    r.period_year,
                    r.review_count,
                    r.reviewer_id
                FROM review_api.reviewer_rollups AS r
                WHERE
                    r.period_year = $1
                    AND r.review_count >= $2
                    AND (r.%1$I, r.reviewer_id) %2$s (%4$s)
                ORDER BY r.%1$I %3$s, r.reviewer_id %3$s
                LIMIT $3
            )

            SELECT
                r.reviewer_id,
                (
                    SELECT n.reviewer_name
                    FROM review_api.reviews AS n
                    WHERE n.reviewer_id = r.reviewer_id AND n.reviewer_name IS NOT NULL
                    ORDER BY n.review_time_unix DESC, n.review_index DESC
                    LIMIT 1
                ) AS reviewer_name,
                r.review_count::BIGINT,
                r.average_rating,
                r.rating_1::BIGINT,
                r.rating_2::BIGINT,
                r.rating_3::BIGINT,
                r.rating_4::BIGINT,
                r.rating_5::BIGINT,
                r.verified_review_count::BIGINT,
                r.helpful_votes,
                r.first_review_date,
                r.last_review_date,
                r.%1$I::DOUBLE PRECISION AS sort_value
            FROM page AS p
            INNER JOIN review_api.reviewer_rollups AS r
                ON
                    r.period_year = p.period_year
                    AND r.review_count = p.review_count
                    AND r.reviewer_id = p.reviewer_id
            ORDER BY r.%1$I %3$s, r.reviewer_id %3$s
            $sql$,
            top_reviewers.sort,
            CASE WHEN descending THEN '<' ELSE '>' END,
            CASE WHEN descending THEN 'DESC' ELSE 'ASC' END,
            CASE WHEN top_reviewers.sort = 'average_rating' THEN '$6, $7' ELSE '$4, $5' END
        ) USING
            rollup_year,
            top_reviewers.min_reviews,
            top_reviewers.max_rows,
            whole_value,
            whole_id,
            real_value,
            real_id;
        RETURN;
    END IF;

    IF descending AND top_reviewers.sort IN ('review_count', 'helpful_votes') THEN
        -- Any other range, largest first, by an additive key: threshold pruning. The range
        -- lies in the calendar years first_year..last_year (k of them); a reviewer whose key
        -- over the range is at least T has a key of at least T / k in one of those years
        -- (the range's part of a year is at most the year). T is taken from the exact keys
        -- of a few reviewers (the max_rows largest of each year, four times as many for votes,
        -- from the cursor on): the max_rows-th largest of them that would be on this page.
        -- The page's reviewers all
        -- have a key of at least T, so only the reviewers of those years' rollups with a key
        -- of at least ceil(T / k) are aggregated exactly, each from its own index range.
        first_year := coalesce(
            date_part('year', top_reviewers.from_date::TIMESTAMP)::SMALLINT,
            (
                SELECT min(r.period_year)
                FROM review_api.reviewer_rollups AS r
                WHERE r.period_year > 0
            )
        );
        last_year := coalesce(
            date_part('year', top_reviewers.to_date::TIMESTAMP)::SMALLINT,
            (SELECT max(r.period_year) FROM review_api.reviewer_rollups AS r)
        );
        EXECUTE format(
            $sql$
            WITH seeds AS (
                SELECT DISTINCT s.reviewer_id
                FROM generate_series($1::INTEGER, $2::INTEGER) AS y (period_year)
                CROSS JOIN LATERAL (
                    SELECT r.reviewer_id
                    FROM review_api.reviewer_rollups AS r
                    WHERE r.period_year = y.period_year AND r.%1$I <= $3
                    ORDER BY r.%1$I DESC, r.reviewer_id DESC
                    LIMIT $4 * %2$s
                ) AS s
            ),

            exact AS (
                SELECT
                    s.reviewer_id,
                    a.review_count,
                    a.helpful_votes
                FROM seeds AS s
                CROSS JOIN LATERAL (
                    SELECT
                        count(*) AS review_count,
                        coalesce(sum(r.helpful_votes), 0) AS helpful_votes
                    FROM review_api.reviews AS r
                    WHERE
                        r.reviewer_id = s.reviewer_id
                        AND r.review_date >= $5
                        AND r.review_date < $6
                ) AS a
            ),

            on_page AS (
                SELECT e.%1$I AS key
                FROM exact AS e
                WHERE
                    e.review_count >= greatest($7, 1)
                    AND (e.%1$I::DOUBLE PRECISION, e.reviewer_id) < ($8, $9)
                ORDER BY e.%1$I DESC
                LIMIT $4
            )

            SELECT CASE WHEN count(*) = $4 THEN min(p.key) END
            FROM on_page AS p
            $sql$,
            top_reviewers.sort,
            -- Votes are lumpy (one review may carry thousands): a year's leaders by votes
            -- often got them outside the range, so take more of them. Review counts are
            -- smooth: the max_rows leaders of each year give a close threshold.
            CASE WHEN top_reviewers.sort = 'helpful_votes' THEN 4 ELSE 1 END
        ) INTO threshold USING
            first_year,
            last_year,
            whole_value,
            top_reviewers.max_rows,
            first_day,
            end_day,
            top_reviewers.min_reviews,
            real_value,
            real_id;
        IF threshold IS NOT NULL AND top_reviewers.sort = 'review_count' THEN
            threshold := greatest(threshold, top_reviewers.min_reviews);
        END IF;
        IF threshold > 0 THEN
            RETURN QUERY EXECUTE format(
                $sql$
                WITH candidates AS (
                    SELECT DISTINCT c.reviewer_id
                    FROM generate_series($1::INTEGER, $2::INTEGER) AS y (period_year)
                    CROSS JOIN LATERAL (
                        SELECT r.reviewer_id
                        FROM review_api.reviewer_rollups AS r
                        WHERE r.period_year = y.period_year AND r.%1$I >= $3
                    ) AS c
                ),

                totals AS (
                    SELECT
                        c.reviewer_id,
                        a.*
                    FROM candidates AS c
                    CROSS JOIN LATERAL (
                        SELECT
                            count(*) AS review_count,
                            sum(r.rating)::DOUBLE PRECISION / count(*) AS average_rating,
                            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
                            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
                            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
                            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
                            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
                            count(*) FILTER (WHERE r.verified) AS verified_review_count,
                            coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
                            min(r.review_date) AS first_review_date,
                            max(r.review_date) AS last_review_date
                        FROM review_api.reviews AS r
                        WHERE
                            r.reviewer_id = c.reviewer_id
                            AND r.review_date >= $4
                            AND r.review_date < $5
                    ) AS a
                )

                SELECT
                    t.reviewer_id,
                    (
                        SELECT n.reviewer_name
                        FROM review_api.reviews AS n
                        WHERE n.reviewer_id = t.reviewer_id AND n.reviewer_name IS NOT NULL
                        ORDER BY n.review_time_unix DESC, n.review_index DESC
                        LIMIT 1
                    ) AS reviewer_name,
                    t.review_count,
                    t.average_rating,
                    t.rating_1,
                    t.rating_2,
                    t.rating_3,
                    t.rating_4,
                    t.rating_5,
                    t.verified_review_count,
                    t.helpful_votes,
                    t.first_review_date,
                    t.last_review_date,
                    t.%1$I::DOUBLE PRECISION AS sort_value
                FROM totals AS t
                WHERE
                    t.review_count >= greatest($6, 1)
                    AND (t.%1$I::DOUBLE PRECISION, t.reviewer_id) < ($7, $8)
                ORDER BY t.%1$I DESC, t.reviewer_id DESC
                LIMIT $9
                $sql$,
                top_reviewers.sort
            ) USING
                first_year,
                last_year,
                ceil(threshold::DOUBLE PRECISION / (last_year - first_year + 1))::BIGINT,
                first_day,
                end_day,
                top_reviewers.min_reviews,
                real_value,
                real_id,
                top_reviewers.max_rows;
            RETURN;
        END IF;
        -- No threshold: fewer than max_rows reviewers seen on this page (a last page, or
        -- max_rows NULL for every row): aggregate every reviewer.
    END IF;

    -- Any other range, sort or direction: every reviewer's aggregates over the range, from
    -- one pass over reviews_reviewer_date_idx, then the page's rows by the sort value.
    RETURN QUERY
    WITH totals AS (
        SELECT
            r.reviewer_id,
            count(*) AS review_count,
            sum(r.rating)::DOUBLE PRECISION / count(*) AS average_rating,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
            count(*) FILTER (WHERE r.verified) AS verified_review_count,
            coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
            min(r.review_date) AS first_review_date,
            max(r.review_date) AS last_review_date
        FROM review_api.reviews AS r
        WHERE r.review_date >= first_day AND r.review_date < end_day
        GROUP BY r.reviewer_id
        HAVING count(*) >= top_reviewers.min_reviews
    ),

    keyed AS (
        SELECT
            t.*,
            CASE top_reviewers.sort
                WHEN 'review_count' THEN t.review_count::DOUBLE PRECISION
                WHEN 'average_rating' THEN t.average_rating
                WHEN 'helpful_votes' THEN t.helpful_votes::DOUBLE PRECISION
                WHEN 'verified_review_count' THEN t.verified_review_count::DOUBLE PRECISION
            END AS sort_value
        FROM totals AS t
    )

    SELECT
        k.reviewer_id,
        (
            SELECT n.reviewer_name
            FROM review_api.reviews AS n
            WHERE n.reviewer_id = k.reviewer_id AND n.reviewer_name IS NOT NULL
            ORDER BY n.review_time_unix DESC, n.review_index DESC
            LIMIT 1
        ) AS reviewer_name,
        k.review_count,
        k.average_rating,
        k.rating_1,
        k.rating_2,
        k.rating_3,
        k.rating_4,
        k.rating_5,
        k.verified_review_count,
        k.helpful_votes,
        k.first_review_date,
        k.last_review_date,
        k.sort_value
    FROM keyed AS k
    WHERE
        CASE
            WHEN descending THEN (k.sort_value, k.reviewer_id) < (real_value, real_id)
            ELSE (k.sort_value, k.reviewer_id) > (real_value, real_id)
        END
    ORDER BY
        CASE WHEN descending THEN k.sort_value END DESC,
        CASE WHEN descending THEN k.reviewer_id END DESC,
        k.sort_value ASC,
        k.reviewer_id ASC
    LIMIT top_reviewers.max_rows;
END
$$;

COMMENT ON FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) IS $$
Reviewers ranked by their reviews in an optional date range: most reviewed, best or worst rated, most helpful votes, most verified reviews.
One row per reviewer with at least min_reviews reviews in the range, max_rows at most,
ordered by sort in sort_order, ties by reviewer_id in the same direction (the order is total).
A row carries the additive aggregates of the range: review count, average rating, rating
distribution, verified reviews, helpful votes, first and last review day. Distinct counts
(distinct products) are not there: they do not add up
across periods, so no rollup can hold them; the reviewer's summary gives them.

Pages are keyset pages: the next page is the call with after_value and after_id set to the
sort_value and reviewer_id of the last row (rows strictly after them in the ranking's order;
after_id NULL counts as the empty id). Never OFFSET: a deep page costs what the first does.
A calendar year (from_date YYYY-01-01, to_date YYYY-12-31) or all time (no dates) reads the
rollups (review_api.reviewer_rollups), one index range; any other range aggregates the reviews,
by threshold pruning over the yearly rollups for review_count and helpful_votes descending.
Every answer is exact: the same rows in the same order as aggregating the reviews.

Examples, the most reviewed of 2016, the best rated with at least 10 reviews, the next page:
SELECT * FROM review_api.top_reviewers('2016-01-01', '2016-12-31');
SELECT * FROM review_api.top_reviewers(sort => 'average_rating', min_reviews => 10);
SELECT * FROM review_api.top_reviewers(after_value => 42, after_id => 'B000068NW5');
@route GET /v1/reviewers
@returns list
@example {"items": [{"reviewer_id": "A967DKFSD3GG8R", "reviewer_name": "Wei Kim", "review_count": 16, "average_rating": 4.5625, "rating_distribution": {"1": 0, "2": 0, "3": 1, "4": 5, "5": 10}, "verified_review_count": 16, "helpful_votes": 9701, "first_review_date": "2012-02-02", "last_review_date": "2018-01-15"}, {"reviewer_id": "AE4JWCDW18T48K", "reviewer_name": "J\u00fcrgen Novak", "review_count": 36, "average_rating": 4.305555555555555, "rating_distribution": {"1": 4, "2": 0, "3": 1, "4": 7, "5": 24}, "verified_review_count": 34, "helpful_votes": 2200, "first_review_date": "2010-05-13", "last_review_date": "2018-09-16"}], "next": "/v1/reviewers?sort=helpful_votes&limit=2&after=eyJ2IjoiMSIsInEiOiI3Mjg4YzFkYTE1OWExOGMyIiwiayI6WzIyMDAuMCwiQUU0SldDRFcxOFQ0OEsiXX0"}
@param from_date from
@param to_date to
@param sort_order order
@param max_rows limit
@argument from_date First review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after to. A calendar year (from YYYY-01-01 to YYYY-12-31) or no dates at all is read from the rollups.
@argument to_date Last review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not before from.
@argument sort What to rank by: review_count (default), average_rating, helpful_votes or verified_review_count.
@argument sort_order desc (default), largest first, or asc, smallest first (the worst rated); ties by reviewer_id in the same direction.
@argument min_reviews {"enum": [1, 5, 10, 25, 50, 100]} Only reviewers with at least this many reviews in the range: 1 (default), 5, 10, 25, 50 or 100, so that 2 five-star reviews do not top the best rated unless asked.
@argument max_rows {"minimum": 1, "maximum": 100} Rows per page, 1 to 100 (default 20).
@argument after_value The sort value of the previous page's last row (set by the cursor).
@argument after_id The reviewer_id of the previous page's last row (set by the cursor).
@limit max_rows
@cursor after: after_value=sort_value after_id=reviewer_id
@hidden sort_value
@group rating_distribution rating_
@range from_date to_date
@column reviewer_id Reviewer (user) id.
@column reviewer_name {"type": ["string", "null"]} The reviewer's latest display name over all time (as in the reviewer summary), null when none of their reviews carries one.
@column review_count {"minimum": 1} Reviews in the range.
@column average_rating {"minimum": 1, "maximum": 5} Mean star rating givenin the range, sum / count, unrounded.
@column rating_distribution Reviews in the range per star rating, keys "1" to "5", always all five.
@column rating_1 {"minimum": 0} Reviews in the range with 1 star.
@column rating_2 {"minimum": 0} Reviews in the range with 2 stars.
@column rating_3 {"minimum": 0} Reviews in the range with 3 stars.
@column rating_4 {"minimum": 0} Reviews in the range with 4 stars.
@column rating_5 {"minimum": 0} Reviews in the range with 5 stars.
@column verified_review_count {"minimum": 0} Reviews in the range marked as verified purchases.
@column helpful_votes {"minimum": 0} Sum of the helpful votes of the reviews in the range (no vote counts 0).
@column first_review_date First review day in the range, YYYY-MM-DD (UTC).
@column last_review_date Last review day in the range, YYYY-MM-DD (UTC).
$$;

-- 0005 revoked EXECUTE from PUBLIC on the functions that existed then, and 0008's default
-- privileges cover only objects created by the role that ran it: say it here, whoever
-- migrates.
REVOKE EXECUTE ON FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) FROM PUBLIC;  -- noqa: CP02
GRANT EXECUTE ON FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) TO reviews_reader;
REVOKE EXECUTE ON FUNCTION review_api.rollup_period(DATE, DATE) FROM PUBLIC;  -- noqa: CP02
GRANT EXECUTE ON FUNCTION review_api.rollup_period(DATE, DATE) TO reviews_reader;
GRANT SELECT ON review_api.product_rollups, review_api.reviewer_rollups TO reviews_reader;
