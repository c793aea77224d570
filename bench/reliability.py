"""``python -m bench.reliability``: how fibsvc behaves when things go wrong, in figures.

Each section starts the real gunicorn with the project's gunicorn.conf.py on 127.0.0.1,
loads it for a bounded time, and prints its figures beside their targets:

1. shutdown: SIGTERM under closed-loop load (keep-alive and connection-per-request clients),
   with FIBSVC_DRAIN_SECONDS=2 and, as the same-run reference, without a drain: requests
   answered after the signal, failures before the listener closed (target 0), answers that
   were not a complete 200 (target 0), and connections refused or reset after it closed.
2. collector: wrk --latency at /fibonacci/30 with spans (100 % sampled) and log records going
   to a healthy OTLP receiver, to a port that refuses connections, and to one that never
   answers; interleaved rounds. Targets: p99 within 1.2x of healthy, no errors, and worker
   RSS bounded (the span queue holds at most OTEL_BSP_MAX_QUEUE_SIZE = 2048 spans).
3. heavy: p99 of /fibonacci/30 at a fixed rate, idle, then while 4 clients ask for uncached
   n in 900,000-1,000,000; target within 5x idle. The same load on a server with the bound
   lifted (FIBSVC_HEAVY_SLOTS=64) shows what the bound buys.
4. slow: 50 connections sending their headers one byte a second for 15 s, while a probe
   measures /fibonacci/30; target: 99 % answered. gunicorn alone is not expected to meet
   it: a proxy in front (nginx in compose, ingress-nginx in Kubernetes) buffers requests.
5. memory: ``--memory-requests`` GETs for uniformly random n up to FIBSVC_MAX_N, each on a new
   connection so every worker takes its share; each worker's peak RSS against a bound.

A missed target is a finding, printed as MISS. Only a failed measurement (a server that does
not start, wrk failing to run, no sample) makes the exit status non-zero.
"""

import argparse
import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.errors import BenchError
from bench.figures import Figure, run_and_summarise
from bench.reliability_clients import (
    ClosedLoad,
    HeavyClients,
    Result,
    SlowHeaders,
    WrkLatency,
    get_once,
    median_or_nan,
    mib,
    probe,
    run_wrk_latency,
    summarize,
    workers_rss,
)
from bench.servers import serving
from bench.throughput import FIB_PATH, WrkOptions, check_ok, find_wrk
from fibsvc.settings import MIB, ServerSettings, Settings
from tests.live_server import ListenerWatch, LiveServer
from tests.otlp_receiver import BlackHole, HttpReceiver, refused_endpoint

COMMAND = ".venv/bin/python -m bench.reliability"
SECTIONS = ("shutdown", "collector", "heavy", "slow", "memory")
# gunicorn.conf.py's graceful_timeout.
GRACEFUL_TIMEOUT = 20
DRAIN_SECONDS = 2
COLLECTOR_P99_TARGET = 1.2
# The span and log record queues hold at most 2,048 items each (OTEL_BSP_MAX_QUEUE_SIZE,
# OTEL_BLRP_MAX_QUEUE_SIZE); both full measured about 17 MiB over a healthy worker here.
COLLECTOR_RSS_ALLOWANCE_MIB = 24
HEAVY_P99_TARGET = 5.0
SLOW_SUCCESS_TARGET = 0.99
# Headroom over idle RSS plus the cache: numbers being computed and rendered, allocator slack.
MEMORY_HEADROOM_MIB = 32
DEFAULT_MEMORY_REQUESTS = 6_000
FULL_MEMORY_REQUESTS = 100_000


def report(figure: Figure) -> Figure:
    """Print ``figure``'s line at once and return it, for the summary."""
    print(figure.line(), flush=True)
    return figure


def ms(seconds: float) -> str:
    """Return seconds as milliseconds with two decimals."""
    return "n/a" if math.isnan(seconds) else f"{seconds * 1e3:.2f}"


