#!/bin/sh
# Entry point of the reviews-api image (the Dockerfile's ENTRYPOINT): one command per job
# the image does, so `docker run IMAGE migrate` reads like the README. It runs outside a
# container too (tests/test_deployment.py runs it with .venv/bin on the PATH).
#
#   serve                    the HTTP API (the default); WORKERS defaults to the CPUs
#                            this container may use
#   migrate [ARGS...]        reviews-api migrate ARGS (owner login: MIGRATION_DATABASE_URL)
#   load --source FILE ...   reviews-api load --source FILE (owner login: the same)
#   healthcheck              exit 0 when GET /health/ready answers 200 (the HEALTHCHECK)
#
# Configuration comes only from the environment (README, "Configuration").
set -eu

usage() {
    cat >&2 <<'USAGE'
usage: docker-entrypoint.sh [serve]
       docker-entrypoint.sh migrate [apply|rollback|list|break-lock] [--database-url URL]
       docker-entrypoint.sh load --source /data/FILE [--database-url URL]
       docker-entrypoint.sh healthcheck
USAGE
}

# The CPUs this process may use: nproc (the scheduler affinity: --cpuset-cpus), lowered to
# the cgroup's CPU quota (--cpus) when one is set: cgroup v2 `cpu.max` ("QUOTA PERIOD", or
# "max PERIOD" for none), cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: none).
# A fractional quota rounds down, never below 1: with 1.5 CPUs a second worker would only
# be throttled. REVIEWS_API_CGROUP_ROOT exists for the tests (default /sys/fs/cgroup).
cpu_count() {
    cpus=$(nproc)
    root=${REVIEWS_API_CGROUP_ROOT:-/sys/fs/cgroup}
    quota=max
    period=100000
    if [ -r "$root/cpu.max" ]; then
        read -r quota period <"$root/cpu.max"
    elif [ -r "$root/cpu/cpu.cfs_quota_us" ] && [ -r "$root/cpu/cpu.cfs_period_us" ]; then
        quota=$(cat "$root/cpu/cpu.cfs_quota_us")
        period=$(cat "$root/cpu/cpu.cfs_period_us")
    fi
    case "$quota$period" in
        *[!0-9]* | '') ;; # "max", -1 or anything unexpected: no quota
        *)
            if [ "$period" -gt 0 ]; then
                limit=$((quota / period))
                if [ "$limit" -lt 1 ]; then limit=1; fi
                if [ "$limit" -lt "$cpus" ]; then cpus=$limit; fi
            fi
            ;;
    esac
    echo "$cpus"
}

if [ "$#" -eq 0 ]; then
    set -- serve
fi
command=$1
shift

case "$command" in
    serve)
        if [ -z "${WORKERS:-}" ]; then
            WORKERS=$(cpu_count)
            export WORKERS
        fi
        # exec: the server is the container's main process and gets SIGTERM itself.
        exec reviews-api serve "$@"
        ;;
    migrate | load)
        exec reviews-api "$command" "$@"
        ;;
    healthcheck)
        # The standard library only: slim images have no curl. Any answer but 200 (a 503
        # while the database is unreachable), or none, is unhealthy.
        exec python -c '
import os, sys, urllib.request
host = os.environ.get("HOST", "").strip()
host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
host = f"[{host}]" if ":" in host else host
port = os.environ.get("PORT", "").strip() or "8000"
try:
    with urllib.request.urlopen(f"http://{host}:{port}/health/ready", timeout=4) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception as error:
    sys.exit(f"not ready: {error}")
'
        ;;
    *)
        echo "docker-entrypoint.sh: unknown command: $command" >&2
        usage
        exit 64 # EX_USAGE
        ;;
esac
