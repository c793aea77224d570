"""Prometheus metrics, aggregated over all gunicorn workers.

Each worker is its own process with its own memory, so a per-worker registry would show a
scraper whichever worker happened to answer. prometheus_client's multiprocess mode has every
worker write its values to files in PROMETHEUS_MULTIPROC_DIR and sums them at scrape time.
Upstream leaves a dead worker's files behind forever, so each recycle makes scrapes slower;
``archive_dead_worker`` folds them into one archive file per metric type instead, under a
lock that scrapes share, so no scrape sees a dead worker's counts twice or not at all.

prometheus_client picks its multiprocess storage when it is first imported, so this module
must not be imported before PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py sets it in
``on_starting``, in the master, before any worker is forked).
"""

import fcntl
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from fibsvc import __version__

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# From 0.5 ms (a cached small n) to 10 s (far beyond any allowed computation).
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DIGIT_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
# Scrapes and the master's archiving of dead workers take turns on this file's lock.
_LOCK_FILE = "scrape.lock"
# Metric types whose values are totals that must outlive the worker that counted them.
_ACCUMULATING_TYPES = ("counter", "histogram")


class Metrics:
    """The service's metrics, registered on a registry of their own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "http_server_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Time from the request reaching the app to its response being ready, by route template.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_server_requests_in_flight",
            "Requests being handled right now, summed over live workers.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.compute = Histogram(
            "fibonacci_compute_seconds",
            "Time to compute and render a Fibonacci number that was not cached.",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.cache_hits = Counter("fibonacci_cache_hits", "Bodies served from the cache.", registry=registry)
        self.cache_misses = Counter("fibonacci_cache_misses", "Bodies computed afresh.", registry=registry)
        self.digits = Histogram(
            "fibonacci_result_digits",
            "Decimal digits of each Fibonacci number served.",
            buckets=DIGIT_BUCKETS,
            registry=registry,
        )
        build_info = Gauge(
            "fibsvc_build_info",
            "Always 1; the labels say what is running.",
            ["version", "python"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        build_info.labels(version=__version__, python=platform.python_version()).set(1)

    def exposition(self) -> bytes:
        """Return the text exposition: every worker's values in multiprocess mode, else this process's."""
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        # Shared with other scrapes; exclusive to the master while it folds a dead worker's files.
        with _directory_lock(directory, fcntl.LOCK_SH):
            return generate_latest(registry)


def archive_dead_worker(directory: str, pid: int) -> None:
    """Fold a dead worker's counters and histograms into the archive files, then drop its files.

    Runs in the gunicorn master (child_exit), one worker at a time, so the archive has one writer.
    Its live gauges are dropped as prometheus_client does.
    """
    mark_process_dead(pid, path=directory)
    # A scrape must see the dead worker's values either in its own file or in the archive,
    # never in both or neither: counters must not jump up, nor go backwards.
    with _directory_lock(directory, fcntl.LOCK_EX):
        _fold_into_archive(directory, pid)


@contextmanager
def _directory_lock(directory: str, operation: int) -> Iterator[None]:
    """Hold the metrics directory's lock (shared for readers, exclusive for the archiver)."""
    descriptor = os.open(Path(directory) / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, operation)
        yield
    finally:
        os.close(descriptor)


def _fold_into_archive(directory: str, pid: int) -> None:
    for kind in _ACCUMULATING_TYPES:
        dead = Path(directory) / f"{kind}_{pid}.db"
        if not dead.exists():
            continue
        archive = MmapedDict(str(Path(directory) / f"{kind}_archive.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(dead)):
                total, _ = archive.read_value(key)
                archive.write_value(key, total + value, timestamp)
        finally:
            archive.close()
        dead.unlink()