# --- 1. Graceful shutdown -------------------------------------------------------------------


@dataclass(frozen=True)
class ShutdownRun:
    """What the clients saw around one SIGTERM."""

    drain: int
    results: list[Result]
    signalled: float
    last_open: float
    closed_at: float
    exited: float
    exit_status: int

    def answered(self, start: float, end: float) -> int:
        """Return the complete 200s that ended in [start, end)."""
        return sum(r.ok for r in self.results if start <= r.finished < end)

    def bad_answers(self) -> int:
        """Return answers that were not a complete 200."""
        return sum(r.error is None and not r.ok for r in self.results)

    def early_failures(self) -> int:
        """Return failures that ended while the listener was still open."""
        return sum(r.error is not None and r.finished < self.last_open for r in self.results)

    def late_failures(self, kind: type[BaseException] | tuple[type[BaseException], ...]) -> int:
        """Return failures of ``kind`` that ended after the listener was last seen open."""
        return sum(isinstance(r.error, kind) and r.finished >= self.last_open for r in self.results)


def small_n(rng: random.Random) -> str:
    """Return /fibonacci/{n} for a small n (cached after its first request in each worker)."""
    return f"/fibonacci/{rng.randint(0, 90)}"


def shutdown_run(drain: int, keep_alive: int, fresh: int, endpoint: str | None = None) -> ShutdownRun:
    """Start a server with ``drain`` s of drain, load it, SIGTERM it, and record every request.

    With ``endpoint``, spans and log records go there over OTLP/HTTP.
    """
    env = {"FIBSVC_DRAIN_SECONDS": str(drain)}
    if endpoint is not None:
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": "always_on"}
    with serving(env=env) as server:
        check_ok(server, FIB_PATH)
        with ListenerWatch(server.port) as watch, ClosedLoad(server.port, small_n, keep_alive, fresh) as load:
            time.sleep(1.5)  # steady load before the signal
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            try:
                status = server.process.wait(drain + GRACEFUL_TIMEOUT + 10)
            except subprocess.TimeoutExpired as error:
                raise BenchError(f"gunicorn did not exit within {drain + GRACEFUL_TIMEOUT + 10} s") from error
            exited = time.monotonic()
            time.sleep(0.3)  # let every client meet the closed port
    if watch.closed_at is None:
        raise BenchError("the listener never closed")
    return ShutdownRun(drain, load.results(), signalled, watch.last_open, watch.closed_at, exited, status)


def _print_shutdown_row(label: str, run: ShutdownRun) -> None:
    """Print one line of the shutdown table."""
    refused = run.late_failures(ConnectionRefusedError)
    reset = run.late_failures((ConnectionResetError, BrokenPipeError))
    late = sum(r.error is not None and r.finished >= run.last_open for r in run.results)
    print(
        f"{label:>10}  {run.drain:>4}s  {run.answered(run.signalled, run.closed_at):>11}"
        f"  {run.answered(run.closed_at, math.inf):>10}  {run.early_failures():>9}  {refused:>8}"
        f"  {reset:>5}  {late - refused - reset:>5}  {run.closed_at - run.signalled:>15.2f}"
        f"  {run.exited - run.signalled:>5.2f}",
        flush=True,
    )


