"""Parse the integers a client writes in a URL, strictly and cheaply.

Only the canonical decimal form is accepted (``0|-?[1-9][0-9]*``, ASCII only).
Python's ``int()`` is far more lenient (``+5``, ``05``, ``1_000``, `` 5``, Arabic-Indic digits),
so it only ever sees text that already matched. A canonical value with more
digits than the limit is rejected by its length alone, so a huge input costs
nothing to turn away.
"""

import functools
import re

CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
_SHOWN_INPUT_CHARS = 40


class NonCanonicalIntegerError(ValueError):
    """The text is not an integer in canonical decimal form."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(name, text)
        self.name = name
        self.text = text

    def __str__(self) -> str:
        return (
            f"{self.name} must be an integer written in canonical decimal form "
            f"(ASCII digits, an optional leading '-', no leading zeros, no '+' or spaces; "
            f"regex 0|-?[1-9][0-9]*); got {shorten(self.text)}"
        )


class IntegerOutOfRangeError(ValueError):
    """The integer is canonical but outside the accepted range."""

    def __init__(self, name: str, text: str, minimum: int, maximum: int) -> None:
        super().__init__(name, text, minimum, maximum)
        self.name = name
        self.text = text
        self.minimum = minimum
        self.maximum = maximum

    def __str__(self) -> str:
        return f"{self.name} must be between {self.minimum} and {self.maximum}; got {shorten(self.text)}"


def parse_integer(name: str, text: str, minimum: int, maximum: int) -> int:
    """Return the canonical integer ``text`` if it lies in [minimum, maximum].

    Raises NonCanonicalIntegerError or IntegerOutOfRangeError, each naming ``name``.
    """
    if CANONICAL_INTEGER.fullmatch(text) is None:
        raise NonCanonicalIntegerError(name, text)
    if len(text) > _widest(minimum, maximum):
        raise IntegerOutOfRangeError(name, text, minimum, maximum)
    value = int(text)
    if not minimum <= value <= maximum:
        raise IntegerOutOfRangeError(name, text, minimum, maximum)
    return value


@functools.cache
def _widest(minimum: int, maximum: int) -> int:
    """Return the length of the longest canonical text within [minimum, maximum]."""
    return max(len(str(minimum)), len(str(maximum)))


def shorten(text: str) -> str:
    """Quote ``text`` for an error message, cut to a readable length."""
    if len(text) > _SHOWN_INPUT_CHARS:
        return f"{text[:_SHOWN_INPUT_CHARS]!r}... ({len(text)} characters)"
    return repr(text)
