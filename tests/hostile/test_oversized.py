"""Oversized and malformed requests against the real gunicorn: refused with a 4xx, and nothing breaks.

gunicorn.conf.py leaves gunicorn's request limits at their defaults, so these are the numbers
a client meets: a request line of at most 4094 bytes, at most 100 header fields, each at most
8190 bytes. Each oversized request is paired with one just within the limits that is served, so
the refusal is shown to come from the limit and not from a mistake in the request.
"""

import json
import socket
import time
import urllib.request

import pytest

from tests.hostile.conftest import INTERNALS, WORKERS
from tests.live_server import LiveServer

LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190
# gunicorn.conf.py: keep-alive 5 s, worker timeout 30 s.
KEEPALIVE_SECONDS = 5
WORKER_TIMEOUT_SECONDS = 30


def request_line_of(length: int) -> bytes:
    """Return a request line of exactly ``length`` bytes, for an n of many digits."""
    digits = length - len(b"GET /fibonacci/ HTTP/1.1")
    return b"GET /fibonacci/" + b"1" * digits + b" HTTP/1.1"


def headers(count: int) -> bytes:
    """Return ``count`` distinct small header fields."""
    return b"".join(b"X-Filler-%d: v\r\n" % index for index in range(count))


def header_of(size: int) -> bytes:
    """Return one header field whose line, with its CRLF, is ``size`` bytes."""
    name = b"X-Big: "
    return name + b"a" * (size - len(name) - 2) + b"\r\n"


# Host and Connection count among the fields.
OVERSIZED = {
    "request line": request_line_of(LIMIT_REQUEST_LINE + 1) + b"\r\nHost: x\r\n\r\n",
    "header count": b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers(LIMIT_REQUEST_FIELDS) + b"\r\n",
    "header size": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    + header_of(LIMIT_REQUEST_FIELD_SIZE + 1)
    + b"\r\n",
    "all headers at once": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    + header_of(LIMIT_REQUEST_FIELD_SIZE) * (LIMIT_REQUEST_FIELDS + 10)
    + b"\r\n",
}
WITHIN = {
    "request line": request_line_of(LIMIT_REQUEST_LINE - 100) + b"\r\nHost: x\r\nConnection: close\r\n\r\n",
    "header count": b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    + headers(LIMIT_REQUEST_FIELDS - 2)
    + b"\r\n",
    "header size": b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    + header_of(LIMIT_REQUEST_FIELD_SIZE - 100)
    + b"\r\n",
    "all headers at once": b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    + header_of(LIMIT_REQUEST_FIELD_SIZE - 100) * (LIMIT_REQUEST_FIELDS - 2)
    + b"\r\n",
}
# Requests an attacker might use to smuggle a second request or confuse the parser.
MALFORMED = {
    "Content-Length and Transfer-Encoding": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "two Content-Lengths": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"
    ),
    "negative Content-Length": b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "NUL in a header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "obsolete line folding": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space before the colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "bad method token": b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown HTTP version": b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
    "bare LF line ends": b"GET /healthz HTTP/1.1\nHost: x\n\n",
    "raw UTF-8 in the target": "GET /fibonacci/\N{ARABIC-INDIC DIGIT FIVE} HTTP/1.1\r\n\r\n".encode(),
}


def exchange(server: LiveServer, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection and return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as connection:
        connection.sendall(data)
        received = bytearray()
        while chunk := connection.recv(65536):
            received += chunk
        return bytes(received)


def status_of(response: bytes) -> int:
    """Return the status code of a raw HTTP/1.1 response."""
    status_line = response.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), response[:200]
    return int(status_line.split()[1])


def assert_still_serving(server: LiveServer) -> None:
    """Assert that the server answers an ordinary request normally."""
    with urllib.request.urlopen(server.url("/fibonacci/10"), timeout=5) as response:
        assert response.status == 200
        assert json.load(response) == {"fibonacci(10)": 55}


class TestRefused:
    @pytest.mark.parametrize("limit", OVERSIZED)
    def test_oversized_request_is_refused_with_a_4xx(self, server: LiveServer, limit: str) -> None:
        """A request over one of gunicorn's limits gets a 4xx that reveals nothing, and the server goes on."""
        response = exchange(server, OVERSIZED[limit])
        assert 400 <= status_of(response) < 500, response[:300]
        assert not INTERNALS.search(response.decode("latin-1")), response
        assert_still_serving(server)

    @pytest.mark.parametrize("limit", WITHIN)
    def test_request_within_the_limits_is_served(self, server: LiveServer, limit: str) -> None:
        """The same shape of request just within the limit is served: the limit is what refuses the other."""
        response = exchange(server, WITHIN[limit])
        # A request line that long carries a 3,970-digit n: the app's own 422, not gunicorn's refusal.
        assert status_of(response) == (422 if limit == "request line" else 200), response[:300]

    @pytest.mark.parametrize("shape", MALFORMED)
    def test_malformed_request_is_refused_with_a_4xx(self, server: LiveServer, shape: str) -> None:
        """A request that could smuggle or confuse gets a 4xx, and the server goes on."""
        response = exchange(server, MALFORMED[shape])
        assert 400 <= status_of(response) < 500, response[:300]
        assert not INTERNALS.search(response.decode("latin-1")), response
        assert_still_serving(server)


class TestUnsentBody:
    def test_promised_body_that_never_comes_does_not_hold_the_worker(self, server: LiveServer) -> None:
        """A GET promising a 10 MB body it never sends is answered at once and let go after the keep-alive."""
        with socket.create_connection(
            ("127.0.0.1", server.port), timeout=WORKER_TIMEOUT_SECONDS
        ) as connection:
            started = time.monotonic()
            connection.sendall(b"GET /fibonacci/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
            first = connection.recv(65536)
            assert status_of(first) == 200
            assert time.monotonic() - started < 2
            # While this connection is held open, the server answers everyone else.
            assert_still_serving(server)
            while connection.recv(65536):
                pass
            held = time.monotonic() - started
        assert held < KEEPALIVE_SECONDS + 5 < WORKER_TIMEOUT_SECONDS, f"connection held {held:.1f} s"


class TestAftermath:
    def test_master_and_workers_survived_everything(self, server: LiveServer) -> None:
        """After every request above, no worker crashed or was replaced, and nothing logged a traceback."""
        assert_still_serving(server)
        assert server.process.poll() is None, "the gunicorn master exited"
        output = server.output()
        assert output.count("Booting worker") == WORKERS, "a worker was replaced"
        assert "Traceback" not in output
        levels = {json.loads(line).get("level") for line in output.splitlines() if line.startswith("{")}
        assert not levels & {"error", "critical"}, output[-3000:]
