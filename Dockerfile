# syntax=docker/dockerfile:1
#
# One image for every Jingzhun process (gateway, registry, planning, assessment, migrations, CLI).
# The process is chosen by the command: the default CMD runs the gateway; docker-compose.yml and
# deploy/k8s/ override it for the three services and the migration job.
#
# Nothing secret is baked in: database URLs, client secrets and the JWT signing key arrive at run time as
# environment variables or mounted files (see deploy/k8s/README.md). .dockerignore keeps .env and *.pem out
# of the build context so they cannot be copied in by accident.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------------
# build: resolve the locked dependencies and install the project into a self-contained virtualenv.
# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, on their own layer, so source edits do not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# The project itself; --no-deps because everything it needs is already pinned by requirements.lock.
# README.md is needed because pyproject.toml names it as the package readme.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY gateway ./gateway
COPY services ./services
COPY ops ./ops
RUN pip install --no-cache-dir --no-deps .

# ---------------------------------------------------------------------------------------------------------
# runtime: the virtualenv only (no source tree, no build caches), run as an unprivileged user.
# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only in Kubernetes, so never try to write .pyc files.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Fixed numeric uid/gid 10001 so Kubernetes' runAsNonRoot can verify it and file ownership is predictable.
# /keys exists (owned by the app user) only so that the development `keys` volume in docker-compose.yml is
# initialised writable for that user; the image itself contains no keys.
RUN groupadd --system --gid 10001 jingzhun \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin jingzhun \
 && install -d -o 10001 -g 10001 -m 0750 /keys

COPY --from=build /opt/venv /opt/venv

# An empty, root-owned working directory: `python -m` and uvicorn put the cwd on sys.path, so it must not
# be writable by the app user (imports come from the installed package in /opt/venv).
WORKDIR /app
USER 10001:10001

# gateway, registry, planning, assessment
EXPOSE 8000 8001 8002 8003

# No HEALTHCHECK here: the port differs per process, so compose and Kubernetes define their own (/readyz).
CMD ["uvicorn", "--factory", "gateway.main:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--no-proxy-headers", "--no-server-header", "--no-access-log", "--loop", "uvloop", "--http", "shared.httpserver:ProblemHttpToolsProtocol"]
