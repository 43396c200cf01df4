-- The PostgreSQL side of `reviews-api load` (service/loader.py), in the order it runs.
-- The work is done by the procedures of migrations/postgres/0006.loader-procedures.sql;
-- these statements only drive them. The rows themselves travel by binary COPY into
-- review_admin.reviews_staging (asyncpg's copy_records_to_table), between steps 1 and 3.
-- Steps 2 and 3 run on several sessions at once; the others on the session holding the lock.

-- name: try_load_lock()$
-- True when this session now holds the load lock; false when another load holds it.
-- A session-level advisory lock, so a killed loader releases it with its connection.
-- Advisory locks are per database: loads into different databases do not wait for
-- each other. The key is arbitrary but fixed: 1919252087 is 'revw' in ASCII.
SELECT pg_try_advisory_lock(1919252087) AS acquired;

-- name: load_lock_holder()^
-- The session holding the load lock (pid, application name, connection time), if any.
-- A bigint advisory key shows in pg_locks as classid (high half), objid (low half).
SELECT
    a.pid,
    a.application_name,
    a.backend_start
FROM pg_catalog.pg_locks AS l
INNER JOIN pg_catalog.pg_stat_activity AS a ON l.pid = a.pid
WHERE
    l.locktype = 'advisory'
    AND a.datname = current_database()
    AND l.classid = 0
    AND l.objid = 1919252087
    AND l.objsubid = 1
    AND l.granted;

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

-- name: vacuum_staging_table()!
-- Load step 4: set the visibility map (index-only scans) and gather planner statistics.
-- VACUUM cannot run inside a transaction: the loader sends it on its own.
VACUUM (ANALYZE) review_admin.reviews_staging;

-- name: publish_staging_table(source_name, source_checksum, expected_rows, started_at)!
-- Load step 5: check the row count and swap the staged rows in, in one short transaction.
CALL review_admin.publish_staging_table(
    :source_name, :source_checksum, :expected_rows, :started_at
);

-- name: latest_load_id()$
-- The data version now live: the newest load's id.
SELECT max(l.load_id) AS load_id
FROM public.data_loads AS l;

-- name: database_name()$
-- The database the loader is connected to, for its report.
SELECT current_database() AS database_name;
