"""The HTTP contract of /fibonacci/{n}, in process."""

import json
import sys
import urllib.parse

import falcon.testing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import slow_fibonacci

PROBLEM = "application/problem+json"
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_CANONICAL = [
    "abc",
    "1.5",
    "1e3",
    "+5",
    "05",
    "-0",
    "1_000",
    "%205",
    "%D9%A5",
    "%EF%BC%95",
    "-",
    "0x10",
    "5%20",
]


def assert_problem(result: falcon.testing.Result, status: int) -> dict[str, object]:
    """Check that ``result`` is an RFC 9457 problem with ``status`` and return its body."""
    assert result.status_code == status
    assert result.headers["Content-Type"] == PROBLEM
    body = result.json
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in ("type", "title", "detail"))
    return dict(body)


class TestValues:
    def test_five_is_five(self, client: falcon.testing.TestClient) -> None:
        """The seed's example answers exactly as documented."""
        result = client.simulate_get("/fibonacci/5")
        assert result.status_code == 200
        assert result.headers["Content-Type"] == "application/json"
        assert result.text == '{"fibonacci(5)": 5}'

    def test_ninety_three_is_exact_beyond_64_bit_floats(self, client: falcon.testing.TestClient) -> None:
        """F(93), the largest that fits in 64 bits, is exact as a JSON integer."""
        assert client.simulate_get("/fibonacci/93").json == {"fibonacci(93)": 12200160415121876738}

    @pytest.mark.parametrize(
        ("n", "expected"),
        [(-1, 1), (-2, -1), (-8, -21), (-93, 12200160415121876738), (-92, -7540113804746346429)],
    )
    def test_negative_index_follows_negafibonacci_sign_rule(
        self, client: falcon.testing.TestClient, n: int, expected: int
    ) -> None:
        """F(-n) = (-1)^(n+1) F(n), as Mathematica defines it."""
        assert client.simulate_get(f"/fibonacci/{n}").json == {f"fibonacci({n})": expected}

    @given(n=st.integers(-1500, 1500))
    @settings(max_examples=150)
    def test_every_small_index_matches_the_slow_reference(
        self, client: falcon.testing.TestClient, n: int
    ) -> None:
        """Values agree with plain additions of Python ints."""
        result = client.simulate_get(f"/fibonacci/{n}")
        assert result.json == {f"fibonacci({n})": slow_fibonacci(n)}

    def test_values_past_pythons_int_string_limit_are_exact(self, client: falcon.testing.TestClient) -> None:
        """F(20578), where json.dumps of an int starts to fail, is served and exact."""
        result = client.simulate_get("/fibonacci/20578", headers={"Accept": "text/plain"})
        previous = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            assert result.text == f"{slow_fibonacci(20578)}\n"
        finally:
            sys.set_int_max_str_digits(previous)

    def test_the_limit_itself_is_served(self, small_client: falcon.testing.TestClient) -> None:
        """|n| equal to the configured limit is allowed on both sides."""
        assert small_client.simulate_get("/fibonacci/100").json == {"fibonacci(100)": slow_fibonacci(100)}
        assert small_client.simulate_get("/fibonacci/-100").json == {"fibonacci(-100)": slow_fibonacci(-100)}


class TestBadInput:
    @pytest.mark.parametrize("segment", NOT_CANONICAL)
    def test_non_canonical_index_is_a_400_problem(
        self, client: falcon.testing.TestClient, segment: str
    ) -> None:
        """Anything but 0|-?[1-9][0-9]* is rejected with a problem naming the canonical form."""
        body = assert_problem(client.simulate_get(f"/fibonacci/{segment}"), 400)
        assert body["type"] == "/problems/non-canonical-integer"
        assert "canonical" in str(body["detail"])
        assert "0|-?[1-9][0-9]*" in str(body["detail"])

    @pytest.mark.parametrize("segment", ["101", "-101", "9" * 50, "1" + "0" * 3000])
    def test_canonical_index_beyond_the_limit_is_a_422_problem(
        self, small_client: falcon.testing.TestClient, segment: str
    ) -> None:
        """A well-formed n past the limit is rejected with the limit in the detail, cut short."""
        body = assert_problem(small_client.simulate_get(f"/fibonacci/{segment}"), 422)
        assert body["type"] == "/problems/integer-out-of-range"
        assert "between -100 and 100" in str(body["detail"])
        assert len(str(body["detail"])) < 300

    def test_detail_escapes_what_it_quotes(self, client: falcon.testing.TestClient) -> None:
        """Control characters in the input come back escaped, never raw."""
        body = assert_problem(client.simulate_get("/fibonacci/%0A%3Cb%3E"), 400)
        assert "\n" not in str(body["detail"])
        assert "'\\n<b>'" in str(body["detail"])

    def test_unknown_path_is_a_404_problem(self, client: falcon.testing.TestClient) -> None:
        """Paths nobody serves answer 404 in the same problem format."""
        body = assert_problem(client.simulate_get("/fibonacci/5/extra"), 404)
        assert body["type"] == "about:blank"
        assert body["title"] == "Not Found"

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
    def test_wrong_method_is_a_405_problem_with_allow(
        self, client: falcon.testing.TestClient, method: str
    ) -> None:
        """Only GET and HEAD are served, and the Allow header says so."""
        result = client.simulate_request(method, "/fibonacci/5")
        assert_problem(result, 405)
        assert {part.strip() for part in result.headers["Allow"].split(",")} >= {"GET", "HEAD"}

    @given(segment=st.text(min_size=1, max_size=30))
    @settings(max_examples=300)
    def test_no_segment_of_any_shape_causes_a_server_error(
        self, client: falcon.testing.TestClient, segment: str
    ) -> None:
        """Arbitrary text in the path gets a 200, 400, 404 or 422, never a 5xx."""
        quoted = urllib.parse.quote(segment, safe="")
        result = client.simulate_get(f"/fibonacci/{quoted}")
        assert result.status_code in {200, 400, 404, 422}
        if result.status_code != 200:
            assert result.headers["Content-Type"] == PROBLEM


