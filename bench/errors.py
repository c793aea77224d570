"""The one exception the benchmark raises for a run that cannot be trusted."""


class BenchError(RuntimeError):
    """A measurement failed or saw errors; its figures would mean nothing."""
