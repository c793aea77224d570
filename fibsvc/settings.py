"""Settings read from the environment once, at start, and validated there.

Every setting has a documented default; a bad value raises ConfigError with one
line naming the variable and the accepted range, so the process stops before it
binds rather than failing on the first request.
"""

import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fibsvc.indices import CANONICAL_INTEGER, shorten

MIB = 1024 * 1024
# Set by gunicorn.conf.py for the workers: the server's private directory, fresh at every start.
RUNTIME_DIR_ENV = "FIBSVC_RUNTIME_DIR"
# Created in that directory by the master when a graceful shutdown begins; /readyz then fails.
DRAINING_FLAG = "draining"
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
# Log records go to stdout always; "otlp" also ships them to the OTLP endpoint, when one is set.
LOGS_EXPORTERS = ("otlp", "none")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_LONGEST_INTEGER = 20
_HIGHEST_PORT = 65535
_BIND = re.compile(r"unix:/\S+|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})")


class ConfigError(ValueError):
    """A setting in the environment is invalid; the message is one line."""


def default_heavy_slots() -> int:
    """Return usable cores - 1 (at least 1): heavy work may take all but one core from light work."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


@dataclass(frozen=True)
class Settings:
    """What the application needs to answer requests."""

    max_n: int = 1_000_000
    max_count: int = 10_000
    max_sequence_bytes: int = 8 * MIB
    cache_bytes: int = 32 * MIB
    # An uncached F(n) with |n| at least this is heavy work (F(10^5) has 20,899 digits).
    heavy_n: int = 100_000
    heavy_slots: int = field(default_factory=default_heavy_slots)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """Build the settings from FIBSVC_* variables, defaulting any that are unset."""
        defaults = cls()
        return cls(
            max_n=_integer(environ, "FIBSVC_MAX_N", defaults.max_n, 1, 100_000_000),
            max_count=_integer(environ, "FIBSVC_MAX_COUNT", defaults.max_count, 1, 1_000_000),
            max_sequence_bytes=_integer(
                environ, "FIBSVC_MAX_SEQUENCE_BYTES", defaults.max_sequence_bytes, 1024, 1024 * MIB
            ),
            cache_bytes=_integer(environ, "FIBSVC_CACHE_BYTES", defaults.cache_bytes, 0, 64 * 1024 * MIB),
            heavy_n=_integer(environ, "FIBSVC_HEAVY_N", defaults.heavy_n, 1, 100_000_000),
            heavy_slots=_integer(environ, "FIBSVC_HEAVY_SLOTS", defaults.heavy_slots, 1, 256),
        )


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn.conf.py takes from the environment."""

    bind: str
    workers: int
    threads: int
    log_format: str
    log_level: str
    metrics_dir: str
    drain_seconds: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ServerSettings":
        """Build the server settings from FIBSVC_BIND, WEB_CONCURRENCY, FIBSVC_THREADS and FIBSVC_LOG_*."""
        _check_otel(environ)
        return cls(
            bind=_bind(environ, "FIBSVC_BIND", "127.0.0.1:5000"),
            workers=_integer(environ, "WEB_CONCURRENCY", default_workers(), 1, 256),
            threads=_integer(environ, "FIBSVC_THREADS", 4, 1, 256),
            # A person at a terminal gets colours; anything else (a container, a pipe) gets JSON.
            log_format=_choice(
                environ, "FIBSVC_LOG_FORMAT", "console" if sys.stdout.isatty() else "json", LOG_FORMATS
            ),
            log_level=_choice(environ, "FIBSVC_LOG_LEVEL", "info", LOG_LEVELS),
            metrics_dir=_directory(environ, "FIBSVC_METRICS_DIR", tempfile.gettempdir()),
            drain_seconds=_integer(environ, "FIBSVC_DRAIN_SECONDS", 5, 0, 300),
        )


def default_workers() -> int:
    """Return 2 x usable cores + 1, gunicorn's rule of thumb, counting only the cores we may run on."""
    return 2 * len(os.sched_getaffinity(0)) + 1


def _integer(environ: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    text = environ.get(name)
    if text is None or text == "":
        return default
    value = int(text) if CANONICAL_INTEGER.fullmatch(text) and len(text) <= _LONGEST_INTEGER else None
    if value is None or not minimum <= value <= maximum:
        raise ConfigError(
            f"{name} must be an integer from {minimum} to {maximum} (default {default}); got {shorten(text)}"
        )
    return value


def _bind(environ: Mapping[str, str], name: str, default: str) -> str:
    text = environ.get(name) or default
    match = _BIND.fullmatch(text)
    if match is None or (match.group(2) is not None and not 0 < int(match.group(2)) <= _HIGHEST_PORT):
        raise ConfigError(
            f"{name} must be HOST:PORT (port 1-65535) or unix:/PATH (default {default}); got {shorten(text)}"
        )
    return text


def _choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    text = environ.get(name) or default
    if text.lower() not in choices:
        raise ConfigError(
            f"{name} must be one of {', '.join(choices)} (default {default}); got {shorten(text)}"
        )
    return text.lower()


def _directory(environ: Mapping[str, str], name: str, default: str) -> str:
    path = environ.get(name) or default
    if not (Path(path).is_dir() and os.access(path, os.W_OK | os.X_OK)):
        raise ConfigError(f"{name} must be a writable directory (default {default}); got {shorten(path)}")
    return path


def _check_otel(environ: Mapping[str, str]) -> None:
    """Refuse OTEL_* values that the SDK would only warn about and then ignore."""
    for name in (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        if environ.get(name):
            _choice(environ, name, "http/protobuf", OTLP_PROTOCOLS)
    _choice(environ, "OTEL_LOGS_EXPORTER", "otlp", LOGS_EXPORTERS)
    sampler = _choice(environ, "OTEL_TRACES_SAMPLER", "parentbased_always_on", SAMPLERS)
    ratio = environ.get("OTEL_TRACES_SAMPLER_ARG")
    if sampler.endswith("traceidratio") and ratio:
        try:
            valid = 0.0 <= float(ratio) <= 1.0
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1; got {shorten(ratio)}")
