"""The service as deployed: gunicorn, its config and the app, over real sockets."""

import decimal
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.live_server import ROOT, LiveServer, free_port
from tests.reference import fibonacci_mod, slow_fibonacci


def get(
    server: LiveServer, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a new connection and return status, headers and body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def leading_digits_of_fibonacci(n: int, count: int) -> str:
    """Return the first ``count`` digits of F(n) from Binet's formula, F(n) ~ phi^n / sqrt(5)."""
    with decimal.localcontext() as context:
        context.prec = 60
        five = decimal.Decimal(5)
        phi = (1 + five.sqrt()) / 2
        log10 = n * phi.log10() - five.sqrt().log10()
        fraction = log10 - int(log10)
        mantissa = decimal.Decimal(10) ** fraction
        return str(mantissa).replace(".", "")[:count]


class TestOverRealHttp:
    @pytest.mark.parametrize(
        ("path", "status", "body"),
        [
            ("/fibonacci/5", 200, {"fibonacci(5)": 5}),
            ("/fibonacci/93", 200, {"fibonacci(93)": 12200160415121876738}),
            ("/fibonacci/-8", 200, {"fibonacci(-8)": -21}),
            (
                "/fibonacci/sequence?start=-2&count=5",
                200,
                {"start": -2, "count": 5, "sequence": [-1, 1, 0, 1, 1]},
            ),
            ("/healthz", 200, {"status": "ok"}),
            ("/readyz", 200, {"status": "ready"}),
        ],
    )
    def test_representative_answers(self, server: LiveServer, path: str, status: int, body: object) -> None:
        """The contract holds end to end through gunicorn."""
        got_status, headers, got_body = get(server, path)
        assert (got_status, json.loads(got_body)) == (status, body)
        assert headers["content-type"] == "application/json"

    @pytest.mark.parametrize(
        ("path", "status"),
        [("/fibonacci/05", 400), ("/fibonacci/%D9%A5", 400), ("/fibonacci/1000001", 422), ("/nope", 404)],
    )
    def test_errors_are_problems(self, server: LiveServer, path: str, status: int) -> None:
        """Errors cross gunicorn as problem+json with the right status."""
        got_status, headers, body = get(server, path)
        assert got_status == status
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["status"] == status

    def test_wrong_method_is_405_with_allow(self, server: LiveServer) -> None:
        """POST is refused with the methods that are allowed."""
        status, headers, _ = get(server, "/fibonacci/5", method="POST")
        assert status == 405
        assert "GET" in headers["allow"]

    def test_a_segment_as_long_as_gunicorn_allows_is_a_422(self, server: LiveServer) -> None:
        """A 4,000-digit n is turned away by its length."""
        status, _, body = get(server, "/fibonacci/" + "9" * 4000)
        assert status == 422
        assert json.loads(body)["type"] == "/problems/integer-out-of-range"

    def test_f_of_a_million_is_exact(self, server: LiveServer) -> None:
        """F(10^6): 208,988 digits, leading digits by Binet, trailing digits by a matrix power."""
        status, _, body = get(server, "/fibonacci/1000000", headers={"Accept": "text/plain"})
        assert status == 200
        digits = body.decode().removesuffix("\n")
        assert len(digits) == 208988
        assert digits.isdigit()
        assert digits[:30] == leading_digits_of_fibonacci(1_000_000, 30)
        assert int(digits[-18:]) == fibonacci_mod(1_000_000, 10**18)

    def test_f_of_a_million_as_json(self, server: LiveServer) -> None:
        """The JSON body of F(10^6) is one key whose value is the same digits as the text form."""
        _, _, text = get(server, "/fibonacci/1000000", headers={"Accept": "text/plain"})
        status, _, body = get(server, "/fibonacci/1000000")
        assert status == 200
        assert body == b'{"fibonacci(1000000)": ' + text.removesuffix(b"\n") + b"}"

    def test_head_has_length_but_no_body(self, server: LiveServer) -> None:
        """HEAD gives GET's headers, including Content-Length, and no body."""
        status, headers, body = get(server, "/fibonacci/1000", method="HEAD")
        assert status == 200
        assert body == b""
        assert int(headers["content-length"]) == len(get(server, "/fibonacci/1000")[2])

    def test_conditional_get_is_304(self, server: LiveServer) -> None:
        """If-None-Match with the ETag gets 304 over the wire."""
        _, headers, _ = get(server, "/fibonacci/777")
        status, _, body = get(server, "/fibonacci/777", headers={"If-None-Match": headers["etag"]})
        assert (status, body) == (304, b"")

    def test_long_sequence_is_streamed_chunked_and_exact(self, server: LiveServer) -> None:
        """A multi-megabyte sequence arrives chunked, whole, and consistent."""
        status, headers, body = get(server, "/fibonacci/sequence?start=100000&count=300&as=string")
        assert status == 200
        assert headers.get("transfer-encoding") == "chunked"
        sequence = json.loads(body)["sequence"]
        assert len(sequence) == 300
        assert int(sequence[0][-15:]) == fibonacci_mod(100_000, 10**15)
        assert int(sequence[-1][-15:]) == fibonacci_mod(100_299, 10**15)

    def test_many_requests_on_one_keep_alive_connection(self, server: LiveServer) -> None:
        """gthread keeps the connection open across requests."""
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for n in range(50):
                connection.request("GET", f"/fibonacci/{n}")
                response = connection.getresponse()
                assert json.loads(response.read()) == {f"fibonacci({n})": slow_fibonacci(n)}
                assert response.getheader("Connection", "keep-alive").lower() != "close"
        finally:
            connection.close()

    def test_concurrent_burst_is_all_correct(self, server: LiveServer) -> None:
        """400 requests from 16 threads, small and large n, all answered exactly."""
        indices = [(i * 7919) % 3000 - 1500 for i in range(400)]

        def fetch(n: int) -> tuple[int, bytes]:
            status, _, body = get(server, f"/fibonacci/{n}", headers={"Accept": "text/plain"})
            return status, body

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(fetch, indices))
        assert results == [(200, f"{slow_fibonacci(n)}\n".encode()) for n in indices]


