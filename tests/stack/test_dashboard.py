"""The Grafana dashboard: the committed JSON is what the generator makes, and it is well formed."""

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "observability" / "grafana" / "dashboard.py"
COMMITTED = ROOT / "observability" / "grafana" / "dashboards" / "fibsvc.json"
DATASOURCE_VARIABLE = "${datasource}"
REQUIRED_TITLES = {
    "Request rate by status",
    "Error ratio (5xx / all)",
    "Latency p50 / p95 / p99",
    "In-flight requests",
    "Compute time p50 / p95",
    "Cache hit ratio",
    "Result size (digits) p50 / p95",
}


def load_generator() -> ModuleType:
    """Import observability/grafana/dashboard.py by its path; it is a script, not a package."""
    spec = importlib.util.spec_from_file_location("fibsvc_dashboard", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """Return the committed dashboard JSON, parsed."""
    document: dict[str, Any] = json.loads(COMMITTED.read_text())
    return document


def panels_by_title(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the dashboard's panels keyed by title."""
    return {panel["title"]: panel for panel in dashboard["panels"]}


class TestGeneratedJson:
    def test_committed_json_is_what_the_generator_makes_now(self, dashboard: dict[str, Any]) -> None:
        """Run `.venv/bin/python observability/grafana/dashboard.py` after changing the generator."""
        generated = json.loads(load_generator().render())
        assert generated == dashboard, "fibsvc.json is stale: regenerate it with dashboard.py"

    def test_dashboard_has_the_stable_uid_and_title(self, dashboard: dict[str, Any]) -> None:
        """Links and provisioning find the dashboard by uid `fibsvc`."""
        assert (dashboard["uid"], dashboard["title"]) == ("fibsvc", "fibsvc")


class TestPanels:
    def test_every_required_panel_exists(self, dashboard: dict[str, Any]) -> None:
        """Traffic, errors, latency, in-flight, compute time, cache hits and result size each have a panel."""
        assert set(panels_by_title(dashboard)) >= REQUIRED_TITLES

    def test_every_panel_has_a_one_line_description(self, dashboard: dict[str, Any]) -> None:
        """A reader can hover any panel to learn what it shows."""
        for panel in dashboard["panels"]:
            description = panel.get("description", "")
            assert description.strip(), panel["title"]
            assert "\n" not in description, panel["title"]

    def test_every_panel_has_a_unit(self, dashboard: dict[str, Any]) -> None:
        """Values read as rates, durations, ratios or counts, never as bare numbers."""
        units = {
            panel["title"]: panel["fieldConfig"]["defaults"].get("unit") for panel in dashboard["panels"]
        }
        assert units == {
            "Request rate by status": "reqps",
            "Error ratio (5xx / all)": "percentunit",
            "Latency p50 / p95 / p99": "s",
            "In-flight requests": "short",
            "Compute time p50 / p95": "s",
            "Cache hit ratio": "percentunit",
            "Result size (digits) p50 / p95": "short",
        }

    def test_latency_panel_shows_p50_p95_p99_with_exemplars(self, dashboard: dict[str, Any]) -> None:
        """The latency panel has one histogram_quantile query per percentile, each asking for exemplars."""
        targets = panels_by_title(dashboard)["Latency p50 / p95 / p99"]["targets"]
        quantiles = {target["legendFormat"]: target["expr"].split(",")[0] for target in targets}
        assert quantiles == {
            "p50": "histogram_quantile(0.5",
            "p95": "histogram_quantile(0.95",
            "p99": "histogram_quantile(0.99",
        }
        for target in targets:
            assert "http_server_request_duration_seconds_bucket" in target["expr"]
            assert "by (le)" in target["expr"]
            assert target["exemplar"] is True


class TestDatasource:
    def test_a_datasource_variable_selects_a_prometheus(self, dashboard: dict[str, Any]) -> None:
        """The `datasource` template variable lists the Prometheus data sources."""
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"

    def test_no_panel_or_query_hard_codes_a_datasource_uid(self, dashboard: dict[str, Any]) -> None:
        """Every panel and every query takes its data source from `${datasource}`."""
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_VARIABLE}, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE_VARIABLE}, (
                    panel["title"],
                    target["refId"],
                )

    def test_refids_are_unique_within_each_panel(self, dashboard: dict[str, Any]) -> None:
        """Grafana tells a panel's queries apart by refId."""
        for panel in dashboard["panels"]:
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids) == len([r for r in ref_ids if r]), panel["title"]
