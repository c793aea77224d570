"""The Prometheus alerting rules: valid, unit-tested by promtool, and the three alerts we page on."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMTOOL = "/usr/bin/promtool"
RULES_DIR = Path(__file__).resolve().parents[2] / "observability" / "prometheus"
ALERTS = RULES_DIR / "alerts.yml"
ALERTS_TEST = RULES_DIR / "alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool in the rules directory and return its result, output captured."""
    return subprocess.run(
        [PROMTOOL, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    """Return the rules of group `fibsvc`, keyed by alert name."""
    document = yaml.safe_load(ALERTS.read_text())
    (group,) = document["groups"]
    assert group["name"] == "fibsvc"
    return {rule["alert"]: rule for rule in group["rules"]}


class TestPromtool:
    def test_promtool_check_rules_accepts_the_rules(self) -> None:
        """The file parses and every expression is valid PromQL."""
        result = promtool("check", "rules", ALERTS.name)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_promtool_unit_tests_pass(self) -> None:
        """Each alert fires when it should, after its `for`, and stays quiet when it should not."""
        result = promtool("test", "rules", ALERTS_TEST.name)
        assert result.returncode == 0, result.stdout + result.stderr


class TestRules:
    def test_the_three_alerts_exist_with_their_for_durations(self, rules: dict[str, dict[str, Any]]) -> None:
        """Error ratio waits 5m, p99 latency 10m, a down target 1m."""
        assert {name: rule["for"] for name, rule in rules.items()} == {
            "FibsvcHighErrorRatio": "5m",
            "FibsvcHighLatencyP99": "10m",
            "FibsvcTargetDown": "1m",
        }

    def test_every_alert_has_a_severity_summary_and_description(
        self, rules: dict[str, dict[str, Any]]
    ) -> None:
        """Whoever is paged learns how bad it is, what happened and where to look."""
        for name, rule in rules.items():
            assert rule["labels"]["severity"] in {"critical", "warning"}, name
            assert rule["annotations"]["summary"].strip(), name
            assert rule["annotations"]["description"].strip(), name

    def test_thresholds_are_1_percent_errors_and_half_a_second_p99(
        self, rules: dict[str, dict[str, Any]]
    ) -> None:
        """The thresholds are the ones the annotations and the dashboard state."""
        assert rules["FibsvcHighErrorRatio"]["expr"].split()[-1] == "0.01"
        assert 'status=~"5.."' in rules["FibsvcHighErrorRatio"]["expr"]
        assert rules["FibsvcHighLatencyP99"]["expr"].split()[-1] == "0.5"
        assert "histogram_quantile(0.99," in rules["FibsvcHighLatencyP99"]["expr"]
        assert rules["FibsvcTargetDown"]["expr"].strip() == 'up{job="fibsvc"} == 0'
