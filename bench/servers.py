"""Run the real gunicorn for the length of a ``with`` block, through tests.live_server."""

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.live_server import LiveServer, start_server

FIBSVC_APP = "fibsvc.wsgi:app"
HELLO_APP = "bench.hello:app"
BARE_FALCON_APP = "bench.bare_falcon:app"
_SHOWN_LOG_CHARS = 4000
_PROC = Path("/proc")
# Fields of /proc/PID/stat after "pid (comm) ": state is 0, ppid 1, utime 11 ... cstime 14.
_PPID, _UTIME, _STIME, _CSTIME = 1, 11, 12, 14


@contextlib.contextmanager
def serving(
    app: str = FIBSVC_APP, env: Mapping[str, str] | None = None, ready_path: str = "/readyz"
) -> Iterator[LiveServer]:
    """Start gunicorn with the project's gunicorn.conf.py, and stop it however the block ends."""
    with tempfile.TemporaryDirectory(prefix="fibsvc-bench-") as directory:
        server = start_server(Path(directory) / "gunicorn.log", app=app, env=env, ready_path=ready_path)
        try:
            yield server
        except BaseException:
            # Show the server's side of whatever went wrong, while its log is still open.
            log = server.output()
            sys.stderr.write(f"--- end of the gunicorn log of {app} ---\n{log[-_SHOWN_LOG_CHARS:]}\n")
            raise
        finally:
            server.stop()


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU time used so far by a gunicorn master and its workers, in clock ticks."""

    # Master and every worker, including the workers already exited and reaped.
    total: int
    # Each living worker's own time, by pid.
    workers: dict[int, int]

    def seconds_until(self, later: "CpuSnapshot") -> float:
        """Return the CPU seconds the whole server used between this snapshot and ``later``."""
        return (later.total - self.total) / os.sysconf("SC_CLK_TCK")

    def busy_workers_until(self, later: "CpuSnapshot") -> int:
        """Return how many workers did at least a tenth of the work between the two snapshots.

        Each keep-alive connection stays with the worker that accepted it, and one worker
        may accept most of a burst of new connections, leaving the others idle.
        """
        used = [ticks - self.workers.get(pid, 0) for pid, ticks in later.workers.items()]
        return sum(1 for ticks in used if ticks > 0 and ticks >= sum(used) / 10)


def cpu_snapshot(server: LiveServer) -> CpuSnapshot | None:
    """Return the CPU time used so far by ``server``, or None where /proc cannot tell (off Linux)."""
    master = server.process.pid
    try:
        fields = _stat(master)
    except OSError:
        return None
    # The master's own time, and through cutime and cstime that of every reaped worker.
    total = sum(int(field) for field in fields[_UTIME : _CSTIME + 1])
    workers = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:  # it exited while we looked
            continue
        if int(fields[_PPID]) == master:
            workers[int(entry.name)] = int(fields[_UTIME]) + int(fields[_STIME])
    return CpuSnapshot(total + sum(workers.values()), workers)


def _stat(pid: int) -> list[str]:
    text = (_PROC / str(pid) / "stat").read_text()
    # The command name may hold spaces and parentheses; the fields start after the last ')'.
    return text[text.rindex(")") + 2 :].split()
