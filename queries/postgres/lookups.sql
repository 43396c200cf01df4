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

-- name: replay_lag_s()$
-- Readiness: how many seconds the data read here is behind the primary's. 0 on a primary,
-- and on a standby that has replayed all the WAL it received: the time since the last
-- replayed commit grows while the primary is idle, and only measures a lag while received
-- WAL waits to be replayed (replay paused, or held by a query: max_standby_streaming_delay).
SELECT
    CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0
        ELSE
            greatest(
                coalesce(extract(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0), 0
            )
    END::DOUBLE PRECISION AS replay_lag_s;
