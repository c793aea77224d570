"""The application factory: builds a Falcon app from its settings and wires the routes."""

import falcon

from fibsvc import __version__, problems
from fibsvc.cache import BodyCache
from fibsvc.docs import JsonDocumentResource, ProblemTypeResource, index_document
from fibsvc.health import HealthResource, Readiness, ReadinessResource
from fibsvc.openapi import build_openapi
from fibsvc.resources import FibonacciResource, SequenceResource
from fibsvc.settings import Settings


def create_app(settings: Settings) -> falcon.App[falcon.Request, falcon.Response]:
    """Return the WSGI app for ``settings``, ready to serve."""
    readiness = Readiness()
    app = falcon.App()
    problems.register(app)
    app.add_route("/", JsonDocumentResource(index_document(__version__)))
    app.add_route("/fibonacci/{n}", FibonacciResource(settings, BodyCache(settings.cache_bytes)))
    app.add_route("/fibonacci/sequence", SequenceResource(settings))
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadinessResource(readiness))
    app.add_route("/openapi.json", JsonDocumentResource(build_openapi(settings)))
    app.add_route("/problems/{slug}", ProblemTypeResource())
    readiness.ready = True
    return app
