"""Telemetry of the real gunicorn: metrics over every worker, traces to a collector double, JSON logs."""

import http.client
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live_server import LiveServer, start_server
from tests.otlp_receiver import BlackHole, GrpcReceiver, HttpReceiver, refused_endpoint
from tests.prometheus_server import running_prometheus

# Requests of every documented status, each on its own connection so the workers share them.
STATUS_MIX: list[tuple[str, dict[str, str], int]] = [
    *[(f"/fibonacci/{n}", {}, 200) for n in range(-5, 25)],
    *[("/fibonacci/7", {"If-None-Match": '"v1-json-7"'}, 304)] * 10,
    *[(f"/fibonacci/0{n}", {}, 400) for n in range(10)],
    *[(f"/nowhere/{n}", {}, 404) for n in range(10)],
    *[(f"/fibonacci/{10**7 + n}", {}, 422) for n in range(10)],
]
REQUIRED_LOG_FIELDS = {"timestamp", "level", "event", "logger", "pid"}


def request(server: LiveServer, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """Send one GET on a new connection and return the response, body read."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def trace_id_of(response: http.client.HTTPResponse) -> str:
    """Return the trace id the response's traceresponse header names."""
    return response.getheader("traceresponse", "").split("-")[1]


def scrape(server: LiveServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Return every sample of /metrics as {sample name: {sorted labels: value}}."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def log_lines(server: LiveServer) -> list[dict[str, object]]:
    """Return every line the server wrote, each parsed as JSON (failing on any that is not)."""
    return [json.loads(line) for line in server.output().splitlines() if line.strip()]


@pytest.fixture
def four_workers(tmp_path: Path) -> Iterator[LiveServer]:
    """Run a server with four workers and its own metrics directory."""
    server = start_server(
        tmp_path / "server.log", env={"WEB_CONCURRENCY": "4", "FIBSVC_METRICS_DIR": str(tmp_path)}
    )
    yield server
    server.stop()


class TestMetricsAcrossWorkers:
    def test_counts_are_exact_whatever_worker_served_each_request(
        self, four_workers: LiveServer, tmp_path: Path
    ) -> None:
        """K requests of known statuses show as exactly K in /metrics and in a real Prometheus."""
        # Rounds of concurrent connections until more than one worker has served: workers that are
        # still booting on a busy machine leave the first rounds to whichever started first.
        rounds = 0
        serving_pids: set[object] = set()
        deadline = time.monotonic() + 30
        while len(serving_pids) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(
                    pool.map(lambda sent: request(four_workers, sent[0], sent[1]).status, STATUS_MIX)
                )
            assert statuses == [status for _, _, status in STATUS_MIX]
            rounds += 1
            serving_pids = {
                line["pid"] for line in log_lines(four_workers) if line["event"] == "http_request"
            }
        assert len(serving_pids) > 1, "the requests should have been spread over several workers"
        sent = rounds * len(STATUS_MIX)

        samples = scrape(four_workers)
        by_status: Counter[str] = Counter()
        for labels, value in samples["http_server_requests_total"].items():
            by_status[dict(labels)["status"]] += int(value)
        assert by_status == Counter(
            {str(s): rounds * c for s, c in Counter(s for _, _, s in STATUS_MIX).items()}
        )
        routes = {dict(labels)["route"] for labels in samples["http_server_requests_total"]}
        assert routes == {"/fibonacci/{n}", "(unmatched)"}
        assert sum(samples["http_server_request_duration_seconds_count"].values()) == sent
        assert (
            samples["fibonacci_cache_misses_total"][()] + samples["fibonacci_cache_hits_total"][()]
            == rounds * 30
        )
        assert samples["http_server_requests_in_flight"][()] == 0
        assert list(samples["fibsvc_build_info"].values()) == [1.0]

        with running_prometheus(tmp_path, f"127.0.0.1:{four_workers.port}") as prometheus:
            seen = prometheus.wait_for_value("sum(http_server_requests_total)", sent)
            assert seen == sent
            assert (
                prometheus.wait_for_value('sum(http_server_requests_total{status="422"})', 10 * rounds)
                == 10 * rounds
            )


class TestWorkerRecycling:
    def test_300_recycles_lose_no_count_and_leave_the_directory_bounded(self, tmp_path: Path) -> None:
        """With max_requests=1 every request ends its worker; totals stay exact and files stay few."""
        server = start_server(
            tmp_path / "server.log",
            env={
                "WEB_CONCURRENCY": "2",
                "FIBSVC_METRICS_DIR": str(tmp_path),
                "GUNICORN_CMD_ARGS": "--max-requests 1 --max-requests-jitter 0",
            },
        )
        try:
            (directory,) = tmp_path.glob("fibsvc-metrics-*")
            request(server, "/fibonacci/1")
            sent = 1
            # A gthread worker may take a second connection before it notices its limit, so
            # count the recycles rather than assume one per request.
            while server.worker_restarts() < 300 and sent < 1000:
                sent += 1
                assert request(server, f"/fibonacci/{sent}").status == 200
            assert server.worker_restarts() >= 300
            samples = scrape(server)
            ok = (("method", "GET"), ("route", "/fibonacci/{n}"), ("status", "200"))
            assert samples["http_server_requests_total"][ok] == sent
            assert samples["fibonacci_cache_misses_total"][()] == sent
            # Without archiving, 300 dead workers would leave 1,200 files. With it: 4 files per live
            # worker (2, plus 1 being replaced at any instant) and 2 archives.
            assert len(list(directory.glob("*.db"))) <= 3 * 4 + 2
        finally:
            server.stop()


class TestTraces:
    @pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
    def test_spans_reach_the_collector_with_a_parented_compute_span(
        self, tmp_path: Path, protocol: str
    ) -> None:
        """The server span and its fibonacci.compute child arrive over OTLP, with the response's trace id."""
        receiver_class = GrpcReceiver if protocol == "grpc" else HttpReceiver
        with receiver_class() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={
                    "WEB_CONCURRENCY": "2",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                },
            )
            try:
                response = request(server, "/fibonacci/12345")
                trace_id = trace_id_of(response)
                spans = receiver.store.wait_for(
                    lambda span: span.trace_id == trace_id and span.parent_span_id == ""
                )
                (server_span,) = spans
                (compute,) = receiver.store.wait_for(
                    lambda span: span.name == "fibonacci.compute" and span.trace_id == trace_id
                )
            finally:
                server.stop()
        assert server_span.name == "GET /fibonacci/{n}"
        assert server_span.service_name == "fibsvc"
        assert server_span.attributes["http.route"] == "/fibonacci/{n}"
        # The stable HTTP semantic conventions, with the names the request log uses.
        assert (server_span.attributes["url.path"], server_span.attributes["http.response.status_code"]) == (
            "/fibonacci/12345",
            200,
        )
        assert "http.status_code" not in server_span.attributes
        assert compute.parent_span_id == server_span.span_id
        assert compute.attributes == {
            "fibonacci.n": 12345,
            "fibonacci.digits": 2580,
            "fibonacci.cache_hit": False,
        }
        assert server_span.attributes["fibonacci.cache_hit"] is False
        (line,) = [entry for entry in log_lines(server) if entry.get("url.path") == "/fibonacci/12345"]
        assert (line["trace_id"], line["span_id"]) == (trace_id, server_span.span_id)

    def test_a_cache_hit_is_described_on_the_server_span_and_makes_no_compute_span(
        self, tmp_path: Path
    ) -> None:
        """No arithmetic, no compute span: the hit's server span says n, digits and cache_hit."""
        with HttpReceiver() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={
                    "WEB_CONCURRENCY": "1",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                },
            )
            try:
                traces = [trace_id_of(request(server, "/fibonacci/-77")) for _ in range(2)]
                receiver.store.wait_for(lambda span: span.trace_id == traces[1])
            finally:
                server.stop()
        names = {
            trace_id: sorted(s.name for s in receiver.store.spans() if s.trace_id == trace_id)
            for trace_id in traces
        }
        assert names == {
            traces[0]: ["GET /fibonacci/{n}", "fibonacci.compute"],
            traces[1]: ["GET /fibonacci/{n}"],
        }
        (hit,) = [span for span in receiver.store.spans() if span.trace_id == traces[1]]
        assert {
            key: hit.attributes[key] for key in ("fibonacci.n", "fibonacci.digits", "fibonacci.cache_hit")
        } == {
            "fibonacci.n": -77,
            "fibonacci.digits": 16,
            "fibonacci.cache_hit": True,
        }

    def test_incoming_traceparent_continues_the_callers_trace(self, tmp_path: Path) -> None:
        """A W3C traceparent makes the server span a child of the caller's span."""
        caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
        with HttpReceiver() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"},
            )
            try:
                response = request(
                    server, "/fibonacci/5", {"traceparent": f"00-{caller_trace}-{caller_span}-01"}
                )
                spans = receiver.store.wait_for(lambda span: span.parent_span_id == caller_span)
            finally:
                server.stop()
        assert trace_id_of(response) == caller_trace
        assert [span.trace_id for span in spans] == [caller_trace]

    def test_probes_and_scrapes_are_not_traced(self, tmp_path: Path) -> None:
        """/healthz, /readyz and /metrics make no spans; a real request after them does."""
        with HttpReceiver() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"},
            )
            try:
                for path in ("/healthz", "/readyz", "/metrics"):
                    assert request(server, path).getheader("traceresponse") is None
                request(server, "/fibonacci/3")
                receiver.store.wait_for(lambda span: span.name == "GET /fibonacci/{n}")
            finally:
                server.stop()
        assert {span.name for span in receiver.store.spans()} == {"GET /fibonacci/{n}", "fibonacci.compute"}

    def test_spans_of_the_last_requests_are_flushed_on_graceful_shutdown(self, tmp_path: Path) -> None:
        """With a long batch delay, SIGTERM still delivers the spans still queued."""
        with HttpReceiver() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "600000"},
            )
            traces = {trace_id_of(request(server, f"/fibonacci/{n}")) for n in range(5)}
            assert receiver.store.spans() == []
            assert server.stop() == 0
            assert traces <= {span.trace_id for span in receiver.store.spans()}


