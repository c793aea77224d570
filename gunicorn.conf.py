"""gunicorn settings for fibsvc; every value an operator may change comes from the environment.

Both the application's and the server's settings are validated here, in the master,
before it binds: a bad value stops the start with one line and exit status 2.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fibsvc import log_export, logs, telemetry
from fibsvc.settings import DRAINING_FLAG, RUNTIME_DIR_ENV, ConfigError, ServerSettings, Settings

try:
    Settings.from_env(os.environ)
    _server = ServerSettings.from_env(os.environ)
except ConfigError as error:
    sys.stderr.write(f"fibsvc: invalid configuration: {error}\n")
    sys.exit(2)

# FIBSVC_BIND; 127.0.0.1:5000 by default, the container sets 0.0.0.0:5000.
bind = [_server.bind]
# WEB_CONCURRENCY; default 2 x cores + 1, so a long computation in one worker leaves others free.
workers = _server.workers
# Threads let one worker hold idle keep-alive connections without blocking its other clients.
worker_class = "gthread"
# FIBSVC_THREADS; the GIL makes more threads useless for the arithmetic, so keep a few for I/O.
threads = _server.threads
# Reuse connections briefly; longer than a client's think time, shorter than a proxy's idle timeout.
keepalive = 5
# The largest allowed computation takes well under a second; 30 s only catches a wedged worker.
timeout = 30
# Finish in-flight requests on SIGTERM before Kubernetes' default 30 s grace period runs out.
graceful_timeout = 20
# Recycle workers now and then so a slow leak can never grow without bound; rarely, since a
# restart re-imports the app and empties the worker's cache (at 1,000 req/s a worker lives ~2 min)...
max_requests = 100_000
# ...at staggered moments, so all workers never restart together.
max_requests_jitter = 20_000
# Heartbeat files in RAM: a slow disk must not make the master kill healthy workers.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - gunicorn's advice
# No runtime control socket: nothing here uses gunicornc, and it would write under $HOME.
control_socket_disable = True
# FORWARDED_ALLOW_IPS: proxies trusted to pass the real client address; by default only this host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"

# No access log: the app writes one richer line per request, with its trace id.
accesslog = None
# FIBSVC_LOG_LEVEL, for gunicorn's own messages as for the app's.
loglevel = _server.log_level
# Every line gunicorn writes goes through the same structlog formatter as the app's.
logconfig_dict = logs.logging_config(_server.log_format, _server.log_level)
# ...and it does not build access lines that nothing would print.
logger_class = logs.GunicornLogger


# prometheus_client's multiprocess mode: every worker writes its values to files here.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server: Any) -> None:
    """In the master, before any worker exists: structlog, and a fresh, private runtime directory.

    The directory holds the workers' metric files, their heavy-work slots and the drain flag.
    """
    logs.configure_structlog(_server.log_format, _server.log_level)
    # Never reuse a directory: files left by an earlier server would be counted again.
    runtime_dir = tempfile.mkdtemp(prefix="fibsvc-metrics-", dir=_server.metrics_dir)
    os.environ[MULTIPROC_ENV] = runtime_dir
    os.environ[RUNTIME_DIR_ENV] = runtime_dir


def when_ready(server: Any) -> None:
    """In the master, once listening: make SIGTERM drain before the graceful stop."""
    # gunicorn looks its signal handlers up on the arbiter instance, so this one replaces its own.
    server.handle_term = lambda: drain_then_stop(server)


def drain_then_stop(server: Any) -> None:
    """On SIGTERM: /readyz answers 503 while requests are still served, then stop gracefully.

    Load balancers stop routing here when readiness fails; connections still queued in the
    kernel when the listener closes would be reset, so the drain gives them time to go elsewhere.
    """
    Path(os.environ[RUNTIME_DIR_ENV], DRAINING_FLAG).touch()
    server.log.info(
        "draining: /readyz answers 503; requests are served for %d s before the graceful stop",
        _server.drain_seconds,
    )
    time.sleep(_server.drain_seconds)
    raise StopIteration


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker: its own tracer and log providers and export threads, which cannot cross a fork."""
    telemetry.configure_tracing(os.environ)
    log_export.configure_log_export(os.environ)


# A stopping worker waits at most this long for its last spans and log records to be sent.
TELEMETRY_FLUSH_SECONDS = 5.0


def worker_exit(server: Any, worker: Any) -> None:
    """In a worker that is stopping: flush its last spans and log records, within a deadline."""
    if not telemetry.within_deadline(
        TELEMETRY_FLUSH_SECONDS, telemetry.shutdown_tracing, log_export.shutdown_log_export
    ):
        server.log.warning(
            "telemetry not flushed within %.0f s: the collector is not answering", TELEMETRY_FLUSH_SECONDS
        )


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker has gone: keep its counts, drop its files."""
    # Imported here, after on_starting: prometheus_client fixes its storage at import.
    from fibsvc.metrics import archive_dead_worker  # noqa: PLC0415

    archive_dead_worker(os.environ[MULTIPROC_ENV], worker.pid)


def on_exit(server: Any) -> None:
    """In the master, at the very end: remove this server's metric files."""
    shutil.rmtree(os.environ[MULTIPROC_ENV], ignore_errors=True)
