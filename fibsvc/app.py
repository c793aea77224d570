"""The application factory: builds a Falcon app from its settings and wires the routes."""

from pathlib import Path

import falcon
from prometheus_client import CollectorRegistry

from fibsvc import __version__, problems
from fibsvc.cache import BodyCache
from fibsvc.capacity import HeavyWorkSlots
from fibsvc.docs import JsonDocumentResource, ProblemTypeResource, index_document
from fibsvc.health import HealthResource, MetricsResource, Readiness, ReadinessResource
from fibsvc.metrics import Metrics
from fibsvc.openapi import build_openapi
from fibsvc.request_telemetry import RequestTelemetry
from fibsvc.resources import FibonacciResource, SequenceResource
from fibsvc.security import SecurityHeaders
from fibsvc.settings import DRAINING_FLAG, Settings
from fibsvc.telemetry import instrument_falcon


def create_app(
    settings: Settings,
    metrics: Metrics | None = None,
    tracing: bool = True,
    runtime_dir: Path | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Return the WSGI app for ``settings``, ready to serve, reporting to ``metrics``.

    With ``tracing`` off (OTEL_SDK_DISABLED) the app is not instrumented at all, so
    disabled tracing costs nothing per request. ``runtime_dir`` is the server's private
    directory that its workers share (heavy-work slots, the drain flag); without one the
    app stands alone.
    """
    metrics = metrics or Metrics(CollectorRegistry())
    readiness = Readiness(draining_flag=runtime_dir / DRAINING_FLAG if runtime_dir else None)
    slots = HeavyWorkSlots(settings.heavy_slots, runtime_dir)
    if tracing:
        # Must come first: the instrumentation works by replacing the falcon.App class.
        instrument_falcon()
    middleware: list[SecurityHeaders | RequestTelemetry] = [SecurityHeaders(), RequestTelemetry(metrics)]
    app = falcon.App(middleware=middleware)
    problems.register(app)
    app.add_route("/", JsonDocumentResource(index_document(__version__)))
    app.add_route(
        "/fibonacci/{n}", FibonacciResource(settings, BodyCache(settings.cache_bytes), metrics, slots)
    )
    app.add_route("/fibonacci/sequence", SequenceResource(settings, slots))
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadinessResource(readiness))
    app.add_route("/metrics", MetricsResource(metrics))
    app.add_route("/openapi.json", JsonDocumentResource(build_openapi(settings)))
    app.add_route("/problems/{slug}", ProblemTypeResource())
    readiness.ready = True
    return app
