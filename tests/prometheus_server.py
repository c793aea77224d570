"""Run Debian's real Prometheus server for a test, scraping the service under test."""

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.live_server import free_port

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    """A running Prometheus and its HTTP API."""

    def __init__(self, port: int) -> None:
        self.port = port

    def query(self, expression: str) -> list[dict[str, object]]:
        """Run an instant PromQL query and return its result vector."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        result: list[dict[str, object]] = body["data"]["result"]
        return result

    def wait_for_value(self, expression: str, expected: float, deadline_seconds: float = 30) -> float:
        """Poll ``expression`` until its single value equals ``expected``; return the last value seen."""
        deadline = time.monotonic() + deadline_seconds
        last = float("nan")
        while time.monotonic() < deadline:
            result = self.query(expression)
            if result:
                last = float(result[0]["value"][1])  # type: ignore[index]
                if last == expected:
                    return last
            time.sleep(0.2)
        return last


@contextmanager
def running_prometheus(work_dir: Path, target: str, metrics_path: str = "/metrics") -> Iterator[Prometheus]:
    """Start Prometheus scraping ``target`` (host:port) every second, and stop it afterwards."""
    config = work_dir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: fibsvc\n    metrics_path: {metrics_path}\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    log = (work_dir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={work_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(port, process)
        yield Prometheus(port)
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _wait_ready(port: int, process: "subprocess.Popen[bytes]", deadline_seconds: float = 30) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError("prometheus did not become ready")
