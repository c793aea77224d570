"""Metrics and the request log, in process: labels, folding, what is counted."""

import falcon.testing
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from fibsvc.app import create_app
from fibsvc.metrics import Metrics
from fibsvc.settings import Settings


def fresh_client() -> falcon.testing.TestClient:
    """Return a client of an app with a registry of its own, so counts start at zero."""
    return falcon.testing.TestClient(create_app(Settings(), Metrics(CollectorRegistry())))


def samples(client: falcon.testing.TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Return the samples called ``name`` from /metrics, keyed by sorted labels."""
    found = {}
    for family in text_string_to_metric_families(client.simulate_get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


class TestMetricLabels:
    def test_a_thousand_distinct_n_make_one_series(self) -> None:
        """The route label is the template, never the raw path."""
        client = fresh_client()
        for n in range(1000):
            client.simulate_get(f"/fibonacci/{n}")
        assert samples(client, "http_server_requests_total") == {
            (("method", "GET"), ("route", "/fibonacci/{n}"), ("status", "200")): 1000.0
        }

    def test_unknown_paths_fold_into_one_label(self) -> None:
        """Scanners probing random paths cannot blow up the series count."""
        client = fresh_client()
        for path in ("/wp-admin", "/.env", "/a/b/c", "/fibonacci/1/2"):
            client.simulate_get(path)
        assert samples(client, "http_server_requests_total") == {
            (("method", "GET"), ("route", "(unmatched)"), ("status", "404")): 4.0
        }

    def test_probes_and_scrapes_are_not_counted(self) -> None:
        """/healthz, /readyz and /metrics leave the request metrics alone."""
        client = fresh_client()
        for path in ("/healthz", "/readyz", "/metrics", "/metrics"):
            client.simulate_get(path)
        assert samples(client, "http_server_requests_total") == {}

    def test_cache_hits_misses_and_digits(self) -> None:
        """A repeated request is a hit; every answer records its digit count."""
        client = fresh_client()
        for _ in range(3):
            client.simulate_get("/fibonacci/1000")
        assert samples(client, "fibonacci_cache_misses_total") == {(): 1.0}
        assert samples(client, "fibonacci_cache_hits_total") == {(): 2.0}
        assert samples(client, "fibonacci_result_digits_sum") == {(): 3 * 209.0}
        assert samples(client, "fibonacci_compute_seconds_count") == {(): 1.0}


class TestRequestLog:
    def test_one_line_per_request_with_route_status_and_cache(self) -> None:
        """Each request writes exactly one http_request event with its outcome."""
        client = fresh_client()
        with capture_logs() as events:
            client.simulate_get("/fibonacci/20", headers={"User-Agent": "probe/1"})
            client.simulate_get("/fibonacci/20")
            client.simulate_get("/fibonacci/x")
        first, second, bad = (e for e in events if e["event"] == "http_request")
        assert (first["n"], first["cache_hit"], second["cache_hit"]) == (20, False, True)
        assert first["http.route"] == "/fibonacci/{n}"
        assert first["user_agent.original"] == "probe/1"
        assert first["http.response.body.size"] == len(b'{"fibonacci(20)": 6765}')
        assert bad["http.response.status_code"] == 400
        assert len(events) == 3

    def test_streamed_bodies_are_logged_with_their_size_once_sent(self) -> None:
        """A sequence's line is written when the last chunk has gone, with the bytes sent."""
        client = fresh_client()
        with capture_logs() as events:
            result = client.simulate_get("/fibonacci/sequence", params={"count": "500"})
        (line,) = events
        assert line["http.response.body.size"] == len(result.content)

    def test_a_bug_is_logged_structured_and_answered_as_a_bare_500(self) -> None:
        """An unexpected exception becomes one error event and a problem that reveals nothing."""
        app = create_app(Settings(), Metrics(CollectorRegistry()))

        class Broken:
            def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
                raise RuntimeError("secret internals")

        app.add_route("/broken", Broken())
        with capture_logs() as events:
            result = falcon.testing.TestClient(app).simulate_get("/broken")
        assert result.status_code == 500
        assert result.headers["Content-Type"] == "application/problem+json"
        assert "secret" not in result.text
        assert [e["event"] for e in events] == ["unhandled_exception", "http_request"]
        assert events[1]["log_level"] == "error"
