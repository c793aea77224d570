"""Unit tests for fibsvc.indices: strict canonical integer parsing and its error messages."""

import re

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fibsvc.indices import IntegerOutOfRangeError, NonCanonicalIntegerError, parse_integer
from fibsvc.settings import Settings

LIMIT = Settings().max_n
# Written here independently of fibsvc.indices.CANONICAL_INTEGER.
CANONICAL = re.compile(r"0|-?[1-9][0-9]*")
# A parameter name that appears nowhere else in the messages.
NAME = "zeta_index"

NON_CANONICAL = [
    "abc",
    "1.5",
    "1e3",
    "+5",
    "05",
    "-0",
    "1_000",
    " 5",
    "5 ",
    "%205",
    "\u0665",  # ARABIC-INDIC DIGIT FIVE
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "",
    "-",
    "--5",
    "0x10",
    "5\n",
]


def parse(text: str) -> int:
    """Parse ``text`` as the parameter NAME within [-LIMIT, LIMIT]."""
    return parse_integer(NAME, text, -LIMIT, LIMIT)


class TestAcceptsCanonical:
    """Canonical decimal integers inside the range parse to their value."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("0", 0), ("5", 5), ("-8", -8), ("1000000", 1_000_000), ("-1000000", -1_000_000)],
    )
    def test_canonical_text_parses_to_its_value(self, text: str, expected: int) -> None:
        """Zero, small values of both signs and both limits exactly are accepted."""
        assert LIMIT == 1_000_000
        assert parse(text) == expected

    @hypothesis_settings(max_examples=300)
    @given(value=st.integers(min_value=-LIMIT, max_value=LIMIT))
    def test_any_integer_in_range_round_trips_through_str(self, value: int) -> None:
        """parse_integer(str(i)) returns i for every i in range."""
        assert parse(str(value)) == value

    def test_bounds_other_than_symmetric_are_respected(self) -> None:
        """A range [1, 10] accepts both ends."""
        assert [parse_integer(NAME, text, 1, 10) for text in ("1", "10")] == [1, 10]


class TestRejectsNonCanonical:
    """Anything but 0|-?[1-9][0-9]* in ASCII raises NonCanonicalIntegerError."""

    @pytest.mark.parametrize("text", NON_CANONICAL)
    def test_lenient_int_forms_are_rejected_as_non_canonical(self, text: str) -> None:
        """Forms int() would accept or that only look numeric are refused as non-canonical."""
        with pytest.raises(NonCanonicalIntegerError):
            parse(text)

    @hypothesis_settings(max_examples=300)
    @given(
        text=st.one_of(
            st.text(),
            st.text(alphabet="0123456789-+ _.eEx\n\t\u0665\uff15%", max_size=12),
        )
    )
    @example(text="00")
    @example(text="-01")
    def test_any_text_not_matching_the_canonical_regex_is_rejected(self, text: str) -> None:
        """Every string that does not fullmatch 0|-?[1-9][0-9]* raises NonCanonicalIntegerError."""
        if CANONICAL.fullmatch(text) is not None:
            return
        with pytest.raises(NonCanonicalIntegerError):
            parse(text)

    @hypothesis_settings(max_examples=300)
    @given(text=st.from_regex(CANONICAL, fullmatch=True).filter(lambda text: len(text) <= 30))
    def test_canonical_text_is_parsed_or_out_of_range_never_non_canonical(self, text: str) -> None:
        """Text matching the canonical regex yields its value in range and IntegerOutOfRangeError outside."""
        value = int(text)
        if -LIMIT <= value <= LIMIT:
            assert parse(text) == value
        else:
            with pytest.raises(IntegerOutOfRangeError):
                parse(text)


class TestRejectsOutOfRange:
    """Canonical integers outside the range raise IntegerOutOfRangeError."""

    @pytest.mark.parametrize(
        "text",
        ["1000001", "-1000001", "10000000", "-10000000", "1" + "0" * 4999, "-" + "9" * 4999],
    )
    def test_canonical_value_beyond_limits_is_out_of_range(self, text: str) -> None:
        """One past each limit, and numbers with thousands of digits, are out of range."""
        with pytest.raises(IntegerOutOfRangeError):
            parse(text)

    def test_million_digit_input_is_rejected_as_out_of_range(self) -> None:
        """A 1,000,000-character digit string is refused (by its length, never converted)."""
        with pytest.raises(IntegerOutOfRangeError):
            parse("7" * 1_000_000)

    def test_value_below_a_positive_minimum_is_out_of_range(self) -> None:
        """Zero and negatives are out of range when the minimum is 1."""
        for text in ("0", "-3"):
            with pytest.raises(IntegerOutOfRangeError):
                parse_integer(NAME, text, 1, 10)


class TestErrorMessages:
    """Error messages name the parameter, state what is accepted and stay short."""

    def test_non_canonical_message_names_parameter_and_canonical_form(self) -> None:
        """The message names the parameter, gives the canonical regex and quotes the input."""
        with pytest.raises(NonCanonicalIntegerError) as caught:
            parse("+5")
        message = str(caught.value)
        assert NAME in message
        assert "0|-?[1-9][0-9]*" in message
        assert "'+5'" in message

    def test_out_of_range_message_names_parameter_and_range(self) -> None:
        """The message names the parameter, both limits and the input."""
        with pytest.raises(IntegerOutOfRangeError) as caught:
            parse("1000001")
        message = str(caught.value)
        assert NAME in message
        assert "-1000000" in message
        assert "1000000" in message.replace("-1000000", "")
        assert "1000001" in message

    def test_long_out_of_range_input_is_shortened_in_message(self) -> None:
        """The message for a 5000-digit input stays under 300 characters and still names the parameter."""
        with pytest.raises(IntegerOutOfRangeError) as caught:
            parse("1" + "2" * 4999)
        message = str(caught.value)
        assert len(message) < 300
        assert NAME in message
        assert "5000" in message

    def test_long_non_canonical_input_is_shortened_in_message(self) -> None:
        """The message for a 5000-character non-canonical input stays under 300 characters."""
        with pytest.raises(NonCanonicalIntegerError) as caught:
            parse("x" * 5000)
        message = str(caught.value)
        assert len(message) < 300
        assert NAME in message
