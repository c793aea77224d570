"""Hostile tests: the real gunicorn, attacked over raw HTTP; one server per module."""

import http.client
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.live_server import LiveServer, start_server

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_FIELDS = ("type", "title", "status", "detail")
# What a leaked stack trace, source path or server version looks like in a body.
# Workers of each module's server: few, so a crash that replaces one shows in the log.
WORKERS = 2
INTERNALS = re.compile(r"Traceback|File \"|\.py\b|site-packages|/work/|/usr/|gunicorn/\d|falcon/\d")


@dataclass(frozen=True)
class Reply:
    """What the server answered to one raw request."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        """Return the value of header ``name``, or None when absent."""
        return self.headers.get(name)

    def problem(self) -> dict[str, Any]:
        """Return the body as an RFC 9457 problem, asserting that it is one."""
        assert self.header("Content-Type") == PROBLEM_MEDIA_TYPE, (self.status, self.headers, self.body)
        document = json.loads(self.body)
        assert isinstance(document, dict)
        assert all(isinstance(document.get(field), str) for field in ("type", "title", "detail")), document
        assert document["status"] == self.status, document
        return document


class RawClient:
    """Send requests exactly as written, bytes and all, to one server."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.port = port
        self.timeout = timeout

    def request(self, target: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Reply:
        """Send ``method target`` with only ``headers`` (and Host) and return the reply.

        ``target`` goes on the request line as it is: no quoting, no normalisation.
        """
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Run one gunicorn, with the project's configuration and WORKERS workers, for this module."""
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    live = start_server(log, env={"WEB_CONCURRENCY": str(WORKERS)})
    yield live
    assert live.stop() == 0, live.output()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> RawClient:
    """Return a raw HTTP client of this module's server."""
    return RawClient(server.port)
