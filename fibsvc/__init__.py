"""fibsvc: an exact, fast Fibonacci HTTP API."""

__version__ = "0.1.0"
