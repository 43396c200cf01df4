-- Existence checks and the readiness probe. The service asks "does this id exist at all?"
-- only when a summary counted no reviews, to tell 404 (unknown id) from an empty period.

-- name: product_exists(product_id)$
-- True when the product has at least one review.
SELECT exists(
    SELECT 1
    FROM review_api.reviews AS r
    WHERE r.product_id = :product_id
) AS product_exists;

-- name: reviewer_exists(reviewer_id)$
-- True when the reviewer wrote at least one review.
SELECT exists(
    SELECT 1
    FROM review_api.reviews AS r
    WHERE r.reviewer_id = :reviewer_id
) AS reviewer_exists;

-- name: ping()$
-- Readiness probe: one cheap read through the service's grants, of the load history rather
-- than the reviews, which a load's switch locks for a moment (readiness must not flap then).
SELECT count(*) >= 0 AS reachable
FROM review_api.data_loads;

-- name: current_load()^
-- The data being served, for ETags and metrics: the id of the load now live (0 before the
-- first load) and when it went live, in Unix seconds.
SELECT
    coalesce(max(l.load_id), 0)::TEXT AS data_version,
    extract(EPOCH FROM max(l.finished_at))::DOUBLE PRECISION AS loaded_at
FROM review_api.data_loads AS l;
