"""The HTTP contract of /fibonacci/sequence, in process."""

import falcon.testing
import pytest

from tests.api.test_contract import IMMUTABLE, assert_problem
from tests.reference import slow_fibonacci


class TestSequence:
    def test_first_ten_terms(self, client: falcon.testing.TestClient) -> None:
        """start and count select a run of consecutive values."""
        result = client.simulate_get("/fibonacci/sequence", params={"start": "0", "count": "10"})
        assert result.status_code == 200
        assert result.json == {"start": 0, "count": 10, "sequence": [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]}

    def test_start_defaults_to_zero(self, client: falcon.testing.TestClient) -> None:
        """Without start the run begins at F(0)."""
        assert client.simulate_get("/fibonacci/sequence", params={"count": "3"}).json["sequence"] == [0, 1, 1]

    @pytest.mark.parametrize(("start", "count"), [(-10, 20), (-7, 3), (1, 1), (80, 15), (-100, 10)])
    def test_runs_crossing_zero_match_the_reference(
        self, small_client: falcon.testing.TestClient, start: int, count: int
    ) -> None:
        """Every term, on either side of zero, equals the slow reference."""
        result = small_client.simulate_get(
            "/fibonacci/sequence", params={"start": str(start), "count": str(count)}
        )
        assert result.json == {
            "start": start,
            "count": count,
            "sequence": [slow_fibonacci(i) for i in range(start, start + count)],
        }

    def test_as_string_and_text_plain(self, client: falcon.testing.TestClient) -> None:
        """The same escape hatches as for one value: JSON strings, or one value a line."""
        params = {"start": "-3", "count": "5"}
        as_string = client.simulate_get("/fibonacci/sequence", params={**params, "as": "string"})
        assert as_string.json["sequence"] == ["2", "-1", "1", "0", "1"]
        text = client.simulate_get("/fibonacci/sequence", params=params, headers={"Accept": "text/plain"})
        assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert text.text == "2\n-1\n1\n0\n1\n"

    def test_long_runs_stream_in_several_chunks_and_stay_exact(
        self, client: falcon.testing.TestClient
    ) -> None:
        """A body larger than one chunk arrives whole and exact."""
        result = client.simulate_get("/fibonacci/sequence", params={"start": "0", "count": "3000"})
        sequence = result.json["sequence"]
        assert len(sequence) == 3000
        assert sequence[2999] == slow_fibonacci(2999)
        assert all(sequence[i] + sequence[i + 1] == sequence[i + 2] for i in range(2998))

    def test_caching_headers_and_304(self, client: falcon.testing.TestClient) -> None:
        """A sequence never changes either: immutable, with an ETag that gets 304."""
        params = {"start": "5", "count": "5"}
        first = client.simulate_get("/fibonacci/sequence", params=params)
        assert first.headers["Cache-Control"] == IMMUTABLE
        again = client.simulate_get(
            "/fibonacci/sequence", params=params, headers={"If-None-Match": first.headers["ETag"]}
        )
        assert again.status_code == 304
        assert again.content == b""


class TestSequenceErrors:
    def test_missing_count_is_a_400_problem(self, client: falcon.testing.TestClient) -> None:
        """count has no default: the detail says what to send."""
        body = assert_problem(client.simulate_get("/fibonacci/sequence", params={"start": "1"}), 400)
        assert "count is required" in str(body["detail"])

    @pytest.mark.parametrize(
        "query", ["start=%2B1&count=3", "start=&count=3", "count=03", "count=1e2", "start=1&start=2&count=3"]
    )
    def test_malformed_parameters_are_400_problems(
        self, client: falcon.testing.TestClient, query: str
    ) -> None:
        """start and count follow the canonical integer rule and appear once."""
        assert_problem(client.simulate_get("/fibonacci/sequence", query_string=query), 400)

    @pytest.mark.parametrize(
        "query", ["count=0", "count=-1", "count=21", "start=-101&count=1", "start=99&count=3"]
    )
    def test_out_of_range_runs_are_422_problems(
        self, small_client: falcon.testing.TestClient, query: str
    ) -> None:
        """count is 1..max_count and every index lies within the limit."""
        body = assert_problem(small_client.simulate_get("/fibonacci/sequence", query_string=query), 422)
        assert body["type"] == "/problems/integer-out-of-range"

    def test_a_body_over_the_size_limit_is_a_422_problem(
        self, small_client: falcon.testing.TestClient
    ) -> None:
        """The output bound is judged before any computing, and the detail gives the limit."""
        body = assert_problem(
            small_client.simulate_get("/fibonacci/sequence", query_string="start=81&count=20"), 422
        )
        assert body["type"] == "/problems/output-too-large"
        assert "512" in str(body["detail"])

    def test_a_body_just_under_the_limit_is_served(self, small_client: falcon.testing.TestClient) -> None:
        """Short runs of large terms are still allowed under the same limit."""
        result = small_client.simulate_get("/fibonacci/sequence", query_string="start=91&count=10")
        assert result.status_code == 200
        assert len(result.content) <= 512


class TestOperationalEndpoints:
    def test_liveness(self, client: falcon.testing.TestClient) -> None:
        """/healthz answers while the process does."""
        assert client.simulate_get("/healthz").json == {"status": "ok"}

    def test_readiness(self, client: falcon.testing.TestClient) -> None:
        """/readyz answers 200 once the app is built."""
        result = client.simulate_get("/readyz")
        assert result.json == {"status": "ready"}
        assert result.headers["Cache-Control"] == "no-store"

    def test_index_links_every_endpoint(self, client: falcon.testing.TestClient) -> None:
        """/ tells a newcomer where everything is."""
        links = client.simulate_get("/").json["links"]
        assert set(links.values()) >= {"/fibonacci/{n}", "/openapi.json", "/healthz", "/readyz"}

    def test_every_problem_type_uri_resolves(self, client: falcon.testing.TestClient) -> None:
        """The type of every domain error is a page describing it."""
        for path in [
            "/fibonacci/05",
            "/fibonacci/9999999",
            "/fibonacci/sequence?count=x",
            "/fibonacci/sequence?start=999995&count=10",
            "/fibonacci/sequence?start=999000&count=100",
            "/fibonacci/5?as=x",
        ]:
            problem = client.simulate_get(path).json
            described = client.simulate_get(problem["type"])
            assert described.status_code == 200, path
            assert described.json["status"] == problem["status"]

    def test_unknown_problem_type_is_a_404_problem(self, client: falcon.testing.TestClient) -> None:
        """Only documented problem types resolve."""
        assert_problem(client.simulate_get("/problems/nope"), 404)
