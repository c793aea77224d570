"""Test doubles for the OpenTelemetry Collector: OTLP receivers that speak the real wire format.

No collector binary is available on this machine's registries, so these stand in for it.
They decode what the service sends with the real protobuf definitions (opentelemetry-proto)
and answer as a collector does. Also here: a receiver that refuses connections (a closed
port) and one that accepts and never answers (a black hole).
"""

import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector sees it, ids in W3C hex."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, object]
    service_name: str


class SpanStore:
    """Spans received so far, from any number of export requests."""

    def __init__(self, count_only: bool = False) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.requests = 0
        self.count = 0
        # A benchmark only needs the count, and must not spend the CPU it measures on keeping spans.
        self.count_only = count_only

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        """Keep every span of a decoded export request (only count them if ``count_only``)."""
        with self._lock:
            self.requests += 1
            if self.count_only:
                self.count += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                return
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self._spans.extend(
                        _received(span, str(resource.get("service.name"))) for span in scope_spans.spans
                    )

    def spans(self) -> list[ReceivedSpan]:
        """Return a copy of what has arrived."""
        with self._lock:
            return list(self._spans)

    def wait_for(
        self, predicate: Callable[[ReceivedSpan], bool], deadline_seconds: float = 15
    ) -> list[ReceivedSpan]:
        """Return the spans matching ``predicate`` once any have arrived, polling with a deadline."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            found = [span for span in self.spans() if predicate(span)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching span within {deadline_seconds} s; received {self.spans()}")


@dataclass(frozen=True)
class ReceivedLog:
    """One log record as the collector sees it, trace ids in W3C hex (empty when it has none)."""

    body: str
    severity_text: str
    trace_id: str
    span_id: str
    attributes: dict[str, object]
    service_name: str


class LogStore:
    """Log records received so far, from any number of export requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[ReceivedLog] = []

    def add(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        """Keep every record of a decoded export request."""
        with self._lock:
            for resource_logs in request.resource_logs:
                resource = {a.key: _value(a.value) for a in resource_logs.resource.attributes}
                for scope_logs in resource_logs.scope_logs:
                    self._records.extend(
                        _received_log(record, str(resource.get("service.name")))
                        for record in scope_logs.log_records
                    )

    def records(self) -> list[ReceivedLog]:
        """Return a copy of what has arrived."""
        with self._lock:
            return list(self._records)

    def wait_for(
        self, predicate: Callable[[ReceivedLog], bool], deadline_seconds: float = 15
    ) -> list[ReceivedLog]:
        """Return the records matching ``predicate`` once any have arrived, polling with a deadline."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            found = [record for record in self.records() if predicate(record)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching log record within {deadline_seconds} s")


class HttpReceiver:
    """An OTLP/HTTP (protobuf) receiver of traces and logs on 127.0.0.1, like a collector's port 4318."""

    def __init__(self, count_only: bool = False) -> None:
        self.store = SpanStore(count_only)
        self.logs = LogStore()
        store, logs = self.store, self.logs

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/traces":
                    request = trace_service_pb2.ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    store.add(request)
                    reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                    self.send_response(200)
                elif self.path == "/v1/logs":
                    logs_request = logs_service_pb2.ExportLogsServiceRequest()
                    logs_request.ParseFromString(body)
                    logs.add(logs_request)
                    reply = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
                    self.send_response(200)
                else:
                    reply = b""
                    self.send_response(404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """Return the value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "HttpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class GrpcReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC receiver of traces and logs on 127.0.0.1, like a collector's port 4317."""

    def __init__(self) -> None:
        self.store = SpanStore()
        self.logs = LogStore()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_GrpcLogsService(self.logs), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def Export(  # noqa: N802 - the name the generated gRPC service calls
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Keep the spans and acknowledge them."""
        self.store.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    @property
    def endpoint(self) -> str:
        """Return the value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "GrpcReceiver":
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


class _GrpcLogsService(logs_service_pb2_grpc.LogsServiceServicer):
    """The logs half of the gRPC receiver: keeps the records and acknowledges them."""

    def __init__(self, logs: LogStore) -> None:
        self._logs = logs

    def Export(  # noqa: N802 - the name the generated gRPC service calls
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: object
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        """Keep the records and acknowledge them."""
        self._logs.add(request)
        return logs_service_pb2.ExportLogsServiceResponse()


class BlackHole:
    """A port that accepts connections and never answers: a collector that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._held.append(connection)

    @property
    def endpoint(self) -> str:
        """Return the value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "BlackHole":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()
        for connection in self._held:
            connection.close()
        self._listener.close()


def refused_endpoint() -> str:
    """Return an endpoint where nothing listens, so every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _received(span: Span, service_name: str) -> ReceivedSpan:
    return ReceivedSpan(
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        kind=span.kind,
        attributes={a.key: _value(a.value) for a in span.attributes},
        service_name=service_name,
    )


def _received_log(record: LogRecord, service_name: str) -> ReceivedLog:
    return ReceivedLog(
        body=str(_value(record.body)),
        severity_text=record.severity_text,
        trace_id=record.trace_id.hex(),
        span_id=record.span_id.hex(),
        attributes={a.key: _value(a.value) for a in record.attributes},
        service_name=service_name,
    )


def _value(any_value: object) -> object:
    which = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(any_value, which) if which else None
