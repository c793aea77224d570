"""Static-analysis hygiene: bandit on the service.

pip-audit is not here: it needs a vulnerability database (PyPI's per-version JSON, OSV or
ecosyste.ms), and none is reachable from the machines this suite runs on. `make audit` runs it
where there is internet access, as the GitHub workflow does.
"""

import subprocess
import sys

from tests.live_server import ROOT


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` in the repository root and capture its output."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bandit_finds_nothing_in_the_service() -> None:
    """bandit reports no issue in fibsvc/; a deliberate exception carries ``# nosec BXXX - reason``."""
    result = run("-m", "bandit", "-r", "fibsvc", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
