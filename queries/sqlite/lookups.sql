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
SELECT
    'sqlite-' || count(*) || '-' || coalesce(max(r."index"), -1) AS data_version,
    NULL AS loaded_at
FROM "reviews" AS r;

-- name: replay_lag_s()$
-- Readiness: a SQLite file has no primary to lag behind.
SELECT 0.0 AS replay_lag_s;
