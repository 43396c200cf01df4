-- The service's own lookups on PostgreSQL: the readiness probe and the data version. The
-- data endpoints run the statements of the API catalog (queries/catalog.json), which call
-- the functions of schema review_api.

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
