"""Integration tests: the real gunicorn with the project's gunicorn.conf.py, over real HTTP."""

from collections.abc import Iterator

import pytest

from tests.live_server import LiveServer, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Run one gunicorn, with default settings and 2 workers, for the whole session."""
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    live = start_server(log, env={"WEB_CONCURRENCY": "2"})
    yield live
    assert live.stop() == 0, live.output()
