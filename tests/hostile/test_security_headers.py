"""Security headers and error hygiene of every kind of response, from the real gunicorn."""

import re
from dataclasses import dataclass, field

import pytest

from tests.hostile.conftest import INTERNALS, RawClient, Reply


@dataclass(frozen=True)
class Probe:
    """One request, and the status the service documents for it."""

    what: str
    target: str
    status: int
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)


# One of each kind of response the service gives.
PROBES = [
    Probe("value", "/fibonacci/5", 200),
    Probe("value as text", "/fibonacci/5", 200, headers={"Accept": "text/plain"}),
    Probe("value, headers only", "/fibonacci/5", 200, "HEAD"),
    Probe("sequence", "/fibonacci/sequence?start=-3&count=5", 200),
    Probe("index", "/", 200),
    Probe("liveness", "/healthz", 200),
    Probe("readiness", "/readyz", 200),
    Probe("metrics", "/metrics", 200),
    Probe("openapi", "/openapi.json", 200),
    Probe("problem type", "/problems/integer-out-of-range", 200),
    Probe("not modified", "/fibonacci/5", 304, headers={"If-None-Match": '"v1-json-5"'}),
    Probe("sequence not modified", "/fibonacci/sequence?count=3", 304, headers={"If-None-Match": "*"}),
    Probe("non-canonical", "/fibonacci/05", 400),
    Probe("control characters", "/fibonacci/%00%1b[31m", 400),
    Probe("count missing", "/fibonacci/sequence", 400),
    Probe("bad as", "/fibonacci/5?as=float", 400),
    Probe("error, headers only", "/fibonacci/abc", 400, "HEAD"),
    Probe("unknown path", "/nowhere", 404),
    Probe("unknown problem type", "/problems/traceback", 404),
    Probe("method not allowed", "/fibonacci/5", 405, "POST"),
    Probe("other method", "/healthz", 405, "DELETE"),
    Probe("out of range", "/fibonacci/1000001", 422),
    Probe("output too large", "/fibonacci/sequence?start=-1000000&count=10000", 422),
]
ERRORS = [probe for probe in PROBES if probe.status >= 400]


def send(client: RawClient, probe: Probe) -> Reply:
    """Send ``probe`` and assert that it got the status the service documents for it."""
    reply = client.request(probe.target, probe.method, probe.headers)
    assert reply.status == probe.status, reply.body[:300]
    return reply


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.what)
class TestEveryResponse:
    def test_carries_nosniff(self, client: RawClient, probe: Probe) -> None:
        """The response tells browsers not to sniff its content type, exactly once."""
        reply = send(client, probe)
        assert reply.headers.get_all("X-Content-Type-Options") == ["nosniff"]

    def test_names_no_server_version(self, client: RawClient, probe: Probe) -> None:
        """The Server header, if any, names no version an attacker could look up, and nothing else does."""
        reply = send(client, probe)
        assert not re.search(r"\d", reply.header("Server") or ""), reply.header("Server")
        assert "X-Powered-By" not in reply.headers


@pytest.mark.parametrize("probe", ERRORS, ids=lambda probe: probe.what)
def test_error_reveals_no_internals(client: RawClient, probe: Probe) -> None:
    """An error is a problem document (empty for HEAD) with no trace, source path or version in it."""
    reply = send(client, probe)
    assert not INTERNALS.search(reply.body.decode("utf-8", "replace")), reply.body
    assert not INTERNALS.search(str(reply.headers)), reply.headers
    if probe.method == "HEAD":
        assert reply.body == b""
    else:
        assert reply.problem()["detail"].isprintable()
