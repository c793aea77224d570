"""Every PromQL expression of the dashboard and of the alerts returns data from a live stack.

The real gunicorn (with the project's gunicorn.conf.py) serves traffic that touches every metric:
uncached n (cache misses, compute time), repeated n (cache hits), a 400 and a 404. Debian's
Prometheus scrapes it every second. A query that returns nothing there, because of a misspelt
metric or label, a wrong job, or a ratio that is empty instead of 0, is a panel that would be
empty on the real stack, and fails here.
"""

import http.client
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live_server import LiveServer, start_server
from tests.prometheus_server import Prometheus, running_prometheus

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "observability" / "grafana" / "dashboards" / "fibsvc.json"
ALERTS = ROOT / "observability" / "prometheus" / "alerts.yml"
# What Grafana would put in place of its variables. Prometheus here scrapes every second, so a
# 30 s window holds many scrapes, while still covering only traffic this test sent.
GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "${__rate_interval}": "30s",
    "$__interval": "15s",
    "${__interval}": "15s",
    "${datasource}": "prometheus",
    "$datasource": "prometheus",
}
# A trailing comparison of an alert expression with a number: `... > 0.01`, `... == 0`.
THRESHOLD = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")
DEADLINE_SECONDS = 20
POLL_SECONDS = 0.25


def dashboard_queries() -> dict[str, str]:
    """Return every query of the committed dashboard as `panel [refId]` -> PromQL, variables replaced."""
    queries: dict[str, str] = {}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            assert "$" not in expression, f"unknown Grafana variable in {expression}"
            queries[f"{panel['title']} [{target['refId']}]"] = expression
    return queries


def strip_threshold(expression: str) -> str:
    """Return an alert expression without its trailing comparison with a number."""
    match = THRESHOLD.search(expression)
    assert match, f"no trailing threshold comparison in {expression}"
    return expression[: match.start()].strip()


def alert_rules() -> dict[str, str]:
    """Return every alert of alerts.yml as name -> PromQL expression."""
    document = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in document["groups"] for rule in group["rules"]}


def finite_values(result: list[dict[str, object]]) -> list[float]:
    """Return the sample values of an instant query result that are numbers, not NaN or infinite."""
    values: list[float] = []
    for sample in result:
        pair = sample["value"]
        assert isinstance(pair, list)
        values.append(float(pair[1]))
    return [value for value in values if math.isfinite(value)]


class Traffic:
    """Send rounds of requests that move every metric the dashboard and the alerts read."""

    def __init__(self, server: LiveServer) -> None:
        self._server = server
        self._round = 0

    def send_round(self) -> None:
        """Send one round: fresh n (misses), a repeated n (hits), a large n, a 400 and a 404."""
        self._round += 1
        fresh = [f"/fibonacci/{1000 + 10 * self._round + i}" for i in range(5)]
        expected = [
            *[(path, 200) for path in fresh],
            *[("/fibonacci/10", 200)] * 6,
            (f"/fibonacci/{100_000 + self._round}", 200),
            ("/fibonacci/010", 400),
            ("/nowhere", 404),
        ]
        for path, status in expected:
            assert self._get(path) == status, path

    def _get(self, path: str) -> int:
        """Send one GET on a new connection, so the workers share the requests; return the status."""
        connection = http.client.HTTPConnection("127.0.0.1", self._server.port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


@dataclass
class Stack:
    """The service under traffic and the Prometheus scraping it."""

    prometheus: Prometheus
    traffic: Traffic

    def empty_queries(self, queries: dict[str, str]) -> dict[str, list[dict[str, object]]]:
        """Send traffic and poll until every query has a finite sample; return those that never did."""
        last: dict[str, list[dict[str, object]]] = {}
        pending = dict(queries)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while pending and time.monotonic() < deadline:
            self.traffic.send_round()
            for name, expression in list(pending.items()):
                last[name] = self.prometheus.query(expression)
                if finite_values(last[name]):
                    del pending[name]
            if pending:
                time.sleep(POLL_SECONDS)
        return {name: last.get(name, []) for name in pending}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Run gunicorn with 2 workers and a Prometheus scraping it as job `fibsvc` every second."""
    work = tmp_path_factory.mktemp("promql")
    server = start_server(work / "server.log", env={"WEB_CONCURRENCY": "2"})
    try:
        with running_prometheus(work, f"127.0.0.1:{server.port}") as prometheus:
            yield Stack(prometheus, Traffic(server))
    finally:
        assert server.stop() == 0, server.output()


def report(empty: dict[str, Any], queries: dict[str, str]) -> str:
    """Describe the queries that returned no finite sample, for the failure message."""
    return "\n".join(f"{name}: {queries[name]} -> {result}" for name, result in empty.items())


class TestDashboardQueries:
    def test_every_dashboard_query_returns_a_number_under_traffic(self, stack: Stack) -> None:
        """Each panel query, variables replaced, returns at least one sample that is not NaN."""
        queries = dashboard_queries()
        assert len(queries) >= 7
        empty = stack.empty_queries(queries)
        assert not empty, "empty panels on a live stack:\n" + report(empty, queries)


class TestAlertExpressions:
    def test_every_alert_expression_without_its_threshold_returns_a_number(self, stack: Stack) -> None:
        """Each alert's expression, its trailing `> x` / `== x` removed, returns a sample that is not NaN.

        A healthy service rightly fires no alert, so the full expression is empty; what this
        checks is that the side compared with the threshold reads real series (right metric,
        labels and job) and yields a number, so the comparison can fire when the number crosses
        it. The full expression is also run, so Prometheus must accept it.
        """
        rules = alert_rules()
        assert set(rules) == {"FibsvcHighErrorRatio", "FibsvcHighLatencyP99", "FibsvcTargetDown"}
        queries = {name: strip_threshold(expression) for name, expression in rules.items()}
        empty = stack.empty_queries(queries)
        assert not empty, "alert expressions without data on a live stack:\n" + report(empty, queries)
        for expression in rules.values():
            stack.prometheus.query(expression)
