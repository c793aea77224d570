"""Heavy work is bounded: past its slots a heavy request gets 503 with Retry-After, light ones never."""

from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest

from fibsvc.app import create_app
from fibsvc.capacity import HeavyWorkSlots
from fibsvc.settings import Settings

SETTINGS = Settings(heavy_n=1000, heavy_slots=2)


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """Return a runtime directory shared, as a server's is, by the app and the test."""
    return tmp_path


@pytest.fixture
def client(runtime_dir: Path) -> falcon.testing.TestClient:
    """Return a client of an app with two heavy slots, from n = 1000."""
    return falcon.testing.TestClient(create_app(SETTINGS, runtime_dir=runtime_dir))


@pytest.fixture
def all_slots_taken(runtime_dir: Path) -> Iterator[None]:
    """Hold both slots from outside the app, as two other workers computing would."""
    slots = HeavyWorkSlots(SETTINGS.heavy_slots, runtime_dir)
    held = [slots.acquire(), slots.acquire()]
    yield
    for slot in held:
        slot.release()


class TestHeavyWorkSlots:
    def test_a_free_slot_is_taken_and_given_back(self, runtime_dir: Path) -> None:
        """Two slots allow two holders; a third is refused until one is released."""
        slots = HeavyWorkSlots(2, runtime_dir)
        first, second = slots.acquire(), slots.acquire()
        with pytest.raises(Exception, match="all 2 slots for heavy computations are busy"):
            slots.acquire()
        first.release()
        third = slots.acquire()
        for slot in (second, third):
            slot.release()

    def test_slots_are_shared_through_the_directory_only(self, tmp_path: Path) -> None:
        """Another server (another directory) has its own slots."""
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        mine, theirs = HeavyWorkSlots(1, tmp_path / "a"), HeavyWorkSlots(1, tmp_path / "b")
        held = [mine.acquire(), theirs.acquire()]
        with pytest.raises(Exception, match="busy"):
            HeavyWorkSlots(1, tmp_path / "a").acquire()
        for slot in held:
            slot.release()


@pytest.mark.usefixtures("all_slots_taken")
class TestPastCapacity:
    def test_a_heavy_uncached_value_is_refused_with_retry_after(
        self, client: falcon.testing.TestClient
    ) -> None:
        """503 problem+json, type server-busy, Retry-After: 1."""
        result = client.simulate_get("/fibonacci/5000")
        assert result.status_code == 503
        assert result.headers["Retry-After"] == "1"
        assert result.headers["Content-Type"] == "application/problem+json"
        assert result.json["type"] == "/problems/server-busy"
        assert "all 2 slots" in result.json["detail"]

    def test_light_values_are_still_answered(self, client: falcon.testing.TestClient) -> None:
        """Below heavy_n no slot is needed."""
        assert client.simulate_get("/fibonacci/999").status_code == 200
        assert client.simulate_get("/fibonacci/-999").status_code == 200

    def test_a_heavy_sequence_is_refused(self, client: falcon.testing.TestClient) -> None:
        """A sequence whose body may be as large as one heavy value needs a slot too."""
        result = client.simulate_get("/fibonacci/sequence", params={"start": "4000", "count": "3"})
        assert result.status_code == 503
        assert result.headers["Retry-After"] == "1"


class TestWithinCapacity:
    def test_a_cached_heavy_value_needs_no_slot(
        self, client: falcon.testing.TestClient, runtime_dir: Path
    ) -> None:
        """Once computed, a heavy value is served from the cache even when every slot is busy."""
        assert client.simulate_get("/fibonacci/5000").status_code == 200
        slots = HeavyWorkSlots(SETTINGS.heavy_slots, runtime_dir)
        held = [slots.acquire(), slots.acquire()]
        try:
            assert client.simulate_get("/fibonacci/5000").status_code == 200
        finally:
            for slot in held:
                slot.release()

    def test_slots_are_given_back_after_each_heavy_request(
        self, client: falcon.testing.TestClient, runtime_dir: Path
    ) -> None:
        """Many heavy requests in a row never exhaust the slots: each gives its slot back."""
        for n in range(2000, 2010):
            assert client.simulate_get(f"/fibonacci/{n}").status_code == 200
        for _ in range(5):
            result = client.simulate_get("/fibonacci/sequence", params={"start": "4000", "count": "3"})
            assert result.status_code == 200
        slots = HeavyWorkSlots(SETTINGS.heavy_slots, runtime_dir)
        held = [slots.acquire(), slots.acquire()]
        for slot in held:
            slot.release()


class TestDraining:
    def test_readyz_fails_once_the_master_starts_draining(
        self, client: falcon.testing.TestClient, runtime_dir: Path
    ) -> None:
        """The master's flag in the runtime directory turns /readyz to 503 draining; requests still work."""
        assert client.simulate_get("/readyz").json == {"status": "ready"}
        (runtime_dir / "draining").touch()
        result = client.simulate_get("/readyz")
        assert (result.status_code, result.json) == (503, {"status": "draining"})
        assert client.simulate_get("/fibonacci/10").status_code == 200


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        ("path", "status"),
        [
            ("/fibonacci/10", 200),
            ("/fibonacci/abc", 400),
            ("/fibonacci/2000000", 422),
            ("/nowhere", 404),
            ("/healthz", 200),
            ("/metrics", 200),
            ("/openapi.json", 200),
            ("/fibonacci/sequence?count=3", 200),
        ],
    )
    def test_every_response_says_nosniff(
        self, client: falcon.testing.TestClient, path: str, status: int
    ) -> None:
        """X-Content-Type-Options: nosniff on answers and errors alike."""
        result = client.simulate_get(path)
        assert result.status_code == status
        assert result.headers["X-Content-Type-Options"] == "nosniff"

    def test_a_405_and_a_304_say_nosniff(self, client: falcon.testing.TestClient) -> None:
        """Errors raised by the router and validator answers carry it too."""
        assert client.simulate_post("/fibonacci/1").headers["X-Content-Type-Options"] == "nosniff"
        etag = client.simulate_get("/fibonacci/1").headers["ETag"]
        result = client.simulate_get("/fibonacci/1", headers={"If-None-Match": etag})
        assert (result.status_code, result.headers["X-Content-Type-Options"]) == (304, "nosniff")
