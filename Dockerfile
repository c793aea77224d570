# The fibsvc image: the runtime lock file installed into a venv, the app beside gunicorn.conf.py, run as uid 10001.
# The lock file was resolved on Python 3.11, so the base stays on 3.11 (Debian 12 "bookworm", slim).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the locked dependencies into /opt/venv; nothing from this stage but the venv is kept.
FROM ${PYTHON_IMAGE} AS build

# The venv has no pip of its own (--without-pip): the base image's pip fills it (--python), so the
# final image carries no installer in the venv. --only-binary: every locked package ships a manylinux
# wheel (gmpy2 bundles GMP), so nothing is compiled and no compiler is ever needed; --require-hashes
# with --no-deps installs exactly what the lock names, nothing resolved at build time.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv --without-pip /opt/venv \
    && python -m pip install --no-cache-dir --disable-pip-version-check --python /opt/venv/bin/python \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock

# --- runtime: the same base, the venv, and the app's source.
FROM ${PYTHON_IMAGE} AS runtime

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it and volume ownership is predictable.
RUN groupadd --system --gid 10001 fibsvc \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin fibsvc

COPY --from=build /opt/venv /opt/venv

# The app is copied, not pip-installed: fibsvc/__main__.py finds gunicorn.conf.py beside the package
# (/app/fibsvc/../gunicorn.conf.py), which a site-packages install would separate, and building the
# project would fetch setuptools outside the hashed lock. PYTHONPATH=/app makes `python -m fibsvc` work
# from any directory. Compiled once here, as root, because the root filesystem is read-only at run time.
WORKDIR /app
COPY fibsvc/ /app/fibsvc/
COPY gunicorn.conf.py /app/gunicorn.conf.py
RUN python -m compileall -q /app/fibsvc /app/gunicorn.conf.py

# PYTHONDONTWRITEBYTECODE: nothing tries to write .pyc files into a read-only filesystem.
# FIBSVC_METRICS_DIR: each start makes its private prometheus multiprocess directory here; /tmp
# must be writable, so a read-only container mounts a tmpfs there (docker-compose.yml does).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FIBSVC_BIND=0.0.0.0:5000 \
    FIBSVC_METRICS_DIR=/tmp \
    FIBSVC_LOG_FORMAT=json

USER 10001:10001
EXPOSE 5000

# Liveness with what the slim image has: Python's urllib (no curl). urlopen raises on a non-2xx answer
# or a refused connection, and the uncaught exception makes the exit status 1 (unhealthy).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=2)"]

# Exec form: python is PID 1 and becomes the gunicorn master, so SIGTERM starts the drain and the
# graceful stop instead of being lost in a shell.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "fibsvc"]
