-- depends: 0013.dataset-from-rollups
-- review_admin.load_blockers() covers the rollup tables too (migration 0012 publishes
-- public.product_rollups and public.reviewer_rollups in the same swap as public.reviews):
-- an object bound to a retired rollup table would follow it out of sight, or be lost with
-- it, exactly as one on public.reviews would. Same signature and column; the objects on
-- public.reviews are described as before, those on a rollup table name it.

CREATE OR REPLACE FUNCTION review_admin.load_blockers()
RETURNS TABLE (description TEXT)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
    WITH published (table_oid, view_oid) AS (
        -- Each table a load replaces, and the view of the contract over it (which the
        -- publish recreates on the new table).
        VALUES
            ('public.reviews'::REGCLASS, 'review_api.reviews'::REGCLASS),
            ('public.product_rollups'::REGCLASS, 'review_api.product_rollups'::REGCLASS),
            ('public.reviewer_rollups'::REGCLASS, 'review_api.reviewer_rollups'::REGCLASS)
    ),

    blockers (table_oid, description) AS (
        SELECT
            t.table_oid,
            pg_describe_object('pg_class'::REGCLASS, r.ev_class, 0)
        FROM published AS t
        INNER JOIN pg_depend AS d
            ON
                d.refobjid = t.table_oid
                AND d.classid = 'pg_rewrite'::REGCLASS
                AND d.refclassid = 'pg_class'::REGCLASS
        INNER JOIN pg_rewrite AS r ON d.objid = r.oid
        WHERE r.ev_class NOT IN (t.view_oid, t.table_oid)
        UNION
        SELECT
            t.table_oid,
            pg_describe_object(d.classid, d.objid, 0)
        FROM published AS t
        INNER JOIN pg_depend AS d
            ON
                d.refobjid = t.table_oid
                AND d.classid = 'pg_proc'::REGCLASS
                AND d.refclassid = 'pg_class'::REGCLASS
        UNION
        SELECT
            t.table_oid,
            format('foreign key %I on %s', c.conname, c.conrelid::REGCLASS)
        FROM published AS t
        INNER JOIN pg_constraint AS c
            ON c.contype = 'f' AND t.table_oid IN (c.conrelid, c.confrelid)
        UNION
        SELECT
            t.table_oid,
            format('trigger %I on %s', tg.tgname, t.table_oid)
        FROM published AS t
        INNER JOIN pg_trigger AS tg ON tg.tgrelid = t.table_oid AND NOT tg.tgisinternal
        UNION
        SELECT
            t.table_oid,
            format('rule %I on %s', r.rulename, t.table_oid)
        FROM published AS t
        INNER JOIN pg_rewrite AS r ON r.ev_class = t.table_oid
        UNION
        SELECT
            t.table_oid,
            format('policy %I on %s', p.polname, t.table_oid)
        FROM published AS t
        INNER JOIN pg_policy AS p ON p.polrelid = t.table_oid
        UNION
        SELECT
            t.table_oid,
            format('row level security on %s', t.table_oid)
        FROM published AS t
        INNER JOIN pg_class AS c ON c.oid = t.table_oid AND c.relrowsecurity
    )

    SELECT
        CASE
            WHEN
                b.table_oid = 'public.reviews'::REGCLASS
                OR b.description LIKE '% on ' || b.table_oid::TEXT
                THEN b.description
            ELSE b.description || ' (on ' || b.table_oid::TEXT || ')'
        END AS description
    FROM blockers AS b
    ORDER BY description;
$$;

COMMENT ON FUNCTION review_admin.load_blockers() IS
'What depends on a table a load replaces (public.reviews, public.product_rollups, '
'public.reviewer_rollups) that the load cannot carry over to the new table: other views and '
'materialized views, functions with SQL-standard bodies, foreign keys, triggers, rules, '
'policies and row level security. A load refuses to start (and to publish) while any exists.';
