"""Exact Fibonacci numbers over all integers, computed with GMP.

Pure arithmetic: no HTTP, logging or telemetry imports, so it can be tested and
benchmarked on its own.
"""

import math
from collections.abc import Iterator

import gmpy2

# digits(F(n)) <= n * log10(phi) + 1 for n >= 1, since F(n) <= phi^(n-1).
_LOG10_PHI = math.log10((1 + math.sqrt(5)) / 2)


def fibonacci(n: int) -> gmpy2.mpz:
    """Return F(n) for any integer n, with F(-n) = (-1)^(n+1) * F(n) (negafibonacci)."""
    if n >= 0:
        return gmpy2.fib(n)
    magnitude = gmpy2.fib(-n)
    return magnitude if n % 2 else -magnitude


def fibonacci_sequence(start: int, count: int) -> Iterator[gmpy2.mpz]:
    """Yield F(start), F(start + 1), ... F(start + count - 1).

    Only the first two terms are computed directly; the rest are additions, so the
    whole run costs little more than its output and holds two numbers at a time.
    """
    if count <= 0:
        return
    previous, current = fibonacci(start), fibonacci(start + 1)
    yield previous
    for _ in range(count - 1):
        yield current
        previous, current = current, previous + current


def max_decimal_digits(n: int) -> int:
    """Return an upper bound on the number of decimal digits of |F(n)|, without computing it."""
    return int(abs(n) * _LOG10_PHI) + 1


def max_total_decimal_digits(start: int, count: int) -> int:
    """Return an upper bound on the digits of |F(start)| + ... + |F(start + count - 1)|.

    Closed form of the sum of max_decimal_digits over the range, so a request for a
    huge sequence is judged in constant time.
    """
    if count <= 0:
        return 0
    stop = start + count - 1
    return int(_sum_of_abs(start, stop) * _LOG10_PHI) + count + 1


def _sum_of_abs(low: int, high: int) -> int:
    """Return |low| + |low + 1| + ... + |high| for low <= high."""

    def triangle(k: int) -> int:
        return k * (k + 1) // 2

    if low >= 0:
        return triangle(high) - triangle(low - 1)
    if high <= 0:
        return triangle(-low) - triangle(-high - 1)
    return triangle(-low) + triangle(high)
