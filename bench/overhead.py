"""The cost of telemetry: /fibonacci/30 with everything on versus telemetry off, same run."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.servers import serving
from bench.throughput import FIB_PATH, WrkOptions, WrkRun, check_ok, find_wrk, run_wrk
from tests.otlp_receiver import HttpReceiver

# Telemetry off: no tracing at all, and no request log (only warnings). Prometheus metrics stay:
# they are part of the service and cannot be switched off.
OFF = {"OTEL_SDK_DISABLED": "true", "FIBSVC_LOG_LEVEL": "warning"}


@dataclass
class Overhead:
    """Paired wrk runs of the two configurations."""

    on: list[WrkRun]
    off: list[WrkRun]
    on_with_logs: list[WrkRun]
    spans_received: int
    log_records_received: int

    @property
    def median_ratio(self) -> float:
        """Return median req/s with telemetry on over median req/s with it off."""
        return statistics.median(r.rate for r in self.on) / statistics.median(r.rate for r in self.off)

    @property
    def median_ratio_with_logs(self) -> float:
        """Return median req/s when log records are shipped over OTLP too, over telemetry off."""
        return statistics.median(r.rate for r in self.on_with_logs) / statistics.median(
            r.rate for r in self.off
        )


def measure_overhead(
    options: WrkOptions, rounds: int, on_round: Callable[[int, WrkRun, WrkRun, WrkRun], None]
) -> Overhead:
    """Alternate wrk runs: fully instrumented, the same shipping its logs over OTLP too, telemetry off."""
    wrk = find_wrk()
    with HttpReceiver(count_only=True) as receiver:
        # Everything on, as the telemetry issue defines it: 100 % sampling, spans exported over
        # OTLP/HTTP to a live receiver, metrics, and one JSON log line per request on stdout.
        on_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_LOGS_EXPORTER": "none",
        }
        # ...and the default with an endpoint: every log record is shipped over OTLP as well.
        logs_env = {**on_env, "OTEL_LOGS_EXPORTER": "otlp"}
        with serving(env=on_env) as on, serving(env=logs_env) as on_with_logs, serving(env=OFF) as off:
            for server in (on, on_with_logs, off):
                check_ok(server, FIB_PATH)
                run_wrk(wrk, options, server, FIB_PATH, 2)
            result = Overhead([], [], [], 0, 0)
            for number in range(1, rounds + 1):
                result.on.append(run_wrk(wrk, options, on, FIB_PATH, options.seconds))
                result.off.append(run_wrk(wrk, options, off, FIB_PATH, options.seconds))
                result.on_with_logs.append(run_wrk(wrk, options, on_with_logs, FIB_PATH, options.seconds))
                on_round(number, result.on[-1], result.off[-1], result.on_with_logs[-1])
        result.spans_received = receiver.store.count
        result.log_records_received = len(receiver.logs.records())
    return result
