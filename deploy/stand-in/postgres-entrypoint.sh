#!/bin/sh
# Entry point of the stand-in PostgreSQL image (scripts/container-base), ONLY for machines
# that cannot pull postgres:16 from a registry: Debian's postgresql-15 started the way the
# official image starts, for what compose.yaml's db service uses.
#
#   - An empty $PGDATA is initialised once: the superuser $POSTGRES_USER (postgres) with
#     $POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), UTF8, any
#     address over TCP with POSTGRES_HOST_AUTH_METHOD (scram-sha-256), trust on the Unix
#     socket and loopback; the database $POSTGRES_DB (default: the user's name); then
#     /docker-entrypoint-initdb.d/* in name order (*.sh run, or sourced when not
#     executable; *.sql and *.sql.gz through psql) against a server on the Unix socket
#     only, so nothing reaches it over TCP before they are done.
#   - Then `postgres` runs in the foreground as the postgres user (SIGINT: fast shutdown).
#
# Differs from postgres:16 (README, "Deployment"): PostgreSQL 15 without JIT, locale
# C.UTF-8 (the official image: en_US.utf8), uid of Debian's postgres user, no *_FILE
# secrets and no POSTGRES_INITDB_WALDIR.
set -eu

case "${1:-}" in
    -*) set -- postgres "$@" ;; # only options: for the server, as the official image does
esac

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" -eq 0 ]; then
    # A new volume belongs to root: hand it to postgres, then run as postgres.
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

initialise() {
    POSTGRES_USER=${POSTGRES_USER:-postgres}
    POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo "postgres-entrypoint: set POSTGRES_PASSWORD (the superuser's password)" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$password_file"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS are several words
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$password_file" \
        --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$password_file"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
    export PGUSER="$POSTGRES_USER" POSTGRES_USER POSTGRES_DB
    if [ "$POSTGRES_DB" != postgres ]; then
        # From stdin: psql quotes :"db" as an identifier there, not in --command.
        echo 'CREATE DATABASE :"db";' \
            | psql --no-psqlrc --set ON_ERROR_STOP=1 --dbname=postgres --set db="$POSTGRES_DB" \
                >/dev/null
    fi
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sh)
                echo "postgres-entrypoint: running $file"
                # shellcheck disable=SC1090 # whatever the folder holds
                if [ -x "$file" ]; then "$file"; else . "$file"; fi
                ;;
            *.sql)
                echo "postgres-entrypoint: running $file"
                psql --no-psqlrc --set ON_ERROR_STOP=1 --dbname="$POSTGRES_DB" --file="$file"
                ;;
            *.sql.gz)
                echo "postgres-entrypoint: running $file"
                gzip -dc "$file" | psql --no-psqlrc --set ON_ERROR_STOP=1 --dbname="$POSTGRES_DB"
                ;;
            */\*) ;; # an empty or missing folder
            *) echo "postgres-entrypoint: ignoring $file" ;;
        esac
    done
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    echo "postgres-entrypoint: initialised $PGDATA"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initialise
fi
exec "$@"