class TestWithoutAnEndpoint:
    def test_ids_are_still_made_and_continue_the_callers_trace(self, tmp_path: Path) -> None:
        """With no OTLP endpoint, responses and log lines still carry trace ids, unsampled."""
        caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        server = start_server(tmp_path / "server.log", env={"WEB_CONCURRENCY": "1"})
        try:
            own = request(server, "/fibonacci/8").getheader("traceresponse", "")
            continued = request(
                server, "/fibonacci/9", {"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"}
            ).getheader("traceresponse", "")
        finally:
            server.stop()
        version, trace_id, span_id, flags = own.split("-")
        assert (version, len(trace_id), len(span_id)) == ("00", 32, 16)
        assert int(flags, 16) & 1 == 0, "not sampled: nothing is recorded when nothing is exported"
        assert continued.split("-")[1] == caller_trace
        logged = {
            line["url.path"]: line["trace_id"]
            for line in log_lines(server)
            if line["event"] == "http_request"
        }
        assert logged == {"/fibonacci/8": trace_id, "/fibonacci/9": caller_trace}


class TestCollectorTrouble:
    @pytest.mark.parametrize("trouble", ["refused", "black hole"])
    def test_requests_succeed_and_export_warnings_are_rate_limited(
        self, tmp_path: Path, trouble: str
    ) -> None:
        """A collector that refuses or hangs costs no request, and the log warns once, not per export."""
        hole = BlackHole()
        endpoint = hole.endpoint if trouble == "black hole" else refused_endpoint()
        with hole:
            server = start_server(
                tmp_path / "server.log",
                env={
                    "WEB_CONCURRENCY": "1",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                    "OTEL_BSP_SCHEDULE_DELAY": "50",
                    "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
                },
            )
            try:
                for n in range(200):
                    assert request(server, f"/fibonacci/{n % 40}").status == 200
            finally:
                server.stop()
        lines = log_lines(server)
        warnings = [line for line in lines if str(line["logger"]).startswith("opentelemetry")]
        assert len(warnings) == 1, warnings
        assert warnings[0]["level"] in {"warning", "error"}

    def test_a_hanging_collector_delays_a_worker_exit_by_the_flush_deadline_only(
        self, tmp_path: Path
    ) -> None:
        """With the collector black-holed, SIGTERM still ends the server in about 5 s, not the 20 s grace."""
        with BlackHole() as hole:
            server = start_server(
                tmp_path / "server.log",
                env={"WEB_CONCURRENCY": "2", "OTEL_EXPORTER_OTLP_ENDPOINT": hole.endpoint},
            )
            for n in range(50):
                assert request(server, f"/fibonacci/{n}").status == 200
            started = time.monotonic()
            assert server.stop() == 0
            took = time.monotonic() - started
        assert 4 < took < 12, took
        flush_warnings = [
            line for line in log_lines(server) if "not flushed within 5 s" in str(line["event"])
        ]
        assert len(flush_warnings) == 2


