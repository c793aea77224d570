"""Turn Fibonacci numbers into response bytes without Python's int-to-str.

CPython refuses to convert ints over 4,300 digits to text (and does it in
quadratic time below that), so bodies are assembled from GMP's own
subquadratic decimal conversion, ``mpz.digits()``, and never pass through
``json.dumps``.
"""

import enum
from collections.abc import Iterable, Iterator

import gmpy2

from fibsvc.fib import max_total_decimal_digits

CHUNK_BYTES = 64 * 1024
# Bump when any body's bytes change, so caches holding the old ones miss.
FORMAT_VERSION = "v1"


class Form(enum.Enum):
    """The ways a client can ask for a value; each has its own bytes and ETag."""

    JSON_NUMBER = "json"
    JSON_STRING = "json-string"
    TEXT = "text"

    @property
    def media_type(self) -> str:
        """Return the Content-Type of this form."""
        return "text/plain; charset=utf-8" if self is Form.TEXT else "application/json"


def decimal(value: gmpy2.mpz) -> bytes:
    """Return the decimal digits of ``value`` (with a leading '-' if negative)."""
    digits: str = value.digits(10)
    return digits.encode("ascii")


def render_value(n: int, value: gmpy2.mpz, form: Form) -> bytes:
    """Return the body for F(n) = ``value`` in ``form``."""
    digits = decimal(value)
    if form is Form.TEXT:
        return digits + b"\n"
    quote = b'"' if form is Form.JSON_STRING else b""
    return b"".join((b'{"fibonacci(', str(n).encode(), b')": ', quote, digits, quote, b"}"))


def digits_in_body(n: int, body: bytes, form: Form) -> int:
    """Return how many decimal digits F(n) has, from the length of its rendered ``body``."""
    negative = n < 0 and n % 2 == 0
    envelope = 1 if form is Form.TEXT else len(b'{"fibonacci(%d)": }' % n)
    quotes = 2 if form is Form.JSON_STRING else 0
    return len(body) - envelope - quotes - negative


def render_sequence(start: int, count: int, values: Iterable[gmpy2.mpz], form: Form) -> Iterator[bytes]:
    """Yield the body for a run of values in chunks of about CHUNK_BYTES."""
    if form is Form.TEXT:
        opening, separator, closing, quote = b"", b"\n", b"\n", b""
    else:
        opening = b'{"start": %d, "count": %d, "sequence": [' % (start, count)
        separator, closing = b", ", b"]}"
        quote = b'"' if form is Form.JSON_STRING else b""
    pending = [opening]
    pending_bytes = len(opening)
    for index, value in enumerate(values):
        item = quote + decimal(value) + quote
        if index:
            pending.append(separator)
        pending.append(item)
        pending_bytes += len(item) + len(separator)
        if pending_bytes >= CHUNK_BYTES:
            yield b"".join(pending)
            pending, pending_bytes = [], 0
    pending.append(closing)
    yield b"".join(pending)


def max_sequence_bytes(start: int, count: int) -> int:
    """Return an upper bound on the size of a sequence body, judged without computing it."""
    # Digits and sign of each term, quotes and ', ' around it, and the envelope.
    return max_total_decimal_digits(start, count) + 5 * count + 64


def value_etag(n: int, form: Form) -> str:
    """Return the strong ETag of F(n) in ``form``: the bytes depend on nothing else."""
    return f'"{FORMAT_VERSION}-{form.value}-{n}"'


def sequence_etag(start: int, count: int, form: Form) -> str:
    """Return the strong ETag of a sequence body."""
    return f'"{FORMAT_VERSION}-{form.value}-seq-{start}-{count}"'
