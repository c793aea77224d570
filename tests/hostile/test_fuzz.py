"""Fuzz the path segment and the query of the Fibonacci endpoints over real HTTP.

Every request goes on the wire as written (percent-encodings, malformed escapes and all), and
every answer must be one the README documents: the right value, or a problem whose detail
names the input without echoing control characters or more than a short prefix of it.
"""

import json
import string
from typing import Any
from urllib.parse import parse_qs, quote, quote_from_bytes, unquote

import gmpy2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import INTERNALS, RawClient, Reply
from tests.reference import REFERENCE_LIMIT, reference_table

# The service's defaults (README, Configuration); the server under test runs with them.
MAX_N = 1_000_000
MAX_COUNT = 10_000
CANONICAL = frozenset(string.digits) | {"-"}
# The README promises the bad input is "cut short if long"; more than this many characters is not short.
MAX_ECHOED_CHARS = 64
# A detail is a sentence, not a dump: the fixed text, plus a short escaped prefix of the input.
MAX_DETAIL_CHARS = 800
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE = (
    "",
    "..",
    "%2e%2e",
    "%2E%2E%2F",
    ".%2e",
    "%00",
    "5%00",
    "%005",
    "+5",
    "%2B5",
    "1e3",
    "1.5",
    "0x10",
    "-0",
    "05",
    "1_000",
    "%205",
    "5%20",
    "%09",
    "%0A5",
    "%0D%0A",
    "%C2%A05",
    quote("\N{ARABIC-INDIC DIGIT FIVE}"),
    quote("\N{FULLWIDTH DIGIT FIVE}"),
    quote("\N{MATHEMATICAL BOLD DIGIT FIVE}"),
    quote("\N{SUPERSCRIPT FIVE}"),
    "%C0%AE",
    "%FF%FE",
    "%",
    "%4",
    "%zz",
    "%25",
    "-",
    "--5",
    "~5",
    "'5'",
    "%22",
    "<script>",
    "sequence",
    "%73equence",
    "NaN",
    "Infinity",
    "9" * 3000,
    "-" + "9" * 3000,
    "1" + "0" * 6,
    "-1" + "0" * 6,
    "1000001",
    "-1000001",
    "0" * 3000,
    "x" * 3000,
)
# Characters a request target may carry as they are; anything else goes percent-encoded.
RAW_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%"


def expected_fibonacci(n: int) -> str:
    """Return the decimal digits of F(n), with the negafibonacci sign, from the test's own reference."""
    if abs(n) <= REFERENCE_LIMIT:
        return str(reference_table()[n])
    magnitude = gmpy2.fib(abs(n))
    value = -magnitude if n < 0 and n % 2 == 0 else magnitude
    digits: str = value.digits(10)
    return digits


def is_canonical(text: str) -> bool:
    """Return whether ``text`` is 0|-?[1-9][0-9]*, by the README's own definition, without a regex."""
    body = text.removeprefix("-")
    return (
        bool(body)
        and set(body) <= set(string.digits)
        and (text == "0" or body[0] != "0")
        and not (text.startswith("-") and body == "0")
    )


def integers_as_text() -> st.SearchStrategy[str]:
    """Return canonical integers near the interesting places: small, at the limits, far beyond."""
    near_limits = st.sampled_from((MAX_N, -MAX_N, MAX_N - 1, 1 - MAX_N, MAX_N + 1, -MAX_N - 1))
    huge = st.integers(min_value=7, max_value=400).map(lambda digits: "8" * digits)
    return st.one_of(st.integers(-3300, 3300).map(str), near_limits.map(str), huge)


def hostile_segments() -> st.SearchStrategy[str]:
    """Return path segments as they go on the wire: mostly hostile, sometimes canonical."""
    atoms = st.one_of(
        st.sampled_from(HOSTILE),
        st.text(alphabet=RAW_CHARS, max_size=8),
        st.binary(min_size=1, max_size=4).map(lambda raw: quote_from_bytes(raw, safe="")),
        st.text(max_size=4).map(lambda text: quote(text, safe="")),
        integers_as_text(),
    )
    spliced = st.lists(atoms, min_size=1, max_size=6).map("".join).filter(lambda text: len(text) <= 3500)
    randoms = st.binary(max_size=1000).map(lambda raw: quote_from_bytes(raw, safe=""))
    return st.one_of(integers_as_text(), st.sampled_from(HOSTILE), spliced, randoms)


def as_the_server_reads_it(wire: str) -> str:
    """Decode a path segment the way gunicorn and Falcon do: percent-decoding, then UTF-8 with U+FFFD."""
    return unquote(wire, encoding="utf-8", errors="replace")


def check_detail(detail: str, inputs: list[str]) -> None:
    """Assert that ``detail`` is short, printable, leaks nothing, and echoes only a prefix of each input."""
    assert len(detail) <= MAX_DETAIL_CHARS, detail
    assert detail.isprintable(), f"raw control characters in {detail!r}"
    fixed, separator, _ = detail.rpartition("; got ")
    assert not INTERNALS.search(fixed if separator else detail), detail
    for text in inputs:
        if len(text) > MAX_ECHOED_CHARS:
            prefix = text[: MAX_ECHOED_CHARS + 1]
            too_much = f"the detail echoes {len(prefix)}+ characters of the input"
            assert prefix not in detail, too_much
            assert repr(prefix)[1:-1] not in detail, too_much