class TestLogs:
    def test_every_line_of_a_whole_run_is_json_with_the_required_fields(self, tmp_path: Path) -> None:
        """Start, requests of every status, and SIGTERM shutdown: one JSON object per line."""
        server = start_server(tmp_path / "server.log", env={"WEB_CONCURRENCY": "2"})
        for path, headers, status in STATUS_MIX[::5]:
            assert request(server, path, headers).status == status
        assert server.stop() == 0
        lines = log_lines(server)
        for line in lines:
            assert set(line) >= REQUIRED_LOG_FIELDS, line
            assert str(line["timestamp"]).endswith("Z")
        events = [str(line["event"]) for line in lines]
        assert any(event.startswith("Starting gunicorn") for event in events)
        assert any(event.startswith("Booting worker") for event in events)
        assert "Handling signal: term" in events
        assert "Shutting down: Master" in events
        requests = [line for line in lines if line["event"] == "http_request"]
        assert len(requests) == len(STATUS_MIX[::5])
        for line in requests:
            assert len(str(line["trace_id"])) == 32
            assert len(str(line["span_id"])) == 16
            assert line["http.route"] in {"/fibonacci/{n}", "(unmatched)"}

    def test_console_format_is_for_people(self, tmp_path: Path) -> None:
        """FIBSVC_LOG_FORMAT=console renders readable lines instead of JSON."""
        server = start_server(
            tmp_path / "server.log", env={"WEB_CONCURRENCY": "1", "FIBSVC_LOG_FORMAT": "console"}
        )
        request(server, "/fibonacci/5")
        server.stop()
        assert "http_request" in server.output()
        with pytest.raises(json.JSONDecodeError):
            log_lines(server)


