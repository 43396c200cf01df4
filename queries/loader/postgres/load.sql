-- The PostgreSQL side of `reviews-api load` (service/loader.py), in the order it runs.
-- The work is done by the procedures of migrations/postgres/0006.loader-procedures.sql
-- (as changed by 0007 and 0008); these statements only drive them and check on readers.
-- The rows themselves travel by binary COPY into review_admin.reviews_staging (asyncpg's
-- copy_records_to_table), between steps 1 and 3.
-- Steps 2 and 3 run on several sessions at once; the others on the first session. The load
-- lock is held by a session of its own.

-- name: prepare_session()$
-- Every loader session: notice a client that went away (killed) while a statement runs or
-- waits for a lock, and end the statement. PostgreSQL 14+; older servers skip it.
SELECT set_config('client_connection_check_interval', '1s', FALSE) AS check_interval
WHERE current_setting('server_version_num')::INTEGER >= 140000;

-- name: take_load_lock()!
-- One load at a time: lock review_admin.load_lock for the whole load, in a transaction of
-- a session that does nothing else (so it holds no snapshot), or fail at once
-- (lock_not_available) when another load holds it. Only the owner may lock the table:
-- a reader cannot hold up loads, as it could with an advisory lock.
LOCK TABLE review_admin.load_lock IN EXCLUSIVE MODE NOWAIT;

-- name: load_lock_holders()
-- The sessions holding review_admin.load_lock (a running load), to name them.
SELECT
    a.pid,
    a.usename,
    a.application_name,
    a.state,
    a.backend_start,
    a.xact_start
FROM pg_catalog.pg_locks AS l
INNER JOIN pg_catalog.pg_stat_activity AS a ON l.pid = a.pid
WHERE
    l.locktype = 'relation'
    AND l.relation = 'review_admin.load_lock'::REGCLASS
    AND l.granted
    AND a.datname = current_database();

-- name: load_lock_alive()$
-- Asked on the session holding the load lock before publishing: it still answers.
SELECT TRUE AS alive;

-- name: create_staging_table()!
-- Load step 1: an empty review_admin.reviews_staging (a leftover one is dropped).
CALL review_admin.create_staging_table();

-- name: staging_indexes()
-- Load step 3: the names of the live table's indexes to build on the staged rows, largest
-- first; the loader builds them on several sessions at once (build_staging_index).
SELECT s.index_name
FROM review_admin.staging_indexes() AS s;

-- name: build_staging_index(index_name)!
-- Load step 3, one index: build the live table's index `index_name` on the staged rows.
CALL review_admin.build_staging_index(:index_name);

-- name: copy_end_xid()$
-- After the copy: the first transaction id not yet given out, so every copied row's is
-- below it. A snapshot whose xmin is below it may not see all of them (snapshot_holders).
SELECT pg_snapshot_xmax(pg_current_snapshot())::TEXT AS copy_end_xid;

-- name: vacuum_staging_table()!
-- Load step 4: set the visibility map (index-only scans), freeze the rows (a read-only
-- table then never needs an anti-wraparound vacuum) and gather planner statistics.
-- VACUUM cannot run inside a transaction: the loader sends it on its own.
VACUUM (FREEZE, ANALYZE) review_admin.reviews_staging;

-- name: revacuum_staging_table()!
-- Load step 5, again: mark the pages an older snapshot kept VACUUM from marking.
VACUUM (FREEZE) review_admin.reviews_staging;

-- name: staging_visibility()^
-- Load step 5: pages of the staged rows, and how many VACUUM marked all-visible.
SELECT
    c.relpages,
    c.relallvisible
FROM pg_catalog.pg_class AS c
WHERE c.oid = 'review_admin.reviews_staging'::REGCLASS;

-- name: snapshot_holders(copy_end_xid)
-- Load step 5: sessions of this database whose snapshot (or transaction) is older than the
-- end of the copy, so that VACUUM may not mark the staged rows all-visible; oldest first.
-- Also the standbys' feedback and replication slots, which hold the horizon the same way.
SELECT
    a.pid,
    a.usename,
    a.application_name,
    a.state,
    a.backend_start,
    a.xact_start
FROM pg_catalog.pg_stat_activity AS a
WHERE
    a.datname = current_database()
    AND a.pid <> pg_backend_pid()
    AND greatest(age(a.backend_xmin), age(a.backend_xid))
    > age(cast(:copy_end_xid AS TEXT)::XID8::XID)
