"""Unit tests for fibsvc.render: body bytes, chunking, size bounds and ETags."""

import json
import re

import gmpy2
import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fibsvc.fib import fibonacci, fibonacci_sequence
from fibsvc.render import (
    CHUNK_BYTES,
    Form,
    max_sequence_bytes,
    render_sequence,
    render_value,
    sequence_etag,
    value_etag,
)
from fibsvc.settings import Settings
from tests.reference import fibonacci_mod, reference_table

MAX_N = Settings().max_n
JSON_FORMS = [Form.JSON_NUMBER, Form.JSON_STRING]
# RFC 9110 entity-tag: a strong tag is DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')
# F(100000) has 20,899 digits, far past CPython's default 4,300-digit int/str limit.
BIG_INDEX = 100_000
BIG_DIGITS = 20_899


def mpz_values(start: int, count: int) -> list[object]:
    """Return F(start) ... F(start + count - 1) from the plain-addition reference, as mpz."""
    table = reference_table()
    return [gmpy2.mpz(table[k]) for k in range(start, start + count)]


def joined(start: int, count: int, values: list[object], form: Form) -> bytes:
    """Return the whole sequence body, its chunks joined."""
    return b"".join(render_sequence(start, count, values, form))


class TestRenderValue:
    """render_value produces the exact bytes of each form."""

    @pytest.mark.parametrize(
        ("form", "expected"),
        [
            (Form.JSON_NUMBER, b'{"fibonacci(5)": 5}'),
            (Form.JSON_STRING, b'{"fibonacci(5)": "5"}'),
            (Form.TEXT, b"5\n"),
        ],
    )
    def test_small_value_renders_exact_bytes(self, form: Form, expected: bytes) -> None:
        """F(5) = 5 renders to the documented bytes in each form."""
        assert render_value(5, gmpy2.mpz(5), form) == expected

    @pytest.mark.parametrize(
        ("form", "expected"),
        [
            (Form.JSON_NUMBER, b'{"fibonacci(-8)": -21}'),
            (Form.JSON_STRING, b'{"fibonacci(-8)": "-21"}'),
            (Form.TEXT, b"-21\n"),
        ],
    )
    def test_negative_value_renders_with_minus_sign(self, form: Form, expected: bytes) -> None:
        """F(-8) = -21 renders with its sign and a negative index in the key."""
        assert render_value(-8, gmpy2.mpz(-21), form) == expected

    @hypothesis_settings(max_examples=150)
    @given(n=st.integers(min_value=-1000, max_value=1000), form=st.sampled_from(JSON_FORMS))
    @example(n=0, form=Form.JSON_NUMBER)
    @example(n=-1000, form=Form.JSON_STRING)
    def test_json_forms_parse_to_the_right_value(self, n: int, form: Form) -> None:
        """json.loads of the body gives {"fibonacci(n)": F(n)}, as a number or a decimal string."""
        expected = reference_table()[n]
        document = json.loads(render_value(n, fibonacci(n), form))
        assert document == {f"fibonacci({n})": expected if form is Form.JSON_NUMBER else str(expected)}

    @hypothesis_settings(max_examples=50)
    @given(n=st.integers(min_value=-1000, max_value=1000))
    def test_text_form_is_the_decimal_value_and_a_newline(self, n: int) -> None:
        """The text body is the decimal F(n) followed by one newline."""
        assert render_value(n, fibonacci(n), Form.TEXT) == f"{reference_table()[n]}\n".encode()


class TestRenderHugeValue:
    """Values beyond CPython's int/str digit limit render through GMP."""

    def test_huge_json_number_has_gmpy2_digits_and_is_valid_json(self) -> None:
        """F(100000) renders as gmpy2's 20,899 digits, and is valid JSON when parsed with parse_int=str."""
        value = gmpy2.fib(BIG_INDEX)
        document = json.loads(render_value(BIG_INDEX, value, Form.JSON_NUMBER), parse_int=str)
        digits = document[f"fibonacci({BIG_INDEX})"]
        assert list(document) == [f"fibonacci({BIG_INDEX})"]
        assert digits == str(value)
        assert len(digits) == BIG_DIGITS
        assert int(digits[-18:]) == fibonacci_mod(BIG_INDEX, 10**18)

    def test_huge_negative_json_number_keeps_its_sign(self) -> None:
        """F(-100000) = -F(100000) renders as '-' followed by the 20,899 digits."""
        document = json.loads(
            render_value(-BIG_INDEX, fibonacci(-BIG_INDEX), Form.JSON_NUMBER), parse_int=str
        )
        assert document == {f"fibonacci({-BIG_INDEX})": "-" + str(gmpy2.fib(BIG_INDEX))}

    def test_huge_json_string_and_text_carry_the_same_digits(self) -> None:
        """The string and text forms of F(100000) carry exactly gmpy2's digits."""
        value = gmpy2.fib(BIG_INDEX)
        document = json.loads(render_value(BIG_INDEX, value, Form.JSON_STRING))
        assert document == {f"fibonacci({BIG_INDEX})": str(value)}
        assert render_value(BIG_INDEX, value, Form.TEXT) == str(value).encode() + b"\n"


