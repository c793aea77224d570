"""Settings read from the environment once, at start, and validated there.

Every setting has a documented default; a bad value raises ConfigError with one
line naming the variable and the accepted range, so the process stops before it
binds rather than failing on the first request.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from fibsvc.indices import CANONICAL_INTEGER, shorten

MIB = 1024 * 1024
_LONGEST_INTEGER = 20
_HIGHEST_PORT = 65535
_BIND = re.compile(r"unix:/\S+|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})")


class ConfigError(ValueError):
    """A setting in the environment is invalid; the message is one line."""


@dataclass(frozen=True)
class Settings:
    """What the application needs to answer requests."""

    max_n: int = 1_000_000
    max_count: int = 10_000
    max_sequence_bytes: int = 8 * MIB
    cache_bytes: int = 32 * MIB

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
        )


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn.conf.py takes from the environment."""

    bind: str
    workers: int
    threads: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ServerSettings":
        """Build the server settings from FIBSVC_BIND, WEB_CONCURRENCY and FIBSVC_THREADS."""
        return cls(
            bind=_bind(environ, "FIBSVC_BIND", "127.0.0.1:5000"),
            workers=_integer(environ, "WEB_CONCURRENCY", default_workers(), 1, 256),
            threads=_integer(environ, "FIBSVC_THREADS", 4, 1, 256),
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
