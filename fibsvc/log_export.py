"""Ship every log record over OTLP as well, with its trace context, when an endpoint is set.

stdout stays the log of record (one JSON object per line, whatever happens to the collector);
the OTLP copy lets a collector pass the records on to Loki, where Grafana links a request's
log line and its trace both ways. Like the tracer provider, the log provider and its export
thread are made in each worker after fork, and flushed when the worker exits.

The copy is taken by a structlog processor that runs for structlog's events and for stdlib
records (gunicorn's, warnings) alike, just before they are rendered. OpenTelemetry's own
records are not shipped: a failing export would otherwise log about itself in a loop.
"""

import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from structlog.typing import EventDict, WrappedLogger

from fibsvc.otlp_encoding import use_fast_encoding
from fibsvc.telemetry import otlp_endpoint_set, otlp_protocol, sdk_disabled, service_resource

SEVERITIES = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "exception": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}
# Fields that become the record's own body, severity and time rather than attributes.
_RECORD_FIELDS = frozenset({"event", "level", "timestamp", "exc_info", "exception"})
_INT64 = range(-(2**63), 2**63)


class _Shipping:
    """This process's OTLP log provider and logger, once configured."""

    provider: LoggerProvider | None = None
    logger: Logger | None = None


def configure_log_export(environ: Mapping[str, str]) -> LoggerProvider | None:
    """Start shipping this process's log records over OTLP; return the provider, or None if not asked."""
    exporter = otlp_log_exporter(environ)
    if exporter is None:
        return None
    provider = LoggerProvider(resource=service_resource())
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    start_shipping(provider)
    return provider


def start_shipping(provider: LoggerProvider) -> None:
    """Send a copy of every log record of this process to ``provider`` from now on."""
    _Shipping.provider = provider
    _Shipping.logger = provider.get_logger("fibsvc")


def otlp_log_exporter(environ: Mapping[str, str]) -> LogRecordExporter | None:
    """Return the OTLP log exporter the environment asks for, or None.

    Records are shipped when an OTLP endpoint is set, unless OTEL_LOGS_EXPORTER is ``none``
    or OTEL_SDK_DISABLED is true.
    """
    if sdk_disabled(environ) or environ.get("OTEL_LOGS_EXPORTER", "otlp").strip().lower() == "none":
        return None
    if not otlp_endpoint_set(environ, "LOGS"):
        return None
    # Imported on demand: each exporter pulls in its own transport (requests, or grpcio).
    if otlp_protocol(environ, "LOGS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import _log_exporter as grpc_module  # noqa: PLC0415

        use_fast_encoding(grpc_module)
        return grpc_module.OTLPLogExporter()
    from opentelemetry.exporter.otlp.proto.http import _log_exporter as http_module  # noqa: PLC0415

    use_fast_encoding(http_module)
    return http_module.OTLPLogExporter()


def shutdown_log_export() -> None:
    """Flush and stop this process's log shipping, if there is any."""
    provider, _Shipping.provider, _Shipping.logger = _Shipping.provider, None, None
    if provider is not None:
        provider.shutdown()


def ship_to_otlp(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Emit a copy of the event as an OTLP log record in the current trace context; pass it on."""
    otel_logger = _Shipping.logger
    if otel_logger is None or str(event_dict.get("logger", "")).startswith("opentelemetry"):
        return event_dict
    level = str(event_dict.get("level", method_name))
    otel_logger.emit(
        timestamp=time.time_ns(),
        severity_number=SEVERITIES.get(level, SeverityNumber.UNSPECIFIED),
        severity_text=level.upper(),
        body=str(event_dict.get("event", "")),
        attributes=_attributes(event_dict),
    )
    return event_dict


def _attributes(event_dict: EventDict) -> dict[str, Any]:
    """Return the event's fields as OTLP attribute values, with any exception as its standard fields."""
    attributes: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key in _RECORD_FIELDS or value is None:
            continue
        if isinstance(value, bool | str | float) or (isinstance(value, int) and value in _INT64):
            attributes[key] = value
        else:
            attributes[key] = str(value)
    error = _exception(event_dict)
    if error is not None:
        attributes["exception.type"] = type(error).__name__
        attributes["exception.message"] = str(error)
        attributes["exception.stacktrace"] = "".join(traceback.format_exception(error))
    return attributes


def _exception(event_dict: EventDict) -> BaseException | None:
    """Return the exception an event carries as ``exc_info``, if any."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True:
        return sys.exc_info()[1]
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):  # noqa: PLR2004
        return exc_info[1]
    return None
