"""The cost of telemetry: /fibonacci/30 with everything on versus telemetry off, same run."""

from collections.abc import Callable
from dataclasses import dataclass

from bench.throughput import Contender, WrkOptions, WrkRun, measure_interleaved
from tests.otlp_receiver import HttpReceiver

ON, WITH_LOGS, SPANS_ONLY, OFF = "on", "+logs", "spans only", "off"
# Telemetry off: no tracing at all, and no request log (only warnings). Prometheus metrics stay:
# they are part of the service and cannot be switched off.
OFF_ENV = {"OTEL_SDK_DISABLED": "true", "FIBSVC_LOG_LEVEL": "warning"}
# The floor of any "on": every span made and recorded, as 100 % sampling requires, but not
# exported, and no request log. Whatever encoding, export and logging cost comes on top.
SPANS_ONLY_ENV = {"OTEL_TRACES_SAMPLER": "always_on", "FIBSVC_LOG_LEVEL": "warning"}


@dataclass
class Overhead:
    """Interleaved wrk runs of each configuration, by name, and what the receiver got."""

    runs: dict[str, list[WrkRun]]
    spans_received: int
    log_records_received: int


def measure_overhead(
    options: WrkOptions, rounds: int, on_round: Callable[[int, dict[str, WrkRun]], None]
) -> Overhead:
    """Alternate wrk runs: fully instrumented, the same shipping its logs too, spans only, telemetry off."""
    with HttpReceiver(count_only=True) as receiver:
        # Everything on, as the telemetry issue defines it: 100 % sampling, spans exported over
        # OTLP/HTTP to a live receiver, metrics, and one JSON log line per request on stdout.
        on_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_LOGS_EXPORTER": "none",
        }
        contenders = [
            Contender(OFF, env=OFF_ENV),
            Contender(ON, env=on_env),
            # ...and the default with an endpoint: every log record is shipped over OTLP as well.
            Contender(WITH_LOGS, env={**on_env, "OTEL_LOGS_EXPORTER": "otlp"}),
            Contender(SPANS_ONLY, env=SPANS_ONLY_ENV),
        ]
        runs = measure_interleaved(contenders, options, rounds, on_round)
        return Overhead(runs, receiver.store.count, len(receiver.logs.records()))
