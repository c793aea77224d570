"""Start the real gunicorn, with the project's gunicorn.conf.py, on a free port of 127.0.0.1.

Shared by the integration tests and the benchmark, so both measure the server as it is
deployed. Readiness is polled with a deadline, never slept for.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"
_PROC = Path("/proc")
# /proc/net/tcp's state of a listening socket.
_LISTEN_STATE = "0A"
# Fields of /proc/PID/stat after "pid (comm) ": state is 0, ppid 1.
_STATE, _PPID = 0, 1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A running gunicorn master and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` on this server."""
        return self.base_url + path

    def stop(self, timeout: float = 30) -> int:
        """Send SIGTERM (a graceful stop) and return gunicorn's exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def worker_restarts(self) -> int:
        """Return how many workers gunicorn has recycled after max_requests so far."""
        return self.output().count("Autorestarting worker")

    def output(self) -> str:
        """Return everything the server wrote to stdout and stderr so far."""
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


def start_server(
    log_path: Path,
    app: str = "fibsvc.wsgi:app",
    env: Mapping[str, str] | None = None,
    ready_path: str = "/readyz",
    deadline_seconds: float = 30,
) -> LiveServer:
    """Start gunicorn serving ``app`` and return once ``ready_path`` answers 200."""
    port = free_port()
    # No drain by default: a test that stops its server should not wait for load balancers it lacks.
    environ = {**os.environ, "FIBSVC_BIND": f"127.0.0.1:{port}", "FIBSVC_DRAIN_SECONDS": "0", **(env or {})}
    log = log_path.open("w+b")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), app],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(process, port, log)
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(server.url(ready_path), timeout=1) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"gunicorn did not become ready within {deadline_seconds} s:\n{server.output()}")


def worker_pids(master: int) -> set[int]:
    """Return the pids of the master's living children, read from /proc."""
    children = set()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # The command name may hold spaces and parentheses; the fields start after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        # State Z: exited, not yet reaped; the master has not noticed yet.
        if int(fields[_PPID]) == master and fields[_STATE] != "Z":
            children.add(int(entry.name))
    return children


class BackgroundThreads:
    """Daemon threads, each running ``_run(index)``, for the length of a ``with`` block.

    Leaving the block sets ``_stop``, which each ``_run`` checks between steps, and waits for
    the threads: at most 15 s each, so a stuck client cannot hang the caller.
    """

    def __init__(self, count: int) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(count)
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self, index: int) -> None:
        raise NotImplementedError


class ListenerWatch(BackgroundThreads):
    """Watch /proc/net/tcp for the server's listening socket, from a thread, every few ms."""

    def __init__(self, port: int) -> None:
        super().__init__(1)
        self._local = f"0100007F:{port:04X}"
        # The last moment the socket was seen listening, and the first it was seen gone.
        self.last_open = time.monotonic()
        self.closed_at: float | None = None

    def listening(self) -> bool:
        """Return whether something listens on 127.0.0.1 at the port right now."""
        with (_PROC / "net" / "tcp").open() as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[1] == self._local and fields[3] == _LISTEN_STATE:
                    return True
        return False

    def _run(self, index: int) -> None:
        while not self._stop.wait(0.003):
            checked = time.monotonic()
            if self.listening():
                self.last_open = checked
            elif self.closed_at is None:
                self.closed_at = checked

    def __enter__(self) -> Self:
        if not self.listening():
            raise RuntimeError("the server should be listening before the watch starts")
        return super().__enter__()