def check_error(reply: Reply, inputs: list[str]) -> dict[str, Any]:
    """Assert that ``reply`` is a well-formed problem of a documented kind and return it."""
    problem = reply.problem()
    check_detail(problem["detail"], inputs)
    if reply.status == 503:
        assert problem["type"] == "/problems/server-busy", problem
        assert reply.header("Retry-After"), "a busy answer says when to retry"
    return problem


def check_value(reply: Reply, n: int) -> None:
    """Assert that ``reply`` is ``{"fibonacci(n)": F(n)}`` with the exact value."""
    assert reply.header("Content-Type") == "application/json"
    document = json.loads(reply.body, parse_int=str)
    assert document == {f"fibonacci({n})": expected_fibonacci(n)}


class TestPathSegment:
    @FUZZ
    @given(segment=hostile_segments())
    def test_any_segment_gets_the_value_or_a_documented_problem(
        self, client: RawClient, segment: str
    ) -> None:
        """/fibonacci/<anything> answers F(n) for a canonical n in range, else a 400, 404 or 422 problem."""
        reply = client.request(f"/fibonacci/{segment}")
        text = as_the_server_reads_it(segment)
        if reply.status == 503:
            check_error(reply, [text])
        elif "/" in text:
            assert reply.status == 404, text
            check_error(reply, [text])
        elif text == "sequence":
            assert reply.status == 400, "the sequence without a count"
            check_error(reply, [text])
        elif is_canonical(text) and abs(int(text)) <= MAX_N:
            assert reply.status == 200, (text, reply.body[:300])
            check_value(reply, int(text))
        elif is_canonical(text):
            assert reply.status == 422, text
            assert check_error(reply, [text])["type"] == "/problems/integer-out-of-range"
        else:
            assert reply.status == 400, (text, reply.body[:300])
            assert check_error(reply, [text])["type"] == "/problems/non-canonical-integer"


def query_values() -> st.SearchStrategy[str]:
    """Return values for start and count: mostly small valid ones, often hostile."""
    small = st.one_of(st.integers(-3300, 3300).map(str), st.integers(1, 40).map(str))
    return st.one_of(small, small, hostile_segments().filter(lambda text: len(text) <= 600))


@st.composite
def hostile_queries(draw: st.DrawFn) -> str:
    """Return a query string for /fibonacci/sequence: start, count and as, each maybe absent or repeated."""
    pairs = []
    for name, values in (
        ("start", query_values()),
        ("count", query_values()),
        ("as", st.sampled_from(("number", "string", "", "NUMBER", "%00", "int"))),
    ):
        for _ in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
            pairs.append(f"{name}={draw(values)}")
    pairs.extend(
        draw(st.lists(st.sampled_from(("", "x=1", "&", "=", "%zz=%", "start", "count")), max_size=2))
    )
    return "&".join(draw(st.permutations(pairs)))


def valid_sequence(query: str) -> tuple[int, int] | None:
    """Return (start, count) if the README says this query asks for a sequence it serves, else None."""
    params = parse_qs(query, keep_blank_values=True, encoding="utf-8", errors="replace")
    if any(len(params.get(name, ())) > 1 for name in ("start", "count", "as")):
        return None
    start, count = params.get("start", ["0"])[0], params.get("count", [""])[0]
    if params.get("as", ["number"])[0] not in ("number", "string"):
        return None
    if not (is_canonical(start) and is_canonical(count)):
        return None
    first, terms = int(start), int(count)
    if abs(first) > MAX_N or not 1 <= terms <= MAX_COUNT or first + terms - 1 > MAX_N:
        return None
    return first, terms


class TestQuery:
    @FUZZ
    @given(query=hostile_queries())
    def test_any_query_gets_the_run_or_a_documented_problem(self, client: RawClient, query: str) -> None:
        """/fibonacci/sequence?<anything> answers the exact run when the query is valid, else a 400 or 422."""
        reply = client.request(f"/fibonacci/sequence?{query}")
        inputs = [value for values in parse_qs(query, keep_blank_values=True).values() for value in values]
        wanted = valid_sequence(query)
        if reply.status == 503:
            check_error(reply, inputs)
        elif wanted is None:
            assert reply.status in (400, 422), (query, reply.status, reply.body[:300])
            check_error(reply, inputs)
        elif reply.status == 422:
            assert check_error(reply, inputs)["type"] == "/problems/output-too-large"
        else:
            assert reply.status == 200, (query, reply.status, reply.body[:300])
            start, count = wanted
            document = json.loads(reply.body, parse_int=str)
            assert document["start"] == str(start)
            assert document["count"] == str(count)
            assert document["sequence"] == [expected_fibonacci(i) for i in range(start, start + count)]

    @FUZZ
    @given(value=hostile_segments(), name=st.sampled_from(("as", "x", "start", "count")))
    def test_any_query_on_a_value_gets_the_value_or_a_documented_problem(
        self, client: RawClient, value: str, name: str
    ) -> None:
        """/fibonacci/5?<name>=<anything> answers F(5), or a 400 problem for an undocumented ``as``."""
        reply = client.request(f"/fibonacci/5?{name}={value}")
        text = as_the_server_reads_it(value.replace("+", " "))
        if name == "as" and text not in ("number", "string"):
            assert reply.status == 400, (value, reply.body[:300])
            assert check_error(reply, [text])["type"] == "/problems/invalid-parameter"
        else:
            assert reply.status == 200, (value, reply.body[:300])
            document = json.loads(reply.body)
            assert document in ({"fibonacci(5)": 5}, {"fibonacci(5)": "5"})
