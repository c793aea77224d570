"""The floor: a bare WSGI app that does nothing but answer, served by the same gunicorn.conf.py."""

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, world!\n"
_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer every request with a fixed 14-byte body."""
    start_response("200 OK", _HEADERS)
    return [BODY]