class TestRepresentations:
    def test_text_plain_gives_bare_digits_and_a_newline(self, client: falcon.testing.TestClient) -> None:
        """Accept: text/plain is for clients whose JSON parser cannot hold the number."""
        result = client.simulate_get("/fibonacci/-8", headers={"Accept": "text/plain"})
        assert result.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert result.text == "-21\n"

    @pytest.mark.parametrize(
        "accept", ["application/json", "*/*", "text/plain;q=0.5, application/json", "image/png"]
    )
    def test_json_is_the_default_representation(self, client: falcon.testing.TestClient, accept: str) -> None:
        """Anything but a preference for text/plain gets JSON."""
        result = client.simulate_get("/fibonacci/7", headers={"Accept": accept})
        assert result.text == '{"fibonacci(7)": 13}'

    def test_as_string_gives_the_value_as_a_json_string(self, client: falcon.testing.TestClient) -> None:
        """?as=string keeps the JSON shape for parsers that lose precision above 2^53."""
        assert client.simulate_get("/fibonacci/93", params={"as": "string"}).json == {
            "fibonacci(93)": "12200160415121876738"
        }
        assert client.simulate_get("/fibonacci/93", params={"as": "number"}).json == {
            "fibonacci(93)": 12200160415121876738
        }

    def test_big_values_parse_as_json_strings(self, client: falcon.testing.TestClient) -> None:
        """F(10^5) as a string survives Python's json.loads, which refuses such an int."""
        body = json.loads(client.simulate_get("/fibonacci/100000", params={"as": "string"}).text)
        assert len(body["fibonacci(100000)"]) == 20899

    @pytest.mark.parametrize("query", ["as=bogus", "as=", "as=string&as=number"])
    def test_unknown_or_repeated_as_is_a_400_problem(
        self, client: falcon.testing.TestClient, query: str
    ) -> None:
        """?as= takes exactly one of its documented values."""
        body = assert_problem(client.simulate_get("/fibonacci/5", query_string=query), 400)
        assert body["type"] == "/problems/invalid-parameter"


class TestCaching:
    def test_success_is_immutable_with_a_strong_etag(self, client: falcon.testing.TestClient) -> None:
        """F(n) never changes, so any cache may keep it for a year."""
        result = client.simulate_get("/fibonacci/5")
        assert result.headers["Cache-Control"] == IMMUTABLE
        assert result.headers["ETag"].startswith('"')
        assert result.headers["Vary"] == "Accept"

    def test_each_representation_has_its_own_etag(self, client: falcon.testing.TestClient) -> None:
        """Different bytes never share a validator."""
        tags = {
            client.simulate_get("/fibonacci/5").headers["ETag"],
            client.simulate_get("/fibonacci/5", params={"as": "string"}).headers["ETag"],
            client.simulate_get("/fibonacci/5", headers={"Accept": "text/plain"}).headers["ETag"],
            client.simulate_get("/fibonacci/6").headers["ETag"],
        }
        assert len(tags) == 4

    @pytest.mark.parametrize("template", ["{tag}", "W/{tag}", '"other", {tag}', "*"])
    def test_if_none_match_gets_304_without_a_body(
        self, client: falcon.testing.TestClient, template: str
    ) -> None:
        """A client holding the current ETag (weak comparison) is told 304 Not Modified."""
        tag = client.simulate_get("/fibonacci/1000").headers["ETag"]
        result = client.simulate_get("/fibonacci/1000", headers={"If-None-Match": template.format(tag=tag)})
        assert result.status_code == 304
        assert result.content == b""
        assert result.headers["ETag"] == tag
        assert result.headers["Cache-Control"] == IMMUTABLE

    def test_a_stale_etag_gets_the_full_body(self, client: falcon.testing.TestClient) -> None:
        """An ETag of another representation does not match."""
        result = client.simulate_get("/fibonacci/5", headers={"If-None-Match": '"v1-json-6"'})
        assert result.status_code == 200
        assert result.json == {"fibonacci(5)": 5}


class TestHead:
    @pytest.mark.parametrize(
        "path", ["/", "/fibonacci/5", "/fibonacci/sequence?count=3", "/healthz", "/readyz", "/openapi.json"]
    )
    def test_head_answers_like_get_without_a_body(self, client: falcon.testing.TestClient, path: str) -> None:
        """HEAD works wherever GET does, with the same status and headers."""
        get = client.simulate_get(path)
        head = client.simulate_head(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
        assert head.headers.get("ETag") == get.headers.get("ETag")

    def test_head_reports_the_length_of_the_get_body(self, client: falcon.testing.TestClient) -> None:
        """Content-Length of HEAD is the size GET would send."""
        head = client.simulate_head("/fibonacci/10000")
        assert int(head.headers["Content-Length"]) == len(client.simulate_get("/fibonacci/10000").content)
