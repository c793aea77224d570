"""Requests per second under wrk, for servers compared side by side in interleaved runs."""

import contextlib
import http.client
import re
import shutil
import statistics
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench.errors import BenchError
from bench.servers import FIBSVC_APP, cpu_snapshot, serving
from tests.live_server import LiveServer

FIB_PATH = "/fibonacci/30"

_RATE = re.compile(r"^Requests/sec:\s+([0-9.]+)\s*$", re.MULTILINE)
_COMPLETED = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
# wrk counts a response as an error only for status >= 400; check_ok() rules out 1xx/3xx beforehand.
_ERROR_STATUSES = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)


@dataclass(frozen=True)
class WrkOptions:
    """How wrk loads the server.

    One wrk thread needs a fraction of a core, leaving the rest of the 2 cores to gunicorn.
    Each keep-alive connection stays with the worker that accepted it, and a worker often
    accepts most of a burst: in trials here with 16 connections, a quarter of the runs had
    all of them on one of the 5 workers, at half the rate; with 64, every run used 2 or more.
    """

    threads: int = 1
    connections: int = 64
    seconds: int = 6

    def command(self, wrk: str, url: str, seconds: int) -> list[str]:
        """Return the wrk command line that loads ``url`` for ``seconds``."""
        return [wrk, f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--timeout", "5s", url]

    def describe(self) -> str:
        """Return the options as they appear on wrk's command line."""
        return f"wrk -t{self.threads} -c{self.connections} -d{self.seconds}s"


@dataclass(frozen=True)
class WrkRun:
    """One wrk run against one server."""

    rate: float
    requests: int
    # Server CPU (master and workers) per request in seconds, or None where it cannot be read.
    cpu_per_request: float | None
    # Workers that did at least a tenth of the work, or None where it cannot be read.
    busy_workers: int | None
    # Workers recycled by gunicorn's max_requests during the run.
    restarts: int


@dataclass(frozen=True)
class Contender:
    """One server in an interleaved comparison: an app, its environment, and the path wrk loads."""

    name: str
    app: str = FIBSVC_APP
    env: Mapping[str, str] = field(default_factory=dict)
    path: str = FIB_PATH
    ready_path: str = "/readyz"


def median_rate(runs: list[WrkRun]) -> float:
    """Return the median requests/s of ``runs``."""
    return statistics.median(run.rate for run in runs)


def median_cpu(runs: list[WrkRun]) -> float | None:
    """Return the median server CPU seconds per request of ``runs``, if every run has one."""
    values = [run.cpu_per_request for run in runs]
    known = [value for value in values if value is not None]
    return statistics.median(known) if known and len(known) == len(values) else None


def parse_wrk(output: str) -> tuple[float, int]:
    """Return (requests/s, requests completed) from wrk's report; raise on any failed request."""
    rate, completed = _RATE.search(output), completed_requests(output)
    if rate is None or completed is None:
        raise BenchError(f"could not read wrk's report:\n{output}")
    problems = []
    statuses = error_statuses(output)
    if statuses:
        problems.append(f"{statuses} responses with status >= 400")
    sockets = socket_errors(output)
    if any(sockets):
        problems.append("Socket errors: connect {}, read {}, write {}, timeout {}".format(*sockets))
    if completed == 0:
        problems.append("no request completed")
    if problems:
        raise BenchError(f"wrk saw errors ({'; '.join(problems)}):\n{output}")
    return float(rate[1]), completed


def completed_requests(output: str) -> int | None:
    """Return how many requests wrk's report says completed, or None if it does not say."""
    completed = _COMPLETED.search(output)
    return None if completed is None else int(completed[1])


def error_statuses(output: str) -> int:
    """Return how many responses wrk counted as errors (status >= 400)."""
    statuses = _ERROR_STATUSES.search(output)
    return 0 if statuses is None else int(statuses[1])


def socket_errors(output: str) -> tuple[int, int, int, int]:
    """Return wrk's socket errors: connect, read, write, timeout (all 0 when it reports none)."""
    sockets = _SOCKET_ERRORS.search(output)
    if sockets is None:
        return (0, 0, 0, 0)
    connect, read, write, timeout = (int(count) for count in sockets.groups())
    return connect, read, write, timeout


def wrk_output(command: list[str], seconds: int) -> str:
    """Run a wrk command meant to last ``seconds`` and return its report; raise if it hangs or fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{' '.join(command)} did not finish") from error
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def find_wrk() -> str:
    """Return the path of wrk, or raise if it is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not on PATH; install it (Debian: apt-get install wrk)")
    return wrk


def run_wrk(wrk: str, options: WrkOptions, server: LiveServer, path: str, seconds: int) -> WrkRun:
    """Load ``path`` on ``server`` with wrk for ``seconds`` and return what it measured."""
    command = options.command(wrk, server.url(path), seconds)
    restarts_before, cpu_before = server.worker_restarts(), cpu_snapshot(server)
    output = wrk_output(command, seconds)
    cpu_after = cpu_snapshot(server)
    rate, completed = parse_wrk(output)
    restarts = server.worker_restarts() - restarts_before
    if cpu_before is None or cpu_after is None:
        return WrkRun(rate, completed, None, None, restarts)
    cpu = cpu_before.seconds_until(cpu_after) / completed
    return WrkRun(rate, completed, cpu, cpu_before.busy_workers_until(cpu_after), restarts)


def check_ok(server: LiveServer, path: str) -> None:
    """Raise unless ``path`` answers 200 with a body, so wrk's error count covers every bad status."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != http.HTTPStatus.OK or not body:
        raise BenchError(f"GET {path} answered {response.status} with {len(body)} bytes, not 200")


def measure_interleaved(
    contenders: list[Contender],
    options: WrkOptions,
    rounds: int,
    on_round: Callable[[int, dict[str, WrkRun]], None],
    warmup_seconds: int = 2,
) -> dict[str, list[WrkRun]]:
    """Serve every contender at once and load them in turn, round after round; return the runs by name.

    All servers run throughout and the ones not under load sit idle in poll(), so each round
    compares them under the same conditions, a few seconds apart.
    """
    wrk = find_wrk()
    runs: dict[str, list[WrkRun]] = {contender.name: [] for contender in contenders}
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(serving(contender.app, contender.env, contender.ready_path))
            for contender in contenders
        ]
        for contender, server in zip(contenders, servers, strict=True):
            check_ok(server, contender.path)
            # Untimed: let every worker take its first requests and reach a steady state.
            run_wrk(wrk, options, server, contender.path, warmup_seconds)
        for number in range(1, rounds + 1):
            for contender, server in zip(contenders, servers, strict=True):
                runs[contender.name].append(run_wrk(wrk, options, server, contender.path, options.seconds))
            on_round(number, {name: named[-1] for name, named in runs.items()})
    return runs