class TestStartup:
    def run_launcher(self, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run ``python -m fibsvc`` with ``env`` added, expecting it to stop by itself."""
        return subprocess.run(
            [sys.executable, "-m", "fibsvc"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("FIBSVC_MAX_N", "abc"),
            ("FIBSVC_MAX_N", "-5"),
            ("FIBSVC_MAX_COUNT", "0"),
            ("FIBSVC_CACHE_BYTES", "1.5"),
            ("WEB_CONCURRENCY", "abc"),
            ("WEB_CONCURRENCY", "-1"),
            ("FIBSVC_BIND", "nowhere"),
        ],
    )
    def test_invalid_setting_stops_with_one_line_before_binding(self, name: str, value: str) -> None:
        """A bad value exits non-zero with one line naming the variable, and nothing listens."""
        port = free_port()
        env = {"FIBSVC_BIND": f"127.0.0.1:{port}", name: value}
        result = self.run_launcher(env)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert name in lines[0]
        assert "must be" in lines[0]

    def test_gunicorn_with_the_config_also_refuses_bad_settings(self) -> None:
        """Started directly, gunicorn.conf.py gives the same one-line refusal."""
        result = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "fibsvc.wsgi:app"],
            cwd=ROOT,
            env={**os.environ, "FIBSVC_MAX_N": "-1", "FIBSVC_BIND": f"127.0.0.1:{free_port()}"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "fibsvc: invalid configuration: FIBSVC_MAX_N must be an integer from 1 to 100000000 "
            "(default 1000000); got '-1'"
        ]

    def test_launcher_serves_with_the_documented_defaults(self, tmp_path: Path) -> None:
        """``python -m fibsvc`` (what make run calls) starts gunicorn and serves."""
        log = tmp_path / "launcher.log"
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "fibsvc"],
                cwd=ROOT,
                env={**os.environ, "FIBSVC_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                live = LiveServer(process, port, output)
                body = _poll(live, "/fibonacci/5")
                assert body == {"fibonacci(5)": 5}
            finally:
                process.terminate()
                assert process.wait(30) == 0


def _poll(live: LiveServer, path: str) -> object:
    """Return the JSON at ``path`` once the server answers, within 30 s."""
    deadline = time.monotonic() + 30
    while True:
        try:
            status, _, body = get(live, path)
            if status == 200:
                return json.loads(body)
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_percent_encoded_paths_are_never_server_errors(server: LiveServer) -> None:
    """Encoded slashes, NUL, dots and overlong UTF-8 get client errors at worst."""
    for raw in ["%2F", "%00", "..", "%2E%2E", "%C0%AE", "%FF", "1%0D%0AX:%20y", urllib.parse.quote("١٢٣")]:
        status, _, _ = get(server, f"/fibonacci/{raw}")
        assert 400 <= status < 500, raw
