-- Existence checks and the readiness probe. An existence check is the twin of the
-- PostgreSQL function of its name (review_api.product_exists): the service asks it first on
-- a route whose path names the entity, to tell 404 (unknown id) from an empty period.

-- name: product_exists(product_id)^
-- found: true when the product has at least one review.
SELECT exists(
    SELECT 1
    FROM "reviews" AS r
    WHERE r."productID" = :product_id
) AS found;

-- name: reviewer_exists(reviewer_id)^
-- found: true when the reviewer wrote at least one review.
SELECT exists(
    SELECT 1
    FROM "reviews" AS r
    WHERE r."reviewerID" = :reviewer_id
) AS found;

-- name: ping()$
-- Readiness probe: one cheap read of the reviews table (true when it holds a review).
SELECT exists(
    SELECT 1
    FROM "reviews"
) AS reachable;

-- name: current_load()^
-- The data being served, for ETags and metrics: the development file has no load history,
-- so its row count and highest row number stand in for a version, and the time is unknown.
-- Apart, each is cheap (a count of a b-tree's entries, one end of the "index" index); in
-- one aggregate they would read every row. Requests re-read it at most once a second.
WITH row_count AS (
    SELECT count(*) AS review_count
    FROM "reviews"
),

last_row AS (
    SELECT max(r."index") AS last_index
    FROM "reviews" AS r
)

SELECT
    'sqlite-' || c.review_count || '-' || coalesce(l.last_index, -1) AS data_version,
    NULL AS loaded_at
FROM row_count AS c
CROSS JOIN last_row AS l;

-- name: replay_lag_s()$
-- Readiness: a SQLite file has no primary to lag behind.
SELECT 0.0 AS replay_lag_s;
