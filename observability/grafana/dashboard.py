"""Generate the Grafana dashboard "fibsvc" as code; run it to rewrite dashboards/fibsvc.json.

    .venv/bin/python observability/grafana/dashboard.py

Every panel and query takes its data source from the ``datasource`` template variable, so the
JSON names no data source uid and works against any Prometheus that scrapes job ``fibsvc``.
"""

import json
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DashboardCursorSync,
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
)

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "fibsvc.json"
UID = "fibsvc"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Grafana widens this to at least four scrape intervals, so rate() always sees two samples.
RATE_WINDOW = "$__rate_interval"
JOB = 'job="fibsvc"'
# The alert in observability/prometheus/alerts.yml pages above this error ratio.
ERROR_RATIO_LIMIT = 0.01
# Each row is this many grid units high; the grid is 24 units wide.
ROW_HEIGHT = 8

Panel = timeseries.Panel | stat.Panel


def rate(metric: str, selector: str = "") -> str:
    """Return the per-second rate of ``metric`` for job fibsvc over Grafana's rate interval."""
    labels = f"{JOB},{selector}" if selector else JOB
    return f"rate({metric}{{{labels}}}[{RATE_WINDOW}])"


def quantile(q: float, histogram: str) -> str:
    """Return the ``q`` quantile of a histogram, summed over every series and worker."""
    return f"histogram_quantile({q}, sum by (le) ({rate(histogram + '_bucket')}))"


def query(expr: str, legend: str, ref_id: str, *, exemplar: bool = False) -> prometheus.Dataquery:
    """Return a range query on the dashboard's data source."""
    return (
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .range()
        .exemplar(exemplar)
    )


def graph(title: str, description: str, unit: str, *targets: prometheus.Dataquery) -> timeseries.Panel:
    """Return a time series panel of ``targets`` with the legend below and a shared tooltip."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
    )
    for target in targets:
        panel.with_target(target)
    return panel


def single_value(title: str, description: str, unit: str, target: prometheus.Dataquery) -> stat.Panel:
    """Return a stat panel showing the last value of ``target`` over a sparkline."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .with_target(target)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def error_ratio_expr() -> str:
    """Return the share of requests answered 5xx: 0, not empty, while there is traffic but no error."""
    errors = "sum(" + rate("http_server_requests_total", 'status=~"5.."') + ")"
    return f"({errors} or vector(0)) / sum({rate('http_server_requests_total')})"


def cache_hit_ratio_expr() -> str:
    """Return the share of Fibonacci bodies served from the workers' caches."""
    hits = f"sum({rate('fibonacci_cache_hits_total')})"
    misses = f"sum({rate('fibonacci_cache_misses_total')})"
    return f"{hits} / ({hits} + {misses})"


def panels() -> list[tuple[Panel, GridPos]]:
    """Return every panel with its place on the grid, top to bottom."""
    requests = graph(
        "Request rate by status",
        "Requests answered per second, by HTTP status (probes and /metrics are not counted).",
        "reqps",
        query(f"sum by (status) ({rate('http_server_requests_total')})", "{{status}}", "A"),
    )
    errors = graph(
        "Error ratio (5xx / all)",
        "Share of requests answered with a 5xx status; the FibsvcHighErrorRatio alert fires above 1%.",
        "percentunit",
        query(error_ratio_expr(), "5xx ratio", "A"),
    ).thresholds(
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(None, "green"), Threshold(ERROR_RATIO_LIMIT, "red")])
    )
    latency = graph(
        "Latency p50 / p95 / p99",
        "Time from a request reaching the app to its response being ready, all routes; dots are exemplars.",
        "s",
        *(
            query(quantile(q, "http_server_request_duration_seconds"), f"p{percent}", ref, exemplar=True)
            for q, percent, ref in ((0.5, 50, "A"), (0.95, 95, "B"), (0.99, 99, "C"))
        ),
    )
    in_flight = graph(
        "In-flight requests",
        "Requests being handled right now, summed over the live gunicorn workers.",
        "short",
        query(f"sum(http_server_requests_in_flight{{{JOB}}})", "in flight", "A"),
    )
    compute = graph(
        "Compute time p50 / p95",
        "Time to compute and render F(n) on a cache miss; cache hits are not included.",
        "s",
        query(quantile(0.5, "fibonacci_compute_seconds"), "p50", "A"),
        query(quantile(0.95, "fibonacci_compute_seconds"), "p95", "B"),
    )
    cache = single_value(
        "Cache hit ratio",
        "Share of Fibonacci bodies served from the per-worker caches instead of computed afresh.",
        "percentunit",
        query(cache_hit_ratio_expr(), "hit ratio", "A"),
    )
    digits = graph(
        "Result size (digits) p50 / p95",
        "Decimal digits of the Fibonacci numbers served, a proxy for response size and compute cost.",
        "short",
        query(quantile(0.5, "fibonacci_result_digits"), "p50", "A"),
        query(quantile(0.95, "fibonacci_result_digits"), "p95", "B"),
    )
    half, third = 12, 8
    return [
        (requests, GridPos(ROW_HEIGHT, half, 0, 0)),
        (errors, GridPos(ROW_HEIGHT, half, half, 0)),
        (latency, GridPos(ROW_HEIGHT, half, 0, ROW_HEIGHT)),
        (in_flight, GridPos(ROW_HEIGHT, half, half, ROW_HEIGHT)),
        (compute, GridPos(ROW_HEIGHT, third, 0, 2 * ROW_HEIGHT)),
        (cache, GridPos(ROW_HEIGHT, third, third, 2 * ROW_HEIGHT)),
        (digits, GridPos(ROW_HEIGHT, third, 2 * third, 2 * ROW_HEIGHT)),
    ]


def build_dashboard() -> Dashboard:
    """Return the fibsvc dashboard model."""
    builder = (
        dashboard_builders.Dashboard("fibsvc")
        .uid(UID)
        .description("Traffic, errors, latency and Fibonacci work of fibsvc, from its Prometheus metrics.")
        .tags(["fibsvc"])
        .time("now-1h", "now")
        .refresh("30s")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        # An explicit empty list, not a missing one: Grafana adds its built-in annotation to it.
        .annotations([])
        .with_variable(
            dashboard_builders.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )
    for number, (panel, position) in enumerate(panels(), start=1):
        builder.with_panel(panel.id(number).grid_pos(position))
    return builder.build()


def render() -> str:
    """Return the dashboard as the JSON document Grafana provisions, ending in a newline."""
    return json.dumps(build_dashboard(), cls=JSONEncoder, indent=2) + "\n"


def main() -> None:
    """Write the dashboard JSON next to this script, in dashboards/."""
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
