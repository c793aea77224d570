"""The operational endpoints: liveness, readiness and metrics."""

from pathlib import Path

import falcon
from prometheus_client import CONTENT_TYPE_LATEST

from fibsvc.metrics import Metrics


class Readiness:
    """Whether this worker should be sent traffic: once it has started, and until shutdown begins."""

    def __init__(self, draining_flag: Path | None = None) -> None:
        self.ready = False
        self._draining_flag = draining_flag

    @property
    def draining(self) -> bool:
        """Return whether the server is draining before a shutdown (the master's flag exists)."""
        return self._draining_flag is not None and self._draining_flag.exists()


class HealthResource:
    """``/healthz``: the process answers HTTP, nothing more."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer 200 while the worker can answer at all."""
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"status": "ok"}'

    on_head = on_get


class ReadinessResource:
    """``/readyz``: 200 once the worker is initialised, 503 before and while draining."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer whether a load balancer should route requests here."""
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "no-store")
        if self._readiness.draining:
            resp.status = falcon.HTTP_503
            resp.data = b'{"status": "draining"}'
        elif self._readiness.ready:
            resp.data = b'{"status": "ready"}'
        else:
            resp.status = falcon.HTTP_503
            resp.data = b'{"status": "starting"}'

    on_head = on_get


class MetricsResource:
    """``/metrics``: Prometheus exposition, summed over every worker of this server."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer the current values in the text format Prometheus scrapes."""
        resp.content_type = CONTENT_TYPE_LATEST
        resp.set_header("Cache-Control", "no-store")
        resp.data = self._metrics.exposition()

    on_head = on_get
