"""The Fibonacci endpoints: one value, and a run of consecutive values."""

import time
from contextlib import nullcontext

import falcon
from opentelemetry import trace

from fibsvc.cache import BodyCache
from fibsvc.capacity import HeavyWorkSlots, released_after
from fibsvc.fib import fibonacci, fibonacci_sequence
from fibsvc.indices import parse_integer
from fibsvc.metrics import Metrics
from fibsvc.problems import INTEGER_OUT_OF_RANGE, INVALID_PARAMETER, OUTPUT_TOO_LARGE, Problem
from fibsvc.render import (
    Form,
    digits_in_body,
    max_sequence_bytes,
    render_sequence,
    render_value,
    sequence_etag,
    value_etag,
)
from fibsvc.settings import Settings

# F(n) never changes, so any cache may keep a body for as long as HTTP allows.
IMMUTABLE = "public, max-age=31536000, immutable"
_AS_CHOICES = {"number": Form.JSON_NUMBER, "string": Form.JSON_STRING}
_OFFERED = ("application/json", "text/plain")


class FibonacciResource:
    """``/fibonacci/{n}``: F(n) for |n| up to the configured limit."""

    def __init__(self, settings: Settings, cache: BodyCache, metrics: Metrics, slots: HeavyWorkSlots) -> None:
        self._max_n = settings.max_n
        self._heavy_n = settings.heavy_n
        self._cache = cache
        self._metrics = metrics
        self._slots = slots
        self._tracer = trace.get_tracer(__name__)

    def on_get(self, req: falcon.Request, resp: falcon.Response, n: str) -> None:
        """Answer F(n), from the cache when this body was rendered before."""
        index = parse_integer("n", n, -self._max_n, self._max_n)
        req.context.n = index
        form = requested_form(req)
        if answered_by_validator(req, resp, value_etag(index, form), form):
            return
        resp.data = self._body(index, form, req.context)

    on_head = on_get

    def _body(self, index: int, form: Form, context: falcon.Context) -> bytes:
        """Return the body for F(index) in ``form``, computing it in a fibonacci.compute span on a miss.

        A cache hit does no arithmetic, so it gets no span of its own (a span costs more than
        the hit); the request's server span carries n, digits and cache_hit either way.
        """
        key = (index, form)
        body = self._cache.get(key)
        context.cache_hit = body is not None
        if body is None:
            heavy = abs(index) >= self._heavy_n
            with (
                self._slots.slot() if heavy else nullcontext(),
                self._tracer.start_as_current_span("fibonacci.compute") as compute_span,
            ):
                started = time.perf_counter()
                body = render_value(index, fibonacci(index), form)
                self._metrics.compute.observe(time.perf_counter() - started)
                digits = digits_in_body(index, body, form)
                compute_span.set_attributes(fibonacci_attributes(index, digits, cache_hit=False))
            self._metrics.cache_misses.inc()
            self._cache.put(key, body)
        else:
            self._metrics.cache_hits.inc()
            digits = digits_in_body(index, body, form)
        self._metrics.digits.observe(digits)
        server_span = trace.get_current_span()
        if server_span.is_recording():
            server_span.set_attributes(fibonacci_attributes(index, digits, cache_hit=context.cache_hit))
        return body


def fibonacci_attributes(index: int, digits: int, *, cache_hit: bool) -> dict[str, int | bool]:
    """Return the span attributes that describe one Fibonacci value."""
    return {"fibonacci.n": index, "fibonacci.digits": digits, "fibonacci.cache_hit": cache_hit}


class SequenceResource:
    """``/fibonacci/sequence?start=a&count=k``: F(a) ... F(a + k - 1), streamed."""

    def __init__(self, settings: Settings, slots: HeavyWorkSlots) -> None:
        self._max_n = settings.max_n
        self._max_count = settings.max_count
        self._max_bytes = settings.max_sequence_bytes
        # A sequence is heavy work when its body may be as large as one heavy value's.
        self._heavy_bytes = max_sequence_bytes(settings.heavy_n, 1)
        self._slots = slots

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Check the whole request up front, then stream the terms as they are added up."""
        start_text = single_param(req, "start")
        start = parse_integer("start", "0" if start_text is None else start_text, -self._max_n, self._max_n)
        count_text = single_param(req, "count")
        if count_text is None:
            raise missing_count(self._max_count)
        count = parse_integer("count", count_text, 1, self._max_count)
        if start + count - 1 > self._max_n:
            raise sequence_beyond_limit(start, count, self._max_n)
        estimate = max_sequence_bytes(start, count)
        if estimate > self._max_bytes:
            raise sequence_too_large(start, count, estimate, self._max_bytes)
        form = requested_form(req)
        if answered_by_validator(req, resp, sequence_etag(start, count, form), form):
            return
        if req.method == "HEAD":
            return
        chunks = render_sequence(start, count, fibonacci_sequence(start, count), form)
        # The terms are computed while the body is sent, so a heavy sequence holds its slot until then.
        resp.stream = (
            released_after(self._slots.acquire(), chunks) if estimate >= self._heavy_bytes else chunks
        )

    on_head = on_get


def missing_count(max_count: int) -> Problem:
    """Return the error for a sequence request without ``count``."""
    return Problem(INVALID_PARAMETER, f"count is required: an integer from 1 to {max_count}")


def sequence_beyond_limit(start: int, count: int, max_n: int) -> Problem:
    """Return the error for a sequence whose last index is past the limit."""
    return Problem(
        INTEGER_OUT_OF_RANGE,
        f"every index must be at most {max_n}, but start + count - 1 = {start + count - 1}",
    )


def sequence_too_large(start: int, count: int, estimate: int, limit: int) -> Problem:
    """Return the error for a sequence whose body would exceed the size limit."""
    return Problem(
        OUTPUT_TOO_LARGE,
        f"start={start}, count={count} would produce up to {estimate} bytes, over the limit of "
        f"{limit}; ask for fewer terms or smaller indices",
    )


def single_param(req: falcon.Request, name: str) -> str | None:
    """Return the query parameter ``name``, refusing one given more than once."""
    value = req.params.get(name)
    if isinstance(value, list):
        raise Problem(INVALID_PARAMETER, f"{name} was given {len(value)} times; give it once")
    return value


def requested_form(req: falcon.Request) -> Form:
    """Choose the representation: ``?as=`` if given, else text/plain only if preferred by Accept."""
    choice = single_param(req, "as") if req.query_string else None
    if choice is not None:
        form = _AS_CHOICES.get(choice)
        if form is None:
            raise Problem(INVALID_PARAMETER, "as must be 'number' or 'string'")
        return form
    accept = req.get_header("Accept")
    if accept and accept != "*/*" and req.client_prefers(_OFFERED) == "text/plain":
        return Form.TEXT
    return Form.JSON_NUMBER


def answered_by_validator(req: falcon.Request, resp: falcon.Response, etag: str, form: Form) -> bool:
    """Set the caching headers; answer 304 and return True when the client's copy is current."""
    resp.set_headers((("ETag", etag), ("Cache-Control", IMMUTABLE), ("Vary", "Accept")))
    candidates = req.if_none_match or ()
    bare = etag[1:-1]
    # If-None-Match uses the weak comparison (RFC 9110, 13.1.2): W/ prefixes are ignored.
    if any(candidate == "*" or str(candidate) == bare for candidate in candidates):
        resp.status = falcon.HTTP_304
        return True
    resp.content_type = form.media_type
    return False
