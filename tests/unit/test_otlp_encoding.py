"""The direct encoders write exactly the bytes the SDK's protobuf-object encoders write."""

import logging
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as sdk_encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.exporter.otlp.proto.grpc import _log_exporter as grpc_log_module
from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_trace_module
from opentelemetry.exporter.otlp.proto.http import _log_exporter as http_log_module
from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_trace_module
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from fibsvc import log_export, otlp_encoding, telemetry

INT64 = st.integers(-(2**63), 2**63 - 1)
SCALARS = st.one_of(st.text(max_size=12), st.booleans(), INT64, st.floats(), st.binary(max_size=8))
VALUES = st.one_of(
    SCALARS,
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(INT64, max_size=3),
    st.lists(st.floats(), max_size=3),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=2),
    st.none(),
    # Beyond int64: both encoders log it and leave the attribute out.
    st.integers(2**63, 2**70),
)
# What a log record's body may be: anything the SDK's encoder accepts.
BODIES = st.one_of(
    SCALARS,
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=2),
)
ATTRIBUTES = st.dictionaries(st.text(max_size=16), VALUES, max_size=5)
NANOS = st.integers(0, 2**64 - 1)


@st.composite
def bounded_attributes(draw: st.DrawFn) -> Mapping[str, Any]:
    """Draw attributes as a plain dict, or bounded so that some were dropped (the count is sent)."""
    attributes = draw(ATTRIBUTES)
    if not draw(st.booleans()):
        return attributes
    return BoundedAttributes(maxlen=draw(st.integers(0, 3)), attributes=attributes, immutable=False)


@st.composite
def span_contexts(draw: st.DrawFn) -> SpanContext:
    """Draw a valid span context, local or remote, sometimes with trace state."""
    state = draw(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["1", "x-y"])), max_size=2))
    return SpanContext(
        trace_id=draw(st.integers(1, 2**128 - 1)),
        span_id=draw(st.integers(1, 2**64 - 1)),
        is_remote=draw(st.booleans()),
        trace_flags=TraceFlags(draw(st.sampled_from([0, 1]))),
        trace_state=TraceState(list(dict(state).items())),
    )


SCOPES = st.one_of(
    st.none(),
    st.builds(
        InstrumentationScope,
        name=st.text(max_size=8),
        version=st.one_of(st.none(), st.text(max_size=4)),
        schema_url=st.one_of(st.none(), st.just("https://opentelemetry.io/schemas/1.21.0")),
        attributes=st.one_of(
            st.none(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)
        ),
    ),
)
RESOURCES = st.sampled_from(
    [
        Resource.get_empty(),
        Resource({"service.name": "fibsvc", "service.version": "1.0.0", "process.pid": 42}),
        Resource({"deployment.environment": "test", "tags": ("a", "b")}, schema_url="https://example.test/s"),
    ]
)
STATUSES = st.one_of(
    st.builds(Status, st.sampled_from([StatusCode.UNSET, StatusCode.OK])),
    st.builds(Status, st.just(StatusCode.ERROR), st.one_of(st.none(), st.text(max_size=10))),
)


@st.composite
def spans(draw: st.DrawFn) -> ReadableSpan:
    """Draw a finished span with any mix of what a span may hold."""
    events = [
        Event(draw(st.text(max_size=8)), draw(bounded_attributes()), timestamp=draw(NANOS))
        for _ in range(draw(st.integers(0, 2)))
    ]
    links = [Link(draw(span_contexts()), draw(bounded_attributes())) for _ in range(draw(st.integers(0, 2)))]
    return ReadableSpan(
        name=draw(st.text(max_size=20)),
        context=draw(span_contexts()),
        parent=draw(st.one_of(st.none(), span_contexts())),
        resource=draw(RESOURCES),
        attributes=draw(bounded_attributes()),
        events=BoundedList.from_seq(draw(st.integers(0, 3)), events) if draw(st.booleans()) else events,
        links=BoundedList.from_seq(draw(st.integers(0, 3)), links) if draw(st.booleans()) else links,
        kind=draw(st.sampled_from(list(SpanKind))),
        status=draw(STATUSES),
        start_time=draw(st.one_of(st.none(), NANOS)),
        end_time=draw(st.one_of(st.none(), NANOS)),
        instrumentation_scope=draw(SCOPES),
    )


@st.composite
def log_records(draw: st.DrawFn) -> ReadableLogRecord:
    """Draw a log record as the SDK hands it to an exporter, with or without a trace context."""
    in_trace = draw(st.booleans())
    fields: dict[str, Any] = {
        "timestamp": draw(st.one_of(st.none(), NANOS)),
        "observed_timestamp": draw(NANOS),
        "trace_id": draw(st.integers(1, 2**128 - 1)) if in_trace else 0,
        "span_id": draw(st.integers(1, 2**64 - 1)) if in_trace else 0,
        "trace_flags": TraceFlags(draw(st.sampled_from([0, 1]))),
        "severity_text": draw(st.one_of(st.none(), st.sampled_from(["INFO", "ERROR", ""]))),
        "severity_number": draw(st.one_of(st.none(), st.sampled_from(list(SeverityNumber)))),
        "body": draw(BODIES),
        "attributes": draw(bounded_attributes()),
        "event_name": draw(st.one_of(st.none(), st.text(max_size=8))),
    }
    return ReadableLogRecord(
        LogRecord(**fields), resource=draw(RESOURCES), instrumentation_scope=draw(SCOPES)
    )


