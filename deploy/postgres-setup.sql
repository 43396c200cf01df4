-- The one-time set-up of reviews-api on a PostgreSQL server, run by a superuser with psql
-- (README, "Production on PostgreSQL"); compose.yaml's first start runs it too
-- (deploy/postgres-init/10-reviews-logins.sh):
--
--   psql "postgresql://postgres@db-host/postgres" -v ON_ERROR_STOP=1 \
--       -v database=reviews -v owner=reviews_owner -v owner_password="$OWNER_PASSWORD" \
--       -v service_login=reviews_api -v service_password="$API_PASSWORD" \
--       -f deploy/postgres-setup.sql
--
-- It creates what the migrations must not need a superuser or CREATEROLE for: the roles,
-- the database and its rights. Then, as the owner, `reviews-api migrate` builds the schema.
-- Idempotent: run it again after adding a login to reviews_reader, to give that login the
-- readers' settings, or to reset the two passwords. It never drops anything.
--
--   reviews_reader   NOLOGIN; the read-only rights of the SQL contract (given by migration
--                    0005 and, for later objects, the default privileges of 0008)
--   owner            LOGIN; owns the database and everything the migrations create;
--                    `reviews-api migrate` and `load`. Member of pg_read_all_stats, so that
--                    a load can name the sessions that hold it up (their state and since
--                    when), whoever they belong to.
--   service_login    LOGIN, member of reviews_reader only: `reviews-api serve`
--
-- In the database: PUBLIC may not connect, create temporary tables or create in schema
-- public; reviews_reader may connect. Every login in reviews_reader gets the readers'
-- settings in this database (below).

\set ON_ERROR_STOP on
SELECT
    :{?database} AND :{?owner} AND :{?owner_password} AND :{?service_login}
    AND :{?service_password} AS all_set \gset
\if :all_set
\else
    DO $$ BEGIN RAISE EXCEPTION 'set the psql variables database, owner, owner_password, '
        'service_login and service_password (-v name=value)'; END $$;
\endif

-- Roles are cluster-wide: reviews_reader may exist already (another database of the server).
SELECT 'CREATE ROLE reviews_reader NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'reviews_reader') \gexec
COMMENT ON ROLE reviews_reader IS
'Read-only access to the reviews-api SQL contract (schema review_api).';

SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'owner') \gexec
ALTER ROLE :"owner" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
GRANT pg_read_all_stats TO :"owner";

SELECT format('CREATE ROLE %I LOGIN', :'service_login')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'service_login') \gexec
ALTER ROLE :"service_login" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
PASSWORD :'service_password';
GRANT reviews_reader TO :"service_login";

SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = :'database') \gexec
-- CONNECT and TEMPORARY are PUBLIC's by default: the service's login could create
-- temporary tables, and any login of the server could connect.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO reviews_reader;

-- The readers' settings in this database. PostgreSQL applies a role's settings only to
-- sessions that log in as that very role, never to its members: they are kept here on
-- reviews_reader, and copied below onto every login that is a member of it.
--   jit = off: the summaries are small index-only scans; JIT compiling them (its cost
--     estimate kicks in on a large table) cost a ranking-shaped query 464-496 ms instead
--     of 2.8 ms.
--   idle_in_transaction_session_timeout = 2min: a BI session left idle in a transaction
--     holds its locks and its snapshot, which a load must wait for (up to 300 s by
--     default); the server ends such a session first.
ALTER ROLE reviews_reader IN DATABASE :"database" SET jit = off;
ALTER ROLE reviews_reader IN DATABASE :"database" SET idle_in_transaction_session_timeout = '2min';
SELECT format(
    'ALTER ROLE %I IN DATABASE %I SET %I = %L',
    member.rolname,
    :'database',
    split_part(setting.assignment, '=', 1),
    substr(setting.assignment, strpos(setting.assignment, '=') + 1)
)
FROM pg_catalog.pg_auth_members AS membership
INNER JOIN pg_catalog.pg_roles AS member ON membership.member = member.oid
INNER JOIN pg_catalog.pg_db_role_setting AS readers
    ON readers.setrole = membership.roleid
CROSS JOIN LATERAL unnest(readers.setconfig) AS setting (assignment)
WHERE
    membership.roleid = 'reviews_reader'::regrole
    AND member.rolcanlogin
    AND readers.setdatabase = (
        SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = :'database'
    )
ORDER BY member.rolname, setting.assignment \gexec

-- Inside the database: only the owner creates in schema public (PostgreSQL 15 already
-- denies PUBLIC that; 13 and 14 do not).
\connect :"database"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
