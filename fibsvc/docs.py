"""Self-description: the index at ``/``, the OpenAPI document and the problem types."""

import json
from typing import Any

import falcon

from fibsvc.problems import PROBLEM_TYPES


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, indent=2).encode() + b"\n"


class JsonDocumentResource:
    """Serve one JSON document, rendered once when the app is built."""

    def __init__(self, document: Any) -> None:
        self._body = _json_bytes(document)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer the document."""
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body

    on_head = on_get


class ProblemTypeResource:
    """``/problems/{slug}``: what a problem type means, so its ``type`` URI resolves."""

    def __init__(self) -> None:
        self._bodies = {
            slug: _json_bytes(
                {
                    "type": kind.uri,
                    "title": kind.title,
                    "status": kind.status,
                    "description": kind.description,
                }
            )
            for slug, kind in PROBLEM_TYPES.items()
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response, slug: str) -> None:
        """Answer the description of one problem type, or 404."""
        body = self._bodies.get(slug)
        if body is None:
            known = ", ".join(sorted(self._bodies))
            raise falcon.HTTPNotFound(description=f"There is no problem type by that name; known: {known}.")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = body

    on_head = on_get


def index_document(version: str) -> dict[str, Any]:
    """Return the body of ``/``: where everything is."""
    return {
        "service": "fibsvc",
        "version": version,
        "links": {
            "fibonacci": "/fibonacci/{n}",
            "sequence": "/fibonacci/sequence?start={start}&count={count}",
            "openapi": "/openapi.json",
            "liveness": "/healthz",
            "readiness": "/readyz",
            "metrics": "/metrics",
        },
    }
