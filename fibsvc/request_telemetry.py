"""One place that sees every request whole: the canonical log line and the HTTP metrics.

It runs as Falcon middleware, inside the server span that the OpenTelemetry
instrumentation opens, because that span has ended and been detached by the time
gunicorn would write an access line.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import falcon
import structlog
from opentelemetry import trace

from fibsvc.logs import app_logger
from fibsvc.metrics import Metrics
from fibsvc.telemetry import OPERATIONAL_PATHS

UNMATCHED_ROUTE = "(unmatched)"


class RequestTelemetry:
    """Falcon middleware: time each request, count it, and log it once with its trace ids."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._log = app_logger("fibsvc.request")

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Note the start time; gthread reuses threads, so clear what the last request bound."""
        structlog.contextvars.clear_contextvars()
        if req.path in OPERATIONAL_PATHS:
            return
        req.context.started = time.perf_counter()
        self._metrics.in_flight.inc()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Record the response in the metrics and write the request's log line."""
        started = req.context.get("started")
        if started is None:
            return
        seconds = time.perf_counter() - started
        route = req.uri_template or UNMATCHED_ROUTE
        status = resp.status_code
        self._metrics.in_flight.dec()
        self._metrics.requests.labels(method=req.method, route=route, status=str(status)).inc()
        self._metrics.duration.labels(route=route).observe(seconds)
        span_context = trace.get_current_span().get_span_context()
        fields: dict[str, Any] = {
            "http.request.method": req.method,
            "http.route": route,
            "url.path": req.path,
            "http.response.status_code": status,
            "duration_ms": round(seconds * 1000, 3),
            "n": req.context.get("n"),
            "cache_hit": req.context.get("cache_hit"),
            "client.address": req.remote_addr,
            "user_agent.original": req.user_agent,
            "trace_id": trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None,
            "span_id": trace.format_span_id(span_context.span_id) if span_context.is_valid else None,
        }
        if resp.stream is not None and req.method != "HEAD":
            # The body is sent after this returns: log when the last chunk has gone.
            # Only this app's own generators are streamed, never file-like objects.
            chunks = cast("Iterable[bytes]", resp.stream)
            resp.stream = CountingStream(chunks, lambda size: self._emit(fields, size))
        else:
            self._emit(fields, len(resp.data or b""))

    def _emit(self, fields: dict[str, Any], body_size: int) -> None:
        level = "error" if fields["http.response.status_code"] >= 500 else "info"  # noqa: PLR2004
        getattr(self._log, level)("http_request", **fields, **{"http.response.body.size": body_size})


class CountingStream:
    """Pass a streamed body through, then report its size once the server closes it."""

    def __init__(self, chunks: Iterable[bytes], on_close: Callable[[int], None]) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self._size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._size += len(chunk)
            yield chunk

    def close(self) -> None:
        """Close the body's own iterator, then report the size sent.

        WSGI servers call this when the response is done or abandoned; closing the generator
        underneath at once runs its cleanup (such as giving back a heavy-work slot).
        """
        close_chunks = getattr(self._chunks, "close", None)
        if close_chunks is not None:
            close_chunks()
        self._on_close(self._size)