class TestRenderSequence:
    """render_sequence bodies parse to the run of values and arrive in bounded chunks."""

    @pytest.mark.parametrize(
        ("form", "expected"),
        [
            (Form.JSON_NUMBER, b'{"start": -3, "count": 5, "sequence": [2, -1, 1, 0, 1]}'),
            (Form.JSON_STRING, b'{"start": -3, "count": 5, "sequence": ["2", "-1", "1", "0", "1"]}'),
            (Form.TEXT, b"2\n-1\n1\n0\n1\n"),
        ],
    )
    def test_short_run_renders_exact_bytes(self, form: Form, expected: bytes) -> None:
        """F(-3) ... F(1) renders to the exact documented bytes in each form."""
        values = [gmpy2.mpz(v) for v in (2, -1, 1, 0, 1)]
        assert b"".join(render_sequence(-3, 5, values, form)) == expected

    @hypothesis_settings(max_examples=80, deadline=None)
    @given(
        start=st.integers(min_value=-1000, max_value=1000),
        count=st.integers(min_value=0, max_value=200),
        form=st.sampled_from(JSON_FORMS),
    )
    @example(start=-100, count=200, form=Form.JSON_NUMBER)
    @example(start=3, count=0, form=Form.JSON_STRING)
    def test_json_body_parses_to_the_run(self, start: int, count: int, form: Form) -> None:
        """The joined JSON body is {"start", "count", "sequence"} with the right values."""
        expected = [reference_table()[k] for k in range(start, start + count)]
        document = json.loads(joined(start, count, mpz_values(start, count), form))
        sequence = expected if form is Form.JSON_NUMBER else [str(v) for v in expected]
        assert document == {"start": start, "count": count, "sequence": sequence}

    @hypothesis_settings(max_examples=50, deadline=None)
    @given(start=st.integers(min_value=-1000, max_value=1000), count=st.integers(min_value=1, max_value=200))
    @example(start=-100, count=200)
    def test_text_body_has_one_line_per_value(self, start: int, count: int) -> None:
        """The text body is the decimal values, one per newline-terminated line."""
        body = joined(start, count, mpz_values(start, count), Form.TEXT)
        expected_lines = [str(reference_table()[k]) for k in range(start, start + count)]
        assert body.endswith(b"\n")
        assert body.decode("ascii").split("\n")[:-1] == expected_lines

    @pytest.mark.parametrize("form", list(Form))
    def test_long_body_of_big_values_is_split_into_bounded_chunks(self, form: Form) -> None:
        """A body of 10,000-digit values comes in several chunks, none over CHUNK_BYTES plus one item."""
        start, count = 50_000, 30
        expected = [str(gmpy2.fib(k)) for k in range(start, start + count)]
        chunks = list(render_sequence(start, count, fibonacci_sequence(start, count), form))
        largest_item = max(len(digits) for digits in expected) + len('""')
        assert len(chunks) > 1
        assert all(0 < len(chunk) <= CHUNK_BYTES + largest_item + len(", ") for chunk in chunks)
        body = b"".join(chunks)
        if form is Form.TEXT:
            assert body.decode("ascii") == "".join(f"{digits}\n" for digits in expected)
        else:
            sequence = json.loads(body, parse_int=str)["sequence"]
            assert sequence == expected

    @pytest.mark.parametrize("form", list(Form))
    def test_long_body_of_small_values_comes_in_chunks_of_about_chunk_bytes(self, form: Form) -> None:
        """Many short items are gathered into chunks of about CHUNK_BYTES, none over by more than an item."""
        count = 40_000
        numbers = [pow(7, k, 10**9) * (-1) ** k for k in range(count)]
        chunks = list(render_sequence(0, count, [gmpy2.mpz(v) for v in numbers], form))
        slack = len('"-999999999", ')
        assert len(chunks) > 3
        assert all(CHUNK_BYTES - slack <= len(chunk) <= CHUNK_BYTES + slack for chunk in chunks[:-1])
        assert 0 < len(chunks[-1]) <= CHUNK_BYTES + slack
        body = b"".join(chunks)
        if form is Form.TEXT:
            assert body.decode("ascii").split("\n")[:-1] == [str(v) for v in numbers]
        else:
            assert json.loads(body)["sequence"] == [
                v if form is Form.JSON_NUMBER else str(v) for v in numbers
            ]