def shutdown_section() -> list[Figure]:
    """Measure SIGTERM under load with and without the drain; return the targets."""
    keep_alive, fresh = 16, 8
    server = ServerSettings.from_env(os.environ)
    print(
        f"\n== 1. Graceful shutdown: SIGTERM after 1.5 s of closed-loop load on /fibonacci/{{0..90}},"
        f" {keep_alive} keep-alive clients + {fresh} opening a connection per request;"
        f" {server.workers} workers x {server.threads} threads ({COMMAND} --only shutdown)"
        "\n   a client gives up once refused; 'reset' counts resets, early closes and broken pipes;"
        " 'listening' is up to the moment /proc/net/tcp last showed the port listening"
    )
    print(
        f"{'':>10}  {'':>5}  {'answered after SIGTERM':^24}  {'failed':^30}  {'seconds after SIGTERM':^22}"
        f"\n{'collector':>10}  {'drain':>5}  {'listening':>11}  {'closed':>10}  {'listening':>9}"
        f"  {'refused':>8}  {'reset':>5}  {'other':>5}  {'listener closed':>15}  {'exit':>5}"
    )
    figures = []
    with BlackHole() as hole:
        plans = [
            ("none", DRAIN_SECONDS, None),
            ("none", 0, None),
            ("black hole", DRAIN_SECONDS, hole.endpoint),
        ]
        measured = []
        for label, drain, endpoint in plans:
            run = shutdown_run(drain, keep_alive, fresh, endpoint)
            measured.append((label, run))
            _print_shutdown_row(label, run)
    for label, run in measured:
        drain = run.drain
        if run.exit_status != 0:
            raise BenchError(f"gunicorn exited with {run.exit_status} after SIGTERM")
        if drain and label == "black hole":
            figures.append(
                Figure(
                    f"drain {drain} s, black-holed collector: seconds from SIGTERM to exit",
                    run.exited - run.signalled,
                    drain + GRACEFUL_TIMEOUT,
                    " s",
                )
            )
        elif drain:
            figures += [
                Figure(
                    f"drain {drain} s: requests failed before the listener closed",
                    run.early_failures(),
                    0,
                    "",
                ),
                Figure(f"drain {drain} s: answers not a complete 200", run.bad_answers(), 0, ""),
                Figure(
                    f"drain {drain} s: seconds from SIGTERM to exit",
                    run.exited - run.signalled,
                    drain + GRACEFUL_TIMEOUT,
                    " s",
                ),
            ]
    for figure in figures:
        report(figure)
    return figures


# --- 2. Collector trouble -------------------------------------------------------------------


