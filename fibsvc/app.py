"""The application factory: builds a Falcon app from its settings and wires the routes."""

import falcon
from prometheus_client import CollectorRegistry

from fibsvc import __version__, problems
from fibsvc.cache import BodyCache
from fibsvc.docs import JsonDocumentResource, ProblemTypeResource, index_document
from fibsvc.health import HealthResource, MetricsResource, Readiness, ReadinessResource
from fibsvc.metrics import Metrics
from fibsvc.openapi import build_openapi
from fibsvc.request_telemetry import RequestTelemetry
from fibsvc.resources import FibonacciResource, SequenceResource
from fibsvc.settings import Settings
from fibsvc.telemetry import instrument_falcon


def create_app(
    settings: Settings, metrics: Metrics | None = None, tracing: bool = True
) -> falcon.App[falcon.Request, falcon.Response]:
    """Return the WSGI app for ``settings``, ready to serve, reporting to ``metrics``.

    With ``tracing`` off (OTEL_SDK_DISABLED) the app is not instrumented at all, so
    disabled tracing costs nothing per request.
    """
    metrics = metrics or Metrics(CollectorRegistry())
    readiness = Readiness()
    if tracing:
        # Must come first: the instrumentation works by replacing the falcon.App class.
        instrument_falcon()
    app = falcon.App(middleware=[RequestTelemetry(metrics)])
    problems.register(app)
    app.add_route("/", JsonDocumentResource(index_document(__version__)))
    app.add_route("/fibonacci/{n}", FibonacciResource(settings, BodyCache(settings.cache_bytes), metrics))
    app.add_route("/fibonacci/sequence", SequenceResource(settings))
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadinessResource(readiness))
    app.add_route("/metrics", MetricsResource(metrics))
    app.add_route("/openapi.json", JsonDocumentResource(build_openapi(settings)))
    app.add_route("/problems/{slug}", ProblemTypeResource())
    readiness.ready = True
    return app
