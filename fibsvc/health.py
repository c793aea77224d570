"""Liveness and readiness probes."""

import falcon


class Readiness:
    """Whether this worker should be sent traffic; set once it has finished starting."""

    def __init__(self) -> None:
        self.ready = False


class HealthResource:
    """``/healthz``: the process answers HTTP, nothing more."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer 200 while the worker can answer at all."""
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"status": "ok"}'

    on_head = on_get


class ReadinessResource:
    """``/readyz``: 200 once the worker is initialised, 503 before."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer whether a load balancer should route requests here."""
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "no-store")
        if self._readiness.ready:
            resp.data = b'{"status": "ready"}'
        else:
            resp.status = falcon.HTTP_503
            resp.data = b'{"status": "starting"}'

    on_head = on_get