def collector_section(rounds: int = 4) -> list[Figure]:
    """Compare p99 and worker RSS with a healthy, a refusing and a black-holed collector."""
    options = WrkOptions(connections=8, seconds=4)
    print(
        f"\n== 2. Collector trouble: {options.describe()} --latency on GET {FIB_PATH}, x {rounds} rounds,"
        " interleaved; 100 % of spans and every log record exported over OTLP/HTTP; 3 servers"
        f" side by side ({COMMAND} --only collector)"
        "\n   RSS: the largest worker's, before any load and after each round"
    )
    wrk = find_wrk()
    names = ("healthy", "refused", "black hole")
    runs: dict[str, list[WrkLatency]] = {name: [] for name in names}
    # Per server, one reading of every worker's RSS before the load and after each round.
    rss: dict[str, list[dict[int, int]]] = {name: [] for name in names}
    with HttpReceiver(count_only=True) as receiver, BlackHole() as hole, contextlib.ExitStack() as stack:
        endpoints = (receiver.endpoint, refused_endpoint(), hole.endpoint)
        servers = {
            name: stack.enter_context(
                serving(env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": "always_on"})
            )
            for name, endpoint in zip(names, endpoints, strict=True)
        }
        for name, server in servers.items():
            check_ok(server, FIB_PATH)
            rss[name].append(workers_rss(server.process.pid))
        header = "  ".join(f"{name + ' p99 ms':>17}" for name in names)
        print(f"{'round':>5}  {header}  {'RSS MiB':>7} " + " / ".join(names), flush=True)
        print(f"{'-':>5}  " + "  ".join(f"{'':>17}" for _ in names) + _largest(rss), flush=True)
        for number in range(1, rounds + 1):
            for name, server in servers.items():
                runs[name].append(run_wrk_latency(wrk, options, server.url(FIB_PATH)))
                rss[name].append(workers_rss(server.process.pid))
            p99s = "  ".join(f"{ms(runs[name][-1].p99):>17}" for name in names)
            print(f"{number:>5}  {p99s}" + _largest(rss), flush=True)
        spans = receiver.store.count
    print(
        "median p99 ms: "
        + ", ".join(f"{name} {ms(median_or_nan([run.p99 for run in runs[name]]))}" for name in names)
        + f"; requests: {', '.join(str(sum(r.requests for r in runs[name])) for name in names)}"
        + f"; spans the healthy receiver got: {spans}"
    )
    figures = []
    for name in ("refused", "black hole"):
        ratios = [t.p99 / h.p99 for t, h in zip(runs[name], runs["healthy"], strict=True)]
        figures += [
            Figure(
                f"collector {name}: p99 / healthy p99 (median of rounds)",
                median_or_nan(ratios),
                COLLECTOR_P99_TARGET,
                "x",
            ),
            Figure(f"collector {name}: failed requests", sum(r.errors for r in runs[name]), 0, ""),
            Figure(
                f"collector {name}: largest worker RSS over the healthy server's",
                (max(rss[name][-1].values()) - max(rss["healthy"][-1].values())) / 1024,
                COLLECTOR_RSS_ALLOWANCE_MIB,
                " MiB",
            ),
        ]
    for figure in figures:
        report(figure)
    return figures


def _largest(rss: dict[str, list[dict[int, int]]]) -> str:
    """Return each server's largest worker RSS in its latest reading, in MiB."""
    return "  " + " / ".join(mib(max(readings[-1].values(), default=0)) for readings in rss.values())


# --- 3. Heavy versus light ------------------------------------------------------------------


def heavy_section(rounds: int = 2, seconds: float = 6, rate: float = 100) -> list[Figure]:
    """Measure /fibonacci/30 latency idle and while 4 clients ask for large uncached n."""
    low, high, clients = 900_000, 1_000_000, 4
    settings = Settings.from_env(os.environ)
    print(
        f"\n== 3. Heavy vs light: GET {FIB_PATH} at {rate:.0f}/s on a new connection each, {seconds:.0f} s"
        f" per run x {rounds} rounds, idle / with {clients} clients asking for random n in"
        f" {low:,}-{high:,} (honouring Retry-After) / the same with FIBSVC_HEAVY_SLOTS=64;"
        f" bounded server: FIBSVC_HEAVY_SLOTS={settings.heavy_slots}, FIBSVC_HEAVY_N={settings.heavy_n:,}"
        f" ({COMMAND} --only heavy)"
    )
    kinds = ("idle", "heavy, bounded", "heavy, unbounded")
    results: dict[str, list[Result]] = {kind: [] for kind in kinds}
    heavy: dict[str, dict[str, int]] = {kinds[1]: {}, kinds[2]: {}}
    with serving() as bounded, serving(env={"FIBSVC_HEAVY_SLOTS": "64"}) as unbounded:
        for server in (bounded, unbounded):
            check_ok(server, FIB_PATH)
            probe(server.port, FIB_PATH, rate, 1)  # untimed: every worker takes a first request
        for _ in range(rounds):
            results[kinds[0]] += probe(bounded.port, FIB_PATH, rate, seconds)
            for kind, server in ((kinds[1], bounded), (kinds[2], unbounded)):
                with HeavyClients(server.port, clients, low, high) as load:
                    results[kind] += probe(server.port, FIB_PATH, rate, seconds)
                for key, count in load.statuses.items():
                    heavy[kind][key] = heavy[kind].get(key, 0) + count
    summaries = {kind: summarize(done) for kind, done in results.items()}
    print(
        f"{'':>17}  {'requests':>8}  {'ok':>6}  {'p50 ms':>7}  {'p99 ms':>7}  {'p99/idle':>8}  heavy answers"
    )
    for kind, summary in summaries.items():
        answers = ", ".join(f"{key}: {count}" for key, count in sorted(heavy.get(kind, {}).items())) or "-"
        print(
            f"{kind:>17}  {summary.requests:>8}  {summary.succeeded:>6}  {ms(summary.p50):>7}"
            f"  {ms(summary.p99):>7}  {summary.p99 / summaries['idle'].p99:>7.2f}x  {answers}",
            flush=True,
        )
    loaded = summaries[kinds[1]]
    figures = [
        Figure(
            "heavy load: p99 of GET /fibonacci/30 / idle p99",
            loaded.p99 / summaries["idle"].p99,
            HEAVY_P99_TARGET,
            "x",
        ),
        Figure("heavy load: GET /fibonacci/30 answered", loaded.success_rate * 100, 100, " %", at_least=True),
    ]
    for figure in figures:
        report(figure)
    return figures


# --- 4. Slow clients ------------------------------------------------------------------------


def slow_section(connections: int = 50, seconds: float = 15, rate: float = 20) -> list[Figure]:
    """Measure /fibonacci/30 while slow clients trickle their headers."""
    server_settings = ServerSettings.from_env(os.environ)
    print(
        f"\n== 4. Slow clients: {connections} connections sending headers 1 byte/s for {seconds:.0f} s;"
        f" GET {FIB_PATH} at {rate:.0f}/s (5 s timeout) before, during and after; gunicorn alone,"
        f" {server_settings.workers} workers x {server_settings.threads} threads"
        f" ({COMMAND} --only slow)"
    )
    with serving() as server:
        check_ok(server, FIB_PATH)
        idle = summarize(probe(server.port, FIB_PATH, rate, 5))
        with SlowHeaders(server.port, connections, seconds) as slow:
            time.sleep(1)  # the slow connections are open and have started sending
            during = summarize(probe(server.port, FIB_PATH, rate, seconds - 2))
        closed = slow.closed_by_server
        after = summarize(probe(server.port, FIB_PATH, rate, 3))
    print(f"{'':>7}  {'requests':>8}  {'answered':>8}  {'p50 ms':>8}  {'p99 ms':>8}")
    for name, summary in (("before", idle), ("during", during), ("after", after)):
        print(
            f"{name:>7}  {summary.requests:>8}  {summary.success_rate * 100:>7.1f}%"
            f"  {ms(summary.p50):>8}  {ms(summary.p99):>8}"
        )
    print(f"slow connections the server closed before the clients did: {closed} of {connections}")
    figure = report(
        Figure(
            "slow clients: GET /fibonacci/30 answered during",
            during.success_rate * 100,
            SLOW_SUCCESS_TARGET * 100,
            " %",
            at_least=True,
        )
    )
    if not figure.met:
        print(
            "   gunicorn alone does not stay available: each connection sending its headers holds a"
            " worker thread until they are complete. Deployments put a buffering proxy in front"
            " (nginx in docker-compose.yml, ingress-nginx in Kubernetes)."
        )
    return [figure]


# --- 5. Memory ------------------------------------------------------------------------------


def uniform_n(max_n: int) -> Callable[[random.Random], int]:
    """Return a picker of n uniform in [0, max_n]."""
    return lambda rng: rng.randint(0, max_n)


def memory_section(requests: int) -> list[Figure]:
    """Send ``requests`` GETs for random n up to the limit; compare each worker's peak RSS to a bound."""
    settings = Settings.from_env(os.environ)
    checkpoints = 10
    print(
        f"\n== 5. Memory: {requests:,} sequential GETs of /fibonacci/{{n}},"
        f" n uniform in [0, {settings.max_n:,}],"
        f" seed 0, a new connection each; FIBSVC_CACHE_BYTES={settings.cache_bytes // MIB} MiB"
        f" ({COMMAND} --only memory --memory-requests {requests})"
    )
    with serving() as server:
        check_ok(server, FIB_PATH)
        master = server.process.pid
        idle = _all_workers_rss(master, ServerSettings.from_env(os.environ).workers)
        bound = (max(idle.values()) + settings.cache_bytes // 1024) / 1024 + MEMORY_HEADROOM_MIB
        print(f"idle worker RSS MiB: {', '.join(mib(kib) for kib in idle.values())}; bound {bound:.0f} MiB")
        print(f"{'requests':>9}  {'seconds':>7}  {'busy':>5}  worker RSS MiB")
        rng = random.Random(0)  # noqa: S311 - a reproducible spread, not security
        pick = uniform_n(settings.max_n)
        started = time.monotonic()
        busy = 0
        for number in range(1, requests + 1):
            result = _memory_request(server, pick(rng))
            busy += result
            if number % max(1, requests // checkpoints) == 0 or number == requests:
                rss = workers_rss(master)
                print(
                    f"{number:>9}  {time.monotonic() - started:>7.1f}  {busy:>5}"
                    f"  {', '.join(mib(kib) for kib in rss.values())}",
                    flush=True,
                )
        peaks = workers_rss(master, "VmHWM")
        restarts = server.worker_restarts()
    if set(peaks) != set(idle):
        print(f"note: workers changed during the run ({restarts} recycled); peaks are of the current ones")
    print(f"peak RSS (VmHWM) per worker, MiB: {', '.join(mib(kib) for kib in peaks.values())}")
    if requests < FULL_MEMORY_REQUESTS:
        print(f"   the issue's full run: {COMMAND} --only memory --memory-requests {FULL_MEMORY_REQUESTS}")
    return [report(Figure("memory: largest worker peak RSS", max(peaks.values()) / 1024, bound, " MiB"))]


def _all_workers_rss(master: int, workers: int, deadline_seconds: float = 30) -> dict[int, int]:
    """Return every worker's RSS in KiB once all ``workers`` run and have finished starting.

    A worker forks first and imports the app after, so its RSS climbs for a while: wait until
    two readings 0.2 s apart agree within 1 MiB, polling with a deadline.
    """
    deadline = time.monotonic() + deadline_seconds
    previous: dict[int, int] = {}
    while True:
        rss = workers_rss(master)
        settled = len(rss) >= workers and rss.keys() == previous.keys()
        if settled and all(abs(rss[pid] - previous[pid]) < 1024 for pid in rss):
            return rss
        if time.monotonic() > deadline:
            raise BenchError(f"{len(rss)} of {workers} workers had not settled within {deadline_seconds} s")
        previous = rss
        time.sleep(0.2)


def _memory_request(server: LiveServer, n: int) -> int:
    """GET /fibonacci/n until it is answered 200, honouring 503 Retry-After; return the 503s met."""
    busy = 0
    while True:
        result = get_once(server.port, f"/fibonacci/{n}", timeout=30)
        if result.status == 503 and result.retry_after and busy < 10:
            busy += 1
            time.sleep(float(result.retry_after))
            continue
        if not result.ok:
            raise BenchError(f"GET /fibonacci/{n} failed: {result}")
        return busy


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line; every section is bounded whatever the options."""
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable); default: all"
    )
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=DEFAULT_MEMORY_REQUESTS,
        help=f"requests of the memory section (default {DEFAULT_MEMORY_REQUESTS:,}, about 60 s;"
        f" the issue's full run is {FULL_MEMORY_REQUESTS:,}, about 17 min)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.memory_requests <= 1_000_000:
        parser.error("--memory-requests must be from 1 to 1,000,000")
    return args


def main(argv: Sequence[str]) -> int:
    """Run the chosen sections; return 0 when everything was measured, whether or not targets were met."""
    args = parse_args(argv)
    sections: dict[str, Callable[[], list[Figure]]] = {
        "shutdown": shutdown_section,
        "collector": collector_section,
        "heavy": heavy_section,
        "slow": slow_section,
        "memory": lambda: memory_section(args.memory_requests),
    }

    def measure() -> list[Figure]:
        return [figure for name in args.only or SECTIONS for figure in sections[name]()]

    return run_and_summarise("bench.reliability", measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
