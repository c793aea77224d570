"""The log format: one JSON object a line, from structlog and from the stdlib alike."""

import io
import json
import logging
import logging.config
import warnings
from collections.abc import Iterator

import pytest
import structlog

from fibsvc.logs import RateLimitFilter, app_logger, configure_structlog, logging_config


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """Return the time the test has set."""
        return self.now


def record(name: str, level: int = logging.WARNING) -> logging.LogRecord:
    """Return a log record from logger ``name``."""
    return logging.LogRecord(name, level, __file__, 1, "export failed", None, None)


class TestRateLimitFilter:
    def test_one_export_warning_a_minute_passes(self) -> None:
        """Within a minute only the first OpenTelemetry warning passes; the next one counts the rest."""
        clock = FakeClock()
        limit = RateLimitFilter(clock=clock)
        assert limit.filter(record("opentelemetry.exporter.otlp"))
        assert not limit.filter(record("opentelemetry.sdk.trace"))
        assert not limit.filter(record("opentelemetry.exporter.otlp", logging.ERROR))
        clock.now += 59
        assert not limit.filter(record("opentelemetry.exporter.otlp"))
        clock.now += 2
        later = record("opentelemetry.exporter.otlp")
        assert limit.filter(later)
        assert getattr(later, "suppressed", None) == 3

    def test_other_loggers_and_lower_levels_are_untouched(self) -> None:
        """Only OpenTelemetry's warnings are limited."""
        limit = RateLimitFilter(clock=FakeClock())
        assert limit.filter(record("opentelemetry.exporter.otlp"))
        assert limit.filter(record("gunicorn.error"))
        assert limit.filter(record("opentelemetry.sdk", logging.INFO))


@pytest.fixture
def json_stream() -> Iterator[io.StringIO]:
    """Configure logging as the server does, but into a string; restore everything afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    config = logging_config("json", "info")
    logging.config.dictConfig(config)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    configure_structlog("json", "info", stream)
    yield stream
    logging.captureWarnings(False)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.reset_defaults()


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    """Return each written line parsed as JSON."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestJsonLines:
    def test_structlog_and_stdlib_events_share_one_format(self, json_stream: io.StringIO) -> None:
        """An app event and a library's stdlib record both carry timestamp, level, event, logger, pid."""
        app_logger("fibsvc.test").info("fibonacci_computed", n=5)
        logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
        app_line, library_line = lines_of(json_stream)
        for line in (app_line, library_line):
            assert {"timestamp", "level", "event", "logger", "pid"} <= set(line)
            assert str(line["timestamp"]).endswith("Z")
        assert app_line["n"] == 5
        assert library_line["event"] == "Booting worker with pid: 42"

    def test_exceptions_are_a_structured_field(self, json_stream: io.StringIO) -> None:
        """A logged exception is data on one line, not a multi-line dump."""
        try:
            1 / 0  # noqa: B018 - raise something real
        except ZeroDivisionError:
            logging.getLogger("fibsvc.test").exception("failed")
        (line,) = lines_of(json_stream)
        exception = line["exception"]
        assert isinstance(exception, list)
        assert exception[0]["exc_type"] == "ZeroDivisionError"

    def test_python_warnings_become_json_lines(self, json_stream: io.StringIO) -> None:
        """warnings.warn is routed through logging, so it is JSON too."""
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("careful", UserWarning, stacklevel=1)
        (line,) = lines_of(json_stream)
        assert line["logger"] == "py.warnings"
        assert "careful" in str(line["event"])
