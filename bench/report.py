"""The tables of interleaved wrk runs: for each server its rate, its ratio to the reference, its CPU."""

from collections.abc import Sequence

from bench.throughput import WrkRun, median_cpu, median_rate

_CELL = f"{'req/s':>7} {'ratio':>6} {'CPU us':>6} {'busy':>4}"


def header(names: Sequence[str]) -> str:
    """Return the two header lines: server names over their columns."""
    top = "       " + "  ".join(f"{name:^{len(_CELL)}}" for name in names)
    return f"{top}\n{'round':>6} " + "  ".join(_CELL for _ in names)


def row(label: str, runs: dict[str, WrkRun], reference: str) -> str:
    """Return one round's line; each ratio is that server's requests/s over the reference's."""
    cells = []
    for run in runs.values():
        ratio = run.rate / runs[reference].rate
        cpu = "n/a" if run.cpu_per_request is None else f"{run.cpu_per_request * 1e6:.0f}"
        busy = "n/a" if run.busy_workers is None else str(run.busy_workers)
        cells.append(f"{run.rate:>7.0f} {ratio:>5.2f}x {cpu:>6} {busy:>4}")
    return f"{label:>6} " + "  ".join(cells)


def median_row(runs: dict[str, list[WrkRun]], reference: str) -> str:
    """Return the line of medians; each ratio is of median requests/s."""
    cells = []
    for named in runs.values():
        cpu = median_cpu(named)
        ratio = median_rate(named) / median_rate(runs[reference])
        cpu_text = "n/a" if cpu is None else f"{cpu * 1e6:.0f}"
        cells.append(f"{median_rate(named):>7.0f} {ratio:>5.2f}x {cpu_text:>6} {'':>4}")
    return f"{'median':>6} " + "  ".join(cells)


def median_ratio(runs: dict[str, list[WrkRun]], name: str, reference: str) -> float:
    """Return the median requests/s of ``name`` over that of ``reference``."""
    return median_rate(runs[name]) / median_rate(runs[reference])


def restarts_note(runs: dict[str, list[WrkRun]]) -> str | None:
    """Return a line naming the servers whose workers gunicorn recycled (max_requests), if any."""
    recycled = {name: sum(run.restarts for run in named) for name, named in runs.items()}
    recycled = {name: count for name, count in recycled.items() if count}
    if not recycled:
        return None
    return "worker restarts during the runs: " + ", ".join(f"{n} {count}" for n, count in recycled.items())
