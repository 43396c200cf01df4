-- What pg_catalog says about the functions of schema review_api, for `reviews-api catalog`
-- (service/catalog/build.py turns it into queries/catalog.json) and for the service's
-- start-up check that the catalogued functions are still there, unchanged. The rules are
-- docs/api-catalog.md's. These queries run under psycopg (the CLI) and asyncpg (the
-- service) alike, on a session of their own: no percent sign (psycopg's placeholder), and
-- JSON is returned as text (each driver decodes json differently; the caller parses it).

-- name: set_catalog_search_path()!
-- Run first, on the same session. With search_path pg_catalog, format_type() and
-- regprocedure qualify every type and function outside pg_catalog (review_api.mood, not
-- mood), so the catalog does not depend on the login's search_path; the date style and
-- float digits fix how constants of defaults print (2016-01-01, exact floats).
SELECT
    set_config('search_path', 'pg_catalog', FALSE) AS search_path,
    set_config('datestyle', 'ISO, YMD', FALSE) AS datestyle,
    set_config('extra_float_digits', '1', FALSE) AS extra_float_digits;

-- name: api_functions()
-- One row per function (or procedure) of schema review_api, routed or not: its signature
-- (oid::regprocedure), name and COMMENT, what decides whether the planner can inline it,
-- and, as JSON text, its IN arguments and its result columns, in order. Arguments come from
-- proallargtypes/proargmodes (modes i, b, v; all IN when the modes are NULL), their
-- defaults from pg_get_function_arg_default (one expression per argument, unlike
-- proargdefaults, whose text cannot be split safely); result columns are the modes o, t, b,
-- else the attributes of a composite return type (dropped columns left out). Enum labels
-- are listed in enumsortorder, the order ALTER TYPE ... ADD VALUE BEFORE gives them.
WITH functions AS (
    SELECT
        p.oid,
        p.proname,
        p.prokind,
        p.prolang,
        p.provolatile,
        p.proisstrict,
        p.prosecdef,
        p.proconfig,
        p.proretset,
        p.prorettype,
        p.proargmodes,
        p.proargnames,
        coalesce(p.proallargtypes, p.proargtypes::OID[]) AS argument_types
    FROM pg_catalog.pg_proc AS p
    INNER JOIN pg_catalog.pg_namespace AS n ON p.pronamespace = n.oid
    WHERE n.nspname = 'review_api'
),

-- Every argument of every function (IN and result ones), and the attributes of composite
-- return types, each with a type and a type modifier (lost on arguments: -1).
typed AS (
    SELECT
        f.oid AS function_oid,
        'argument' AS origin,
        a.position::INTEGER AS position,
        coalesce(a.mode::TEXT, 'i') AS mode,
        nullif(a.name, '') AS name,
        a.type_oid,
        -1 AS type_modifier
    FROM functions AS f
    CROSS JOIN
        LATERAL unnest(f.argument_types, f.proargmodes, f.proargnames)
        WITH ORDINALITY AS a (type_oid, mode, name, position)
    UNION ALL
    SELECT
        f.oid AS function_oid,
        'attribute' AS origin,
        att.attnum::INTEGER AS position,
        't' AS mode,
        att.attname::TEXT AS name,
        att.atttypid AS type_oid,
        att.atttypmod AS type_modifier
    FROM functions AS f
    INNER JOIN pg_catalog.pg_type AS rt ON f.prorettype = rt.oid
    INNER JOIN pg_catalog.pg_attribute AS att ON rt.typrelid = att.attrelid
    WHERE
        rt.typtype = 'c'
        AND att.attnum > 0
        AND NOT att.attisdropped
),

-- What the catalog says of each argument or column: its mode (i, o, b, v, t), its type as
-- written in a signature, the element when it is an array (format_type's own test), the
-- element's kind (b base, e enum, d domain, ...) and its enum labels.
described AS (
    SELECT
        d.function_oid,
        d.origin,
        d.position,
        d.mode,
        json_build_object(
            'name', d.name,
            'mode', d.mode,
            'sql_type', format_type(d.type_oid, d.type_modifier),
            'element_type', format_type(e.oid, NULL),
            'element_kind', e.typtype::TEXT,
            'array', e.oid <> d.type_oid,
            'enum', (
                SELECT json_agg(l.enumlabel ORDER BY l.enumsortorder)
                FROM pg_catalog.pg_enum AS l
                WHERE l.enumtypid = e.oid
            ),
            'default', CASE
                WHEN d.origin = 'argument' AND d.mode IN ('i', 'b', 'v')
                    THEN pg_get_function_arg_default(d.function_oid, d.position)
            END
        ) AS facts
    FROM typed AS d
    INNER JOIN pg_catalog.pg_type AS t ON d.type_oid = t.oid
    INNER JOIN pg_catalog.pg_type AS e
        ON e.oid = CASE WHEN t.typlen = -1 AND t.typelem <> 0 THEN t.typelem ELSE t.oid END
)

SELECT
    f.oid::REGPROCEDURE::TEXT AS signature,
    f.proname::TEXT AS name,
    obj_description(f.oid, 'pg_proc') AS comment,
    f.prokind::TEXT AS kind,
    l.lanname::TEXT AS language,
    f.provolatile::TEXT AS volatility,
    f.proisstrict AS strict,
    f.prosecdef AS security_definer,
    f.proconfig AS config,
    f.proretset AS returns_set,
    format_type(f.prorettype, NULL) AS result_type,
    coalesce(
        (
            SELECT json_agg(d.facts ORDER BY d.position)
            FROM described AS d
            WHERE
                d.function_oid = f.oid
                AND d.origin = 'argument'
                AND d.mode IN ('i', 'b', 'v')
        ),
        '[]'
    )::TEXT AS arguments,
    coalesce(
        (
            SELECT json_agg(d.facts ORDER BY d.position)
            FROM described AS d
            WHERE d.function_oid = f.oid AND d.origin = 'argument' AND d.mode IN ('o', 't', 'b')
        ),
        (
            SELECT json_agg(d.facts ORDER BY d.position)
            FROM described AS d
            WHERE d.function_oid = f.oid AND d.origin = 'attribute'
        ),
        '[]'
    )::TEXT AS columns
FROM functions AS f
INNER JOIN pg_catalog.pg_language AS l ON f.prolang = l.oid
ORDER BY signature;

-- name: endpoint_statement(function_signature, exists_signature)$
-- The exact statement the service prepares for a routed function (docs/api-catalog.md,
-- "The catalog file"). Every argument is passed by name with a cast to its declared type,
-- $n being its position among the IN arguments, so that one prepared statement serves
-- every request and an explicit NULL stays distinct from a default. The result columns
-- are listed: a function changed under the service fails at prepare time rather than
-- answering other fields. With an existence function (exists_signature not NULL), the
-- summary is joined to it, one round trip for "is the id known" and "its figures"; its
-- argument takes the routed function's parameter of the same name; OFFSET 0 keeps its
-- inlined EXISTS in a subquery of its own, evaluated once (pulled up, the planner copies it
-- into each reference to "found" and probes the index twice). Every call stays inlinable
-- (a plain call in FROM, no ORDINALITY), and LATERAL keeps the rows' order.
WITH called AS (
    SELECT
        p.oid,
        p.prorettype,
        p.oid = :function_signature::TEXT::REGPROCEDURE AS routed,
        quote_ident(n.nspname) || '.' || quote_ident(p.proname) AS qualified_name
    FROM pg_catalog.pg_proc AS p
    INNER JOIN pg_catalog.pg_namespace AS n ON p.pronamespace = n.oid
    WHERE
        p.oid IN (
            :function_signature::TEXT::REGPROCEDURE,
            :exists_signature::TEXT::REGPROCEDURE
        )
),

arguments AS (
    SELECT
        c.oid AS function_oid,
        c.routed,
        a.position,
        coalesce(a.mode::TEXT, 'i') AS mode,
        a.name,
        a.type_oid
    FROM called AS c
    INNER JOIN pg_catalog.pg_proc AS p ON c.oid = p.oid
    CROSS JOIN
        LATERAL unnest(
            coalesce(p.proallargtypes, p.proargtypes::OID[]), p.proargmodes, p.proargnames
        ) WITH ORDINALITY AS a (type_oid, mode, name, position)
),

in_arguments AS (
    SELECT
        a.function_oid,
        a.routed,
        a.name,
        a.type_oid,
        row_number() OVER (PARTITION BY a.function_oid ORDER BY a.position) AS parameter
    FROM arguments AS a
    WHERE a.mode IN ('i', 'b', 'v')
),

-- The routed function's result columns: its OUT/TABLE/INOUT arguments, else the
-- attributes of its composite return type.
result_columns AS (
    SELECT
        a.name::TEXT AS name,
        a.position::INTEGER AS position
    FROM arguments AS a
    WHERE a.routed AND a.mode IN ('o', 't', 'b')
    UNION ALL
    SELECT
        att.attname::TEXT AS name,
        att.attnum::INTEGER AS position
    FROM called AS c
    INNER JOIN pg_catalog.pg_type AS rt ON c.prorettype = rt.oid
    INNER JOIN pg_catalog.pg_attribute AS att ON rt.typrelid = att.attrelid
    WHERE
        c.routed
        AND rt.typtype = 'c'
        AND att.attnum > 0
        AND NOT att.attisdropped
        AND NOT EXISTS (
            SELECT FROM arguments AS a
            WHERE a.routed AND a.mode IN ('o', 't', 'b')
        )
),

routed_call AS (
    SELECT
        c.qualified_name || '(' || coalesce(
            (
                SELECT
                    string_agg(
                        quote_ident(a.name) || ' => $' || a.parameter || '::'
                        || format_type(a.type_oid, NULL),
                        ', ' ORDER BY a.parameter
                    )
                FROM in_arguments AS a
                WHERE a.routed
            ),
            ''
        ) || ')' AS call,
        (
            SELECT string_agg('r.' || quote_ident(r.name), ', ' ORDER BY r.position)
            FROM result_columns AS r
        ) AS select_list
    FROM called AS c
    WHERE c.routed
),

exists_call AS (
    SELECT
        c.qualified_name || '(' || coalesce(
            (
                SELECT
                    string_agg(
                        quote_ident(e.name) || ' => $' || a.parameter || '::'
                        || format_type(e.type_oid, NULL),
                        ', ' ORDER BY e.parameter
                    )
                FROM in_arguments AS e
                INNER JOIN in_arguments AS a ON e.name = a.name AND a.routed
                WHERE NOT e.routed
            ),
            ''
        ) || ')' AS call
    FROM called AS c
    WHERE NOT c.routed
),

-- Every statement also answers "?version", the live load's id as current_load reads it
-- (queries/postgres/lookups.sql), from the same snapshot as the rows: a standby replays a
-- load's switch at its own pace, so only the statement itself can say which load an answer
-- (and its ETag) was computed from. It always answers one row at least: a function with no
-- rows gives one row whose "?row" is NULL.
version AS (
    SELECT
        '(SELECT coalesce(max(l.load_id), 0)::text AS "?version"'
        || ' FROM review_api.data_loads AS l) AS v' AS source
)

SELECT
    CASE
        WHEN e.call IS NULL
            THEN
                'SELECT true AS "?found", v."?version", f.* FROM ' || v.source
                || ' LEFT JOIN LATERAL (SELECT true AS "?row", ' || r.select_list
                || ' FROM ' || r.call || ' AS r) AS f ON true'
        ELSE
            'SELECT e.found AS "?found", v."?version", f.* FROM ' || v.source
            || ' CROSS JOIN (SELECT e.found FROM ' || e.call
            || ' AS e OFFSET 0) AS e LEFT JOIN LATERAL (SELECT true AS "?row", ' || r.select_list
            || ' FROM ' || r.call || ' AS r) AS f ON e.found'
    END AS statement
FROM routed_call AS r
CROSS JOIN version AS v
LEFT JOIN exists_call AS e ON TRUE;
