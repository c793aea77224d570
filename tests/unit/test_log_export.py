"""Shipping log records over OTLP: when it happens, and what a record carries."""

from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from fibsvc.log_export import otlp_log_exporter, ship_to_otlp, shutdown_log_export, start_shipping
from fibsvc.settings import ConfigError, ServerSettings


class TestWhetherToShip:
    def test_no_endpoint_ships_nothing(self) -> None:
        """Without an OTLP endpoint there is nowhere to ship, so no exporter."""
        assert otlp_log_exporter({}) is None

    @pytest.mark.parametrize(
        "environ",
        [
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_LOGS_EXPORTER": "none"},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
        ],
    )
    def test_none_or_a_disabled_sdk_ships_nothing(self, environ: dict[str, str]) -> None:
        """OTEL_LOGS_EXPORTER=none and OTEL_SDK_DISABLED=true each turn shipping off."""
        assert otlp_log_exporter(environ) is None

    @pytest.mark.parametrize(
        ("environ", "module"),
        [
            ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "opentelemetry.exporter.otlp.proto.http"),
            (
                {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://c:4318/v1/logs"},
                "opentelemetry.exporter.otlp.proto.http",
            ),
            (
                {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
                "opentelemetry.exporter.otlp.proto.grpc",
            ),
            (
                {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"},
                "opentelemetry.exporter.otlp.proto.grpc",
            ),
        ],
    )
    def test_an_endpoint_ships_over_the_configured_protocol(
        self, environ: dict[str, str], module: str
    ) -> None:
        """An endpoint turns shipping on by default, over http/protobuf unless grpc is asked for."""
        exporter = otlp_log_exporter(environ)
        assert exporter is not None
        assert type(exporter).__module__.startswith(module)
        exporter.shutdown()

    @pytest.mark.parametrize("value", ["console", "zipkin", "loki"])
    def test_an_unknown_logs_exporter_stops_the_start(self, value: str) -> None:
        """OTEL_LOGS_EXPORTER accepts otlp or none; anything else is one line naming it."""
        with pytest.raises(ConfigError, match="OTEL_LOGS_EXPORTER must be one of otlp, none"):
            ServerSettings.from_env({"OTEL_LOGS_EXPORTER": value})


class TestRecords:
    @pytest.fixture
    def shipped(self) -> Iterator[InMemoryLogRecordExporter]:
        """Ship to memory for one test, then stop shipping."""
        exporter = InMemoryLogRecordExporter()
        provider = LoggerProvider()
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        start_shipping(provider)
        yield exporter
        shutdown_log_export()

    def test_a_record_carries_fields_severity_and_the_current_span(
        self, shipped: InMemoryLogRecordExporter
    ) -> None:
        """The event is the body; fields become attributes; the current span's ids come along."""
        tracer = TracerProvider().get_tracer("test")
        event = {
            "event": "http_request",
            "level": "warning",
            "logger": "fibsvc.request",
            "n": 5,
            "skip": None,
        }
        with tracer.start_as_current_span("request") as span:
            assert ship_to_otlp(None, "warning", dict(event)) == event
        (record,) = [data.log_record for data in shipped.get_finished_logs()]
        assert record.body == "http_request"
        assert record.severity_text == "WARNING"
        assert dict(record.attributes or {}) == {"logger": "fibsvc.request", "n": 5}
        assert (record.trace_id, record.span_id) == (
            span.get_span_context().trace_id,
            span.get_span_context().span_id,
        )

    def test_values_outside_otlp_types_become_strings(self, shipped: InMemoryLogRecordExporter) -> None:
        """An int beyond 64 bits or a structure is shipped as text, not dropped."""
        ship_to_otlp(None, "info", {"event": "e", "level": "info", "big": 10**30, "pair": (1, 2)})
        (data,) = shipped.get_finished_logs()
        assert dict(data.log_record.attributes or {}) == {"big": str(10**30), "pair": "(1, 2)"}

    def test_an_exception_is_shipped_as_its_standard_fields(self, shipped: InMemoryLogRecordExporter) -> None:
        """exc_info becomes exception.type, .message and .stacktrace."""
        try:
            raise ValueError("boom")
        except ValueError as error:
            ship_to_otlp(None, "error", {"event": "failed", "level": "error", "exc_info": error})
        (data,) = shipped.get_finished_logs()
        attributes = dict(data.log_record.attributes or {})
        assert (attributes["exception.type"], attributes["exception.message"]) == ("ValueError", "boom")
        assert "raise ValueError" in str(attributes["exception.stacktrace"])

    def test_opentelemetrys_own_records_are_not_shipped(self, shipped: InMemoryLogRecordExporter) -> None:
        """An exporter's warning about itself would loop through the exporter."""
        ship_to_otlp(
            None, "warning", {"event": "export failed", "level": "warning", "logger": "opentelemetry.sdk"}
        )
        assert shipped.get_finished_logs() == ()

    def test_nothing_is_shipped_before_shipping_starts(self) -> None:
        """Without a provider the processor only passes the event on."""
        event = {"event": "e", "level": "info"}
        assert ship_to_otlp(None, "info", event) is event
