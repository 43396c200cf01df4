#!/bin/sh
# First start of the compose.yaml `db` service only (the postgres image runs
# /docker-entrypoint-initdb.d/* when its data volume is empty, as the superuser): the
# same one-time set-up a DBA runs by hand (deploy/postgres-setup.sql, mounted by
# compose.yaml), for the database `reviews` and the two logins of README "Production on
# PostgreSQL", neither a superuser:
#
#   reviews_owner   owns the database `reviews`: `reviews-api migrate` and `load`
#   reviews_api     the service's read-only login, member of reviews_reader only
#
# The passwords come from the environment (.env), never from a file in the repository.
# Later password changes: ALTER ROLE ... PASSWORD, then update .env.
set -eu

: "${REVIEWS_OWNER_PASSWORD:?set REVIEWS_OWNER_PASSWORD in .env}"
: "${REVIEWS_API_PASSWORD:?set REVIEWS_API_PASSWORD in .env}"

psql --no-psqlrc --set ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set database=reviews \
    --set owner=reviews_owner --set owner_password="$REVIEWS_OWNER_PASSWORD" \
    --set service_login=reviews_api --set service_password="$REVIEWS_API_PASSWORD" \
    --file /reviews-api/postgres-setup.sql