UNION ALL
SELECT
    s.pid,
    s.usename,
    'standby ' || s.application_name AS application_name,
    s.state,
    s.backend_start,
    NULL AS xact_start
FROM pg_catalog.pg_stat_replication AS s
WHERE age(s.backend_xmin) > age(cast(:copy_end_xid AS TEXT)::XID8::XID)
UNION ALL
SELECT
    NULL AS pid,
    NULL AS usename,
    'replication slot ' || r.slot_name AS application_name,
    NULL AS state,
    NULL AS backend_start,
    NULL AS xact_start
FROM pg_catalog.pg_replication_slots AS r
WHERE age(r.xmin) > age(cast(:copy_end_xid AS TEXT)::XID8::XID);

-- name: stage_rollups(entity)!
-- Load step 5, after the staged reviews are vacuumed: the rollups of entity ('product' or
-- 'reviewer') in review_admin.<entity>_rollups_staging, without indexes (migration 0012).
CALL review_admin.stage_rollups(:entity);

-- name: staging_rollup_indexes()
-- Load step 5: the rollup tables' indexes to build on their staging copies, each with its
-- entity (product, reviewer), largest first; the loader builds them on several sessions at
-- once, those of an entity once its rollups are staged.
SELECT
    s.entity,
    s.index_name
FROM review_admin.staging_rollup_indexes() AS s;

-- name: build_staging_rollup_index(index_name)!
-- Load step 5, one index: build the rollup index `index_name` on its staging copy.
CALL review_admin.build_staging_rollup_index(:index_name);

-- name: vacuum_staging_product_rollups()!
-- Load step 5: as vacuum_staging_table, for the staged product rollups, once indexed.
VACUUM (FREEZE, ANALYZE) review_admin.product_rollups_staging;

-- name: vacuum_staging_reviewer_rollups()!
-- Load step 5: as vacuum_staging_table, for the staged reviewer rollups, once indexed.
VACUUM (FREEZE, ANALYZE) review_admin.reviewer_rollups_staging;

-- name: revacuum_staging_rollups()!
-- Load step 5, again: mark the pages an older snapshot kept VACUUM from marking.
VACUUM (FREEZE)
review_admin.product_rollups_staging,
review_admin.reviewer_rollups_staging;

-- name: staging_rollups_visibility()^
-- Load step 5: pages of the staged rollups, and how many VACUUM marked all-visible.
SELECT
    sum(c.relpages) AS relpages,
    sum(c.relallvisible) AS relallvisible
FROM pg_catalog.pg_class AS c
WHERE
    c.oid IN (
        'review_admin.product_rollups_staging'::REGCLASS,
        'review_admin.reviewer_rollups_staging'::REGCLASS
    );

-- name: publish_staging_table(source_name, source_checksum, expected_rows, started_at)!
-- Load step 6: check the row count and swap the staged rows in. Called in a transaction the
-- loader commits; lock_not_available when a reader held a table for 200 ms (retried).
CALL review_admin.publish_staging_table(
    :source_name, :source_checksum, :expected_rows, :started_at
);

-- name: publish_lock_holders()
-- Load step 6: the sessions holding the tables the swap locks (readers in a transaction),
-- to name them when publishing gives up; those that held them through the last attempt.
SELECT DISTINCT ON (a.pid)
    a.pid,
    a.usename,
    a.application_name,
    a.state,
    a.backend_start,
    a.xact_start
FROM pg_catalog.pg_locks AS l
INNER JOIN pg_catalog.pg_stat_activity AS a ON l.pid = a.pid
WHERE
    l.locktype = 'relation'
    AND l.granted
    AND l.pid <> pg_backend_pid()
    AND a.datname = current_database()
    AND l.relation IN ('review_api.reviews'::REGCLASS, 'public.reviews'::REGCLASS)
    AND coalesce(a.xact_start, '-infinity') < statement_timestamp() - INTERVAL '0.1 s'
ORDER BY a.pid ASC;

-- name: drop_retired_table()!
-- Load step 7, after the publish committed: drop the previous rows.
CALL review_admin.drop_retired_table();

-- name: latest_load_id()$
-- The data version now live: the newest load's id.
SELECT max(l.load_id) AS load_id
FROM public.data_loads AS l;

-- name: database_name()$
-- The database the loader is connected to, for its report.
SELECT current_database() AS database_name;
