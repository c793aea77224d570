"""An independent, slow Fibonacci: plain additions of Python ints, no GMP."""


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
