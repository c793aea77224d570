"""OpenTelemetry tracing, configured only through the standard OTEL_* variables.

The tracer provider and its export thread are made in each gunicorn worker after fork
(threads and gRPC channels do not survive a fork), and shut down, flushing the last spans,
when the worker exits. Without an OTLP endpoint spans are still made, so logs and responses
carry trace ids, but they record nothing and nothing is exported (unless OTEL_TRACES_SAMPLER
asks for recording).
"""

import os
import threading
import time
from collections.abc import Callable, Mapping

from opentelemetry import trace
from opentelemetry.instrumentation.falcon import FalconInstrumentor
from opentelemetry.instrumentation.propagators import TraceResponsePropagator, set_global_response_propagator
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from fibsvc import __version__
from fibsvc.otlp_encoding import use_fast_encoding

# Probes and scrapes are neither traced, counted nor logged: they would drown the requests people send.
OPERATIONAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# The instrumentation takes regexes; anchor each path so only that exact path is skipped.
UNTRACED_PATHS = ",".join(f"^{path}$" for path in sorted(OPERATIONAL_PATHS))


def configure_tracing(environ: Mapping[str, str]) -> TracerProvider | None:
    """Install this process's tracer provider; return it, or None when OTEL_SDK_DISABLED is true."""
    if sdk_disabled(environ):
        return None
    resource = service_resource()
    exporter = otlp_exporter(environ)
    if exporter is None and not environ.get("OTEL_TRACES_SAMPLER"):
        # Nothing will be exported, so record nothing: spans are still made, with ids that logs
        # and the traceresponse header carry (continuing a caller's trace), at a fraction of the cost.
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    else:
        # The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
        provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def service_resource() -> Resource:
    """Return this service's resource: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, else fibsvc."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "fibsvc"}))
    if SERVICE_VERSION not in resource.attributes:
        resource = resource.merge(Resource({SERVICE_VERSION: __version__}))
    return resource


def otlp_endpoint_set(environ: Mapping[str, str], signal: str) -> bool:
    """Return whether an OTLP endpoint is configured for ``signal`` (TRACES or LOGS)."""
    return bool(
        environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def otlp_protocol(environ: Mapping[str, str], signal: str) -> str:
    """Return the OTLP protocol for ``signal``: its own variable, the shared one, or http/protobuf."""
    return (
        environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """Return whether OTEL_SDK_DISABLED turns OpenTelemetry off."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def otlp_exporter(environ: Mapping[str, str]) -> SpanExporter | None:
    """Return the OTLP exporter the environment asks for, or None when no endpoint is set."""
    if not otlp_endpoint_set(environ, "TRACES"):
        return None
    protocol = otlp_protocol(environ, "TRACES")
    # Imported on demand: each exporter pulls in its own transport (requests, or grpcio).
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_module  # noqa: PLC0415

        use_fast_encoding(grpc_module)
        return grpc_module.OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_module  # noqa: PLC0415

    use_fast_encoding(http_module)
    return http_module.OTLPSpanExporter()


def shutdown_tracing() -> None:
    """Flush and stop this process's span export, if there is one."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def within_deadline(seconds: float, *steps: Callable[[], None]) -> bool:
    """Run ``steps`` side by side; return whether all finished within ``seconds``.

    A worker that is exiting flushes its spans and log records this way: a collector that
    accepts and never answers must not hold the exit (and the worker's slot) until gunicorn's
    graceful timeout kills it. Steps still running at the deadline are abandoned (their threads
    are daemons, so they end with the process).
    """
    threads = [threading.Thread(target=step, daemon=True) for step in steps]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def instrument_falcon() -> None:
    """Make every falcon.App created from now on produce server spans.

    FalconInstrumentor replaces the falcon.App class, so this must run before the app
    is built; an app created earlier stays silently uninstrumented.
    """
    os.environ.setdefault("OTEL_PYTHON_FALCON_EXCLUDED_URLS", UNTRACED_PATHS)
    # The stable HTTP semantic conventions, the names the request log uses too (url.path,
    # http.response.status_code, ...), and two attributes fewer per span than the old ones.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    # Every response names its trace (W3C Trace Context Level 2), so callers can find it.
    set_global_response_propagator(TraceResponsePropagator())
    instrumentor = FalconInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
