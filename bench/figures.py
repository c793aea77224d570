"""A measured figure against its target, and the summary every benchmark program ends with."""

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class Figure:
    """A measured value and the bound it should meet; ``unit`` is ``x`` for a ratio."""

    name: str
    value: float
    bound: float
    unit: str
    at_least: bool = False

    @property
    def met(self) -> bool:
        """Return whether the value is on the right side of the bound."""
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def verdict(self) -> str:
        """Return PASS or MISS."""
        return "PASS" if self.met else "MISS"

    def condition(self) -> str:
        """Return the bound as it reads in the report, e.g. ``target >= 0.95x``."""
        return f"target {'>=' if self.at_least else '<='} {self.bound:.{self._digits()}f}{self.unit}"

    def line(self) -> str:
        """Return ``PASS|MISS  name: value (target <= bound)``."""
        return (
            f"{self.verdict()}  {self.name}: {self.value:.{self._digits()}f}{self.unit} ({self.condition()})"
        )

    def _digits(self) -> int:
        return 0 if self.unit in {"", " MiB"} and float(self.bound).is_integer() else 2


def run_and_summarise(program: str, measure: Callable[[], Sequence[Figure]]) -> int:
    """Run ``measure`` and print the summary of its figures; return the exit status.

    A missed target is a finding (status 0); only a failed measurement is an error (status 1).
    """
    started = time.monotonic()
    try:
        figures = measure()
    except BenchError as error:
        print(f"\n{program}: error: {error}", file=sys.stderr)
        return 1
    print(f"\n== Summary ({time.monotonic() - started:.0f} s)")
    for figure in figures:
        print(figure.line())
    return 0