class TestMaxSequenceBytes:
    """max_sequence_bytes is an upper bound on the real body size."""

    @hypothesis_settings(max_examples=100, deadline=None)
    @given(
        start=st.integers(min_value=-1000, max_value=1000),
        count=st.integers(min_value=0, max_value=200),
        form=st.sampled_from(list(Form)),
    )
    @example(start=-1000, count=1, form=Form.JSON_STRING)
    @example(start=-1, count=1, form=Form.JSON_STRING)
    @example(start=-200, count=200, form=Form.JSON_STRING)
    def test_bound_covers_body_near_zero(self, start: int, count: int, form: Form) -> None:
        """The bound is at least the length of the rendered body, for every form."""
        body = joined(start, count, mpz_values(start, count), form)
        assert len(body) <= max_sequence_bytes(start, count)

    @hypothesis_settings(max_examples=8, deadline=None)
    @given(
        start=st.one_of(
            st.integers(min_value=-MAX_N, max_value=-(MAX_N - 1000)),
            st.integers(min_value=MAX_N - 1000, max_value=MAX_N - 5),
        ),
        count=st.integers(min_value=1, max_value=5),
    )
    @example(start=-MAX_N, count=5)
    def test_bound_covers_json_string_body_of_huge_values(self, start: int, count: int) -> None:
        """The bound is at least the JSON string body length for terms with ~200,000 digits."""
        values = list(fibonacci_sequence(start, count))
        body = joined(start, count, values, Form.JSON_STRING)
        assert len(body) <= max_sequence_bytes(start, count)


class TestEtags:
    """ETags are quoted strong tags that change with the form and the request."""

    INDICES = (-MAX_N, -10, -2, -1, 0, 1, 2, 10, 12, 21, MAX_N)

    def test_value_etags_are_quoted_strong_tags(self) -> None:
        """Every value ETag is DQUOTE etagc* DQUOTE with no W/ prefix."""
        tags = [value_etag(n, form) for n in self.INDICES for form in Form]
        assert [tag for tag in tags if STRONG_ETAG.fullmatch(tag) is None] == []

    def test_value_etags_differ_between_forms_and_indices(self) -> None:
        """No two (n, form) pairs share an ETag."""
        tags = {value_etag(n, form) for n in self.INDICES for form in Form}
        assert len(tags) == len(self.INDICES) * len(Form)

    def test_sequence_etags_are_strong_distinct_and_unlike_value_etags(self) -> None:
        """Sequence ETags are strong, differ by start, count and form, and never equal a value ETag."""
        ranges = [(-12, 1), (-1, 2), (-1, 12), (1, 2), (1, 12), (0, 1), (12, 1), (MAX_N, 1)]
        tags = [sequence_etag(start, count, form) for start, count in ranges for form in Form]
        value_tags = {value_etag(n, form) for n in self.INDICES for form in Form}
        assert [tag for tag in tags if STRONG_ETAG.fullmatch(tag) is None] == []
        assert len(set(tags)) == len(ranges) * len(Form)
        assert value_tags.isdisjoint(tags)


class TestForm:
    """Each form has its media type."""

    @pytest.mark.parametrize(
        ("form", "media_type"),
        [
            (Form.JSON_NUMBER, "application/json"),
            (Form.JSON_STRING, "application/json"),
            (Form.TEXT, "text/plain; charset=utf-8"),
        ],
    )
    def test_form_has_its_media_type(self, form: Form, media_type: str) -> None:
        """JSON forms are application/json and text is UTF-8 plain text."""
        assert form.media_type == media_type
