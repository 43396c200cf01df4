# syntax=docker/dockerfile:1
# The reviews-api image: `serve` (the default), `migrate`, `load`; see
# scripts/docker-entrypoint.sh and compose.yaml.  Build: make image (scripts/container-image).
# It holds no database, no tests and no configuration: everything is set through the
# environment at run time (README, "Configuration").

# The Python both stages run on. Only where no registry answers: a stand-in built from
# Debian's packages (scripts/container-base), e.g. via `make image BASE_IMAGE=...`.
ARG BASE_IMAGE=python:3.11-slim

# ---- build: a virtual environment with the pinned runtime dependencies ----------------
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# A regular install, as a user's: the SQL of queries/ and migrations/ travels inside the
# package (service.sql_queries, service.sql_migrations; pyproject.toml), so the venv holds
# everything the service runs and the runtime stage needs no source tree.
#
# First the dependencies alone: they need only the metadata (pyproject.toml, README.md for
# its readme field) and placeholder packages, so this layer is rebuilt only when they
# change, not on every change of the code. The runtime dependencies only, never `[dev]`,
# at the versions of constraints.txt: the ones the tests ran with.
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
# build_ca: a CA bundle pip must trust where downloads pass a TLS-intercepting proxy
# (scripts/container-image lends it as a secret: it is never stored in a layer). Both
# installs need it: the first downloads the dependencies, each builds the wheel with a
# setuptools it downloads.
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi \
    && mkdir -p service/http service/catalog service/store service/load queries migrations \
    && touch service/__init__.py service/http/__init__.py service/catalog/__init__.py \
        service/store/__init__.py service/load/__init__.py queries/__init__.py migrations/__init__.py \
    && pip install --constraint constraints.txt . \
    && pip uninstall --yes reviews-api \
    && rm -rf service queries migrations build
# Then the project itself, its SQL included.
COPY service ./service
COPY queries ./queries
COPY migrations ./migrations
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi \
    && pip install --no-deps --constraint constraints.txt . && rm -rf build

# ---- runtime ---------------------------------------------------------------------------
# The same base as the build stage: the venv's python is a link to its interpreter.
FROM ${BASE_IMAGE} AS runtime

# A system user with a fixed numeric uid/gid (10001), so Kubernetes' runAsNonRoot can
# check it. The code below stays owned by root: the service cannot modify itself.
RUN groupadd --system --gid 10001 reviews \
    && useradd --system --uid 10001 --gid reviews --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin reviews

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000

# Only what runs: the venv (the package, its SQL, its bytecode compiled by pip as root, so
# read-only for the service) and the entry point.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chmod=0755 scripts/docker-entrypoint.sh ./scripts/docker-entrypoint.sh

USER 10001:10001
EXPOSE 8000
# GET http://127.0.0.1:$PORT/health/ready with the Python standard library (no curl in a
# slim image): the `healthcheck` command of the entry point, which the tests run too.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/scripts/docker-entrypoint.sh", "healthcheck"]
# SIGTERM (Docker's default) is a graceful stop: in-flight requests get GRACEFUL_SHUTDOWN_S
# (15 s by default), so stop with a longer timeout (`docker stop -t 20`; compose.yaml sets
# stop_grace_period).
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["serve"]