class TestLogShipping:
    @pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
    def test_log_records_reach_the_collector_with_their_requests_trace(
        self, tmp_path: Path, protocol: str
    ) -> None:
        """With an endpoint, each request's log record goes over OTLP carrying its span's ids."""
        receiver_class = GrpcReceiver if protocol == "grpc" else HttpReceiver
        with receiver_class() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={
                    "WEB_CONCURRENCY": "2",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                    "OTEL_BLRP_SCHEDULE_DELAY": "100",
                },
            )
            try:
                paths = ["/fibonacci/321", "/fibonacci/abc"]
                traces = {path: trace_id_of(request(server, path)) for path in paths}
                records = {
                    path: receiver.logs.wait_for(
                        lambda record, path=path: (
                            record.body == "http_request"  # type: ignore[misc]
                            and record.attributes.get("url.path") == path
                        )
                    )[0]
                    for path in paths
                }
                spans = {
                    path: receiver.store.wait_for(
                        lambda span, trace_id=trace_id: (
                            span.trace_id == trace_id and span.parent_span_id == ""
                        )  # type: ignore[misc]
                    )[0]
                    for path, trace_id in traces.items()
                }
            finally:
                server.stop()
        for path in paths:
            assert (records[path].trace_id, records[path].span_id) == (traces[path], spans[path].span_id)
            assert records[path].service_name == "fibsvc"
        assert records["/fibonacci/321"].attributes["http.response.status_code"] == 200
        assert records["/fibonacci/abc"].attributes["http.response.status_code"] == 400
        assert records["/fibonacci/321"].severity_text == "INFO"
        # gunicorn's own records are shipped too, and stdout keeps every line as JSON.
        assert any(record.attributes.get("logger") == "gunicorn.error" for record in receiver.logs.records())
        assert sum(entry.get("event") == "http_request" for entry in log_lines(server)) == 2

    def test_otel_logs_exporter_none_keeps_logs_on_stdout_only(self, tmp_path: Path) -> None:
        """OTEL_LOGS_EXPORTER=none ships no records while spans still go to the same endpoint."""
        with HttpReceiver() as receiver:
            server = start_server(
                tmp_path / "server.log",
                env={
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_LOGS_EXPORTER": "none",
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                    "OTEL_BLRP_SCHEDULE_DELAY": "100",
                },
            )
            try:
                request(server, "/fibonacci/8")
                receiver.store.wait_for(lambda span: span.name == "GET /fibonacci/{n}")
            finally:
                server.stop()
        assert receiver.logs.records() == []
        assert any(entry.get("event") == "http_request" for entry in log_lines(server))
