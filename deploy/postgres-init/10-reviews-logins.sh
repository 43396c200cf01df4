#!/bin/sh
# First start of the compose.yaml `db` service only (the postgres image runs
# /docker-entrypoint-initdb.d/* when its data volume is empty, as the superuser): the
# database and the two logins of README "Production on PostgreSQL", neither a superuser.
#
#   reviews_owner   owns the database `reviews`: `reviews-api migrate` and `load`
#   reviews_api     the service's read-only login, member of reviews_reader only
#
# reviews_reader is created here (NOLOGIN, as migration 0005 would) so that reviews_api
# can join it before the first migration; 0005 then finds it and grants it its rights.
# The passwords come from the environment (.env), never from a file in the repository.
# Later password changes: ALTER ROLE ... PASSWORD, then update .env.
set -eu

: "${REVIEWS_OWNER_PASSWORD:?set REVIEWS_OWNER_PASSWORD in .env}"
: "${REVIEWS_API_PASSWORD:?set REVIEWS_API_PASSWORD in .env}"

# psql's :'name' quotes the variables as SQL literals.
psql --no-psqlrc --set ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set owner_password="$REVIEWS_OWNER_PASSWORD" \
    --set api_password="$REVIEWS_API_PASSWORD" <<'SQL'
CREATE ROLE reviews_owner LOGIN PASSWORD :'owner_password';
CREATE DATABASE reviews OWNER reviews_owner;
REVOKE ALL ON DATABASE reviews FROM PUBLIC;
CREATE ROLE reviews_reader NOLOGIN;
COMMENT ON ROLE reviews_reader IS
'Read-only access to the reviews-api SQL contract (schema review_api).';
GRANT CONNECT ON DATABASE reviews TO reviews_reader;
CREATE ROLE reviews_api LOGIN PASSWORD :'api_password' IN ROLE reviews_reader;
SQL
