"""Slow, obviously correct computations that the tests compare fibsvc against.

Nothing here imports fibsvc: every expected value comes from plain Python integers,
so a test fails if the implementation and this reference disagree.
"""

import functools

import gmpy2

# Indices covered by the plain-addition table (enough for ranges of 300 starting at +-3000).
REFERENCE_LIMIT = 3300

Matrix = tuple[int, int, int, int]


@functools.cache
def reference_table() -> dict[int, int]:
    """Return {n: F(n)} for |n| <= REFERENCE_LIMIT.

    Non-negative indices by repeated addition from F(0) = 0, F(1) = 1; negative ones by
    running the recurrence backwards, F(k - 1) = F(k + 1) - F(k), so the negafibonacci
    sign rule is a consequence here rather than a formula.
    """
    table = {0: 0, 1: 1}
    for k in range(2, REFERENCE_LIMIT + 1):
        table[k] = table[k - 1] + table[k - 2]
    for k in range(0, -REFERENCE_LIMIT, -1):
        table[k - 1] = table[k + 1] - table[k]
    return table


def _multiply(left: Matrix, right: Matrix, modulus: int) -> Matrix:
    """Return the product of two row-major 2x2 matrices, reduced modulo ``modulus``."""
    a, b, c, d = left
    e, f, g, h = right
    return (
        (a * e + b * g) % modulus,
        (a * f + b * h) % modulus,
        (c * e + d * g) % modulus,
        (c * f + d * h) % modulus,
    )


def fibonacci_mod(n: int, modulus: int) -> int:
    """Return F(n) mod ``modulus`` as the top-right entry of [[1, 1], [1, 0]]^n.

    For n < 0 the power is taken of the inverse matrix [[0, 1], [1, -1]].
    """
    base: Matrix = (1, 1, 1, 0) if n >= 0 else (0, 1, 1, modulus - 1)
    result: Matrix = (1 % modulus, 0, 0, 1 % modulus)
    exponent = abs(n)
    while exponent:
        if exponent & 1:
            result = _multiply(result, base, modulus)
        base = _multiply(base, base, modulus)
        exponent >>= 1
    return result[1]


def decimal_digits(value: object) -> int:
    """Return the number of decimal digits of |value| (1 for zero), by converting it to text."""
    magnitude = abs(gmpy2.mpz(value))
    return len(magnitude.digits(10))


def slow_fibonacci(n: int) -> int:
    """Return F(n) by walking the recurrence from F(0), F(1) in the direction of n."""
    previous, current = 0, 1  # F(0), F(1)
    if n >= 0:
        for _ in range(n):
            previous, current = current, previous + current
        return previous
    for _ in range(-n):
        # F(k - 1) = F(k + 1) - F(k), walking down from (F(0), F(1)).
        previous, current = current - previous, previous
    return previous
