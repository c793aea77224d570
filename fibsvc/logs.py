"""Structured logs: every line the service writes, its own or a library's, is one JSON object.

structlog renders both its own events and stdlib records (gunicorn, OpenTelemetry, warnings)
through one ProcessorFormatter, so there is exactly one format. gunicorn receives it as its
``logconfig_dict``.
"""

import logging
import os
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any, TextIO

import structlog
from gunicorn import glogging
from structlog.typing import EventDict, Processor, WrappedLogger

from fibsvc.log_export import ship_to_otlp

# OpenTelemetry's exporters warn on every failed export; a dead collector must not flood the log.
EXPORT_WARNING_INTERVAL_SECONDS = 60.0


def add_pid(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Add the process id, which tells gunicorn's workers apart."""
    event_dict["pid"] = os.getpid()
    return event_dict


def shared_processors() -> list[Processor]:
    """Return the processors every event passes, whether from structlog or the stdlib."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_pid,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def renderer(log_format: str) -> list[Processor]:
    """Return the final processors: a copy over OTLP when configured, then JSON or a console for people."""
    if log_format == "console":
        return [ship_to_otlp, structlog.dev.ConsoleRenderer()]
    return [ship_to_otlp, structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]


class RateLimitFilter(logging.Filter):
    """Let through at most one warning a minute from loggers under ``prefix``; count the rest.

    The first record after a quiet interval carries ``suppressed``: how many were dropped.
    """

    def __init__(
        self,
        prefix: str = "opentelemetry",
        interval: float = EXPORT_WARNING_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefix = prefix
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_allowed = 0.0
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for a warning inside the current interval."""
        if record.levelno < logging.WARNING or not record.name.startswith(self._prefix):
            return True
        now = self._clock()
        with self._lock:
            if now < self._next_allowed:
                self._suppressed += 1
                return False
            self._next_allowed = now + self._interval
            record.suppressed = self._suppressed
            self._suppressed = 0
        return True


def logging_config(log_format: str, log_level: str) -> dict[str, Any]:
    """Return the dictConfig for the stdlib and gunicorn: one handler, one formatter, to stdout."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *renderer(log_format),
                ],
                "foreign_pre_chain": [
                    *shared_processors(),
                    structlog.stdlib.add_logger_name,
                    structlog.stdlib.ExtraAdder(("suppressed",)),
                ],
            }
        },
        "filters": {"rate_limit_export_warnings": {"()": RateLimitFilter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "structlog",
                "filters": ["rate_limit_export_warnings"],
            }
        },
        "root": {"handlers": ["stdout"], "level": log_level.upper()},
        "loggers": {
            # gunicorn gives its loggers their own handlers unless told to hand records to the root.
            "gunicorn.error": {"handlers": [], "propagate": True, "level": log_level.upper()},
            "gunicorn.access": {"handlers": [], "propagate": False},
        },
    }


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger without its access log, which fibsvc's request line replaces.

    gunicorn builds every access line's fields whenever a logging config is given, even
    with no access log, and that costs as much per request as the app's own line.
    """

    def _compute_access_log_enabled(self) -> bool:
        return False


def configure_structlog(log_format: str, log_level: str, file: TextIO | None = None) -> None:
    """Render structlog's own events straight to stdout, in the format of logging_config.

    The app's events skip the stdlib's logging machinery (a third of the cost of a request
    line); libraries' records still go through it and come out the same shape.
    """
    structlog.configure(
        processors=[*shared_processors(), *renderer(log_format)],
        logger_factory=structlog.WriteLoggerFactory(file=file or sys.stdout),
        wrapper_class=structlog.make_filtering_bound_logger(log_level.upper()),
        cache_logger_on_first_use=True,
    )
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: types.TracebackType | None
) -> None:
    app_logger("fibsvc").critical("uncaught_exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        app_logger("fibsvc").critical(
            "uncaught_exception",
            thread=args.thread.name if args.thread else None,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )


def app_logger(name: str) -> Any:
    """Return a structlog logger whose events carry ``logger=name``, like the stdlib's records."""
    return structlog.get_logger().bind(logger=name)