def assert_encoded_as_the_sdk_does(
    batch: Sequence[Any],
    sdk_encode: Callable[[Any], Any],
    encode_request: Callable[[Any], bytes],
    encode_message: Callable[[Any], Any],
) -> None:
    """Check both forms of fibsvc's encoding, the bytes and the message, against the SDK's bytes."""
    logging.disable(logging.ERROR)
    try:
        expected = sdk_encode(batch).SerializeToString()
        assert encode_request(batch) == expected
        assert encode_message(batch).SerializeToString() == expected
    finally:
        logging.disable(logging.NOTSET)


@settings(max_examples=300, deadline=None)
@given(st.lists(spans(), max_size=6))
def test_span_bytes_are_the_sdk_encoders(batch: list[ReadableSpan]) -> None:
    """Field for field and byte for byte, whatever the spans hold, grouped the same way."""
    assert_encoded_as_the_sdk_does(
        batch, sdk_encode_spans, otlp_encoding.encode_spans_request, otlp_encoding.encode_spans
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(log_records(), max_size=6))
def test_log_record_bytes_are_the_sdk_encoders(batch: list[ReadableLogRecord]) -> None:
    """The same for log records: bodies of every kind, trace context or none, severities."""
    assert_encoded_as_the_sdk_does(
        batch, sdk_encode_logs, otlp_encoding.encode_logs_request, otlp_encoding.encode_logs
    )


def test_a_server_span_as_the_service_makes_it() -> None:
    """The common case, spelt out: a remote parent, the HTTP attributes, the fibonacci ones."""
    parent = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True)
    span = ReadableSpan(
        name="GET /fibonacci/{n}",
        context=SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7, is_remote=False),
        parent=parent,
        resource=Resource({"service.name": "fibsvc"}),
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "fibonacci.cache_hit": True,
        },
        kind=SpanKind.SERVER,
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_000_250_000,
        instrumentation_scope=InstrumentationScope("opentelemetry.instrumentation.falcon", "0.66b1"),
    )
    request = otlp_encoding.encode_spans([span])
    decoded = request.resource_spans[0].scope_spans[0].spans[0]
    assert decoded.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert decoded.parent_span_id.hex() == "b7ad6b7169203331"
    assert decoded.kind == decoded.SPAN_KIND_SERVER
    assert decoded.flags == 0x300  # the parent's remoteness is known, and it was remote
    assert {kv.key: kv.value for kv in decoded.attributes}["http.response.status_code"].int_value == 200
    assert request.SerializeToString() == sdk_encode_spans([span]).SerializeToString()


def test_an_attribute_that_cannot_be_encoded_is_logged_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    """As the SDK's encoder does: the rest of the span is still sent."""
    span = ReadableSpan("s", SpanContext(1, 1, False), attributes={"big": 2**64, "ok": 1})
    with caplog.at_level(logging.ERROR, logger=otlp_encoding.__name__):
        decoded = otlp_encoding.encode_spans([span]).resource_spans[0].scope_spans[0].spans[0]
    assert [kv.key for kv in decoded.attributes] == ["ok"]
    assert "Failed to encode key big" in caplog.text


def test_a_span_without_a_context_is_refused_by_name() -> None:
    """Only hand-made spans lack one; the error says which span, rather than failing on None."""
    with pytest.raises(ValueError, match="span 'orphan' has no span context"):
        otlp_encoding.encode_spans_request([ReadableSpan("orphan")])


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_otlp_exporters_use_it(protocol: str) -> None:
    """Asking for an OTLP exporter, of spans or of logs, switches its module to the direct encoder."""
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    span_exporter = telemetry.otlp_exporter(environ)
    log_exporter = log_export.otlp_log_exporter(environ)
    trace_module, log_module = (
        (grpc_trace_module, grpc_log_module) if protocol == "grpc" else (http_trace_module, http_log_module)
    )
    assert isinstance(span_exporter, trace_module.OTLPSpanExporter)
    assert isinstance(log_exporter, log_module.OTLPLogExporter)
    assert trace_module.encode_spans is otlp_encoding.encode_spans
    assert log_module.encode_logs is otlp_encoding.encode_logs
    for exporter in (span_exporter, log_exporter):
        assert exporter is not None
        exporter.shutdown()


def test_an_exporter_module_that_no_longer_encodes_this_way_stops_the_start() -> None:
    """If an SDK upgrade renames the hook, the worker fails loudly rather than silently slow."""
    with pytest.raises(RuntimeError, match="no longer encodes with encode_spans or encode_logs"):
        otlp_encoding.use_fast_encoding(types.ModuleType("renamed_exporter"))
