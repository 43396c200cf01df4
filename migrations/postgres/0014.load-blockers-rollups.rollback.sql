-- Back to migration 0008's review_admin.load_blockers() (public.reviews only).

CREATE OR REPLACE FUNCTION review_admin.load_blockers()
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
