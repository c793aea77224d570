"""In-process HTTP tests: the real app from the factory, driven by falcon.testing."""

import falcon.testing
import pytest

from fibsvc.app import create_app
from fibsvc.settings import Settings

# Small limits make every limit reachable by a cheap request.
SMALL = Settings(max_n=100, max_count=20, max_sequence_bytes=512, cache_bytes=4096)


@pytest.fixture(scope="session")
def client() -> falcon.testing.TestClient:
    """Return a client of the app with the default settings."""
    return falcon.testing.TestClient(create_app(Settings()))


@pytest.fixture(scope="session")
def small_client() -> falcon.testing.TestClient:
    """Return a client of the app with small limits."""
    return falcon.testing.TestClient(create_app(SMALL))
