"""Unit tests for fibsvc.fib: exact values, identities, sequences and digit bounds."""

from decimal import Decimal, localcontext

import gmpy2
import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fibsvc.fib import fibonacci, fibonacci_sequence, max_decimal_digits, max_total_decimal_digits
from fibsvc.settings import Settings
from tests.reference import decimal_digits, fibonacci_mod, reference_table

MAX_N = Settings().max_n
MAX_COUNT = Settings().max_count
EXHAUSTIVE_LIMIT = 2000
DIGIT_LIMIT = 3000
PRIMES = (2, 3, 5, 10_007, 1_000_000_007, 2**61 - 1)
with localcontext() as context:
    context.prec = 50
    LOG10_GOLDEN_RATIO = float(((1 + Decimal(5).sqrt()) / 2).log10())

whole_range = st.integers(min_value=-MAX_N, max_value=MAX_N)
# Hypothesis favours small integers; also draw from the outer halves, where the numbers are huge.
large_or_any_index = st.one_of(
    whole_range,
    st.integers(min_value=MAX_N // 2, max_value=MAX_N),
    st.integers(min_value=-MAX_N, max_value=-(MAX_N // 2)),
)
# F(10^6) has about 209,000 digits: each example costs milliseconds, so keep counts modest.
big_numbers = hypothesis_settings(max_examples=15, deadline=None)


@st.composite
def index_pairs(draw: st.DrawFn) -> tuple[int, int]:
    """Draw (m, n) with m, n and m + n all within the allowed range."""
    total = draw(large_or_any_index)
    m = draw(st.integers(min_value=max(-MAX_N, total - MAX_N), max_value=min(MAX_N, total + MAX_N)))
    return m, total - m


def sign_of_power_of_minus_one(n: int) -> int:
    """Return (-1)^n as an int, for any integer n."""
    return 1 if n % 2 == 0 else -1


class TestExactValues:
    """fibonacci(n) against known values and a plain-addition reference."""

    @pytest.mark.parametrize(
        ("n", "expected"),
        [
            (0, 0),
            (1, 1),
            (2, 1),
            (5, 5),
            (93, 12200160415121876738),
            (-1, 1),
            (-2, -1),
            (-8, -21),
        ],
    )
    def test_known_value_is_returned_exactly(self, n: int, expected: int) -> None:
        """F(n) equals the published value for small and 64-bit-boundary indices of both signs."""
        assert fibonacci(n) == expected

    def test_every_index_up_to_2000_matches_plain_addition(self) -> None:
        """F(n) equals the iterative Python-int reference for every |n| <= 2000."""
        table = reference_table()
        wrong = [n for n in range(-EXHAUSTIVE_LIMIT, EXHAUSTIVE_LIMIT + 1) if fibonacci(n) != table[n]]
        assert wrong == []

    def test_negative_index_follows_negafibonacci_sign_rule(self) -> None:
        """F(-n) equals (-1)^(n+1) times the forward-iterated F(n) for 1 <= n <= 2000."""
        table = reference_table()
        wrong = [
            n
            for n in range(1, EXHAUSTIVE_LIMIT + 1)
            if fibonacci(-n) != -sign_of_power_of_minus_one(n) * table[n]
        ]
        assert wrong == []


class TestIdentitiesForLargeIndices:
    """Identities that gmpy2.fib does not use, checked across the whole allowed range."""

    @big_numbers
    @given(n=large_or_any_index)
    @example(n=MAX_N)
    @example(n=-MAX_N)
    @example(n=0)
    @example(n=-1)
    def test_cassini_identity_holds(self, n: int) -> None:
        """F(n-1)F(n+1) - F(n)^2 equals (-1)^n for any n in range, negative ones included."""
        assert fibonacci(n - 1) * fibonacci(n + 1) - fibonacci(n) ** 2 == sign_of_power_of_minus_one(n)

    @big_numbers
    @given(pair=index_pairs())
    @example(pair=(MAX_N // 2, MAX_N - MAX_N // 2))
    @example(pair=(-MAX_N, MAX_N))
    @example(pair=(MAX_N, -MAX_N))
    def test_addition_identity_holds(self, pair: tuple[int, int]) -> None:
        """F(m+n) equals F(m)F(n+1) + F(m-1)F(n) for any m, n and m + n in range."""
        m, n = pair
        assert fibonacci(m + n) == fibonacci(m) * fibonacci(n + 1) + fibonacci(m - 1) * fibonacci(n)

    @hypothesis_settings(max_examples=30, deadline=None)
    @given(n=large_or_any_index)
    @example(n=MAX_N)
    @example(n=-MAX_N)
    @example(n=-(MAX_N - 1))
    def test_residue_matches_matrix_power_for_several_primes(self, n: int) -> None:
        """F(n) mod p equals the top-right entry of [[1,1],[1,0]]^n mod p for several primes p."""
        value = int(fibonacci(n))
        assert [value % p for p in PRIMES] == [fibonacci_mod(n, p) for p in PRIMES]


class TestSequence:
    """fibonacci_sequence yields exactly the run F(start) ... F(start + count - 1)."""

    @hypothesis_settings(max_examples=60, deadline=None)
    @given(start=st.integers(min_value=-3000, max_value=3000), count=st.integers(min_value=0, max_value=300))
    @example(start=-150, count=300)
    @example(start=-1, count=3)
    def test_run_near_zero_equals_termwise_values(self, start: int, count: int) -> None:
        """The run equals F(i) for each i, including runs that cross zero."""
        expected = [fibonacci(i) for i in range(start, start + count)]
        assert list(fibonacci_sequence(start, count)) == expected

    @hypothesis_settings(max_examples=10, deadline=None)
    @given(start=large_or_any_index, count=st.integers(min_value=0, max_value=30))
    @example(start=MAX_N - 29, count=30)
    @example(start=-MAX_N, count=30)
    def test_run_anywhere_in_range_equals_termwise_values(self, start: int, count: int) -> None:
        """The run equals F(i) for each i far from zero, where the terms have many digits."""
        expected = [fibonacci(i) for i in range(start, start + count)]
        assert list(fibonacci_sequence(start, count)) == expected

    def test_run_across_zero_matches_plain_addition(self) -> None:
        """The run from -300 to 300 equals the plain-addition reference term by term."""
        table = reference_table()
        assert list(fibonacci_sequence(-300, 601)) == [table[i] for i in range(-300, 301)]

    @pytest.mark.parametrize("start", [-MAX_N, -5, 0, 7, MAX_N])
    def test_count_zero_yields_nothing(self, start: int) -> None:
        """A run of zero terms is empty wherever it starts."""
        assert list(fibonacci_sequence(start, 0)) == []


class TestDecimalDigitBounds:
    """max_decimal_digits and max_total_decimal_digits are tight upper bounds."""

    def test_bound_covers_every_index_up_to_3000(self) -> None:
        """For every |n| <= 3000 the bound is at least the real digit count of |F(n)| and at most 2 more."""
        table = reference_table()
        wrong = []
        for n in range(-DIGIT_LIMIT, DIGIT_LIMIT + 1):
            real = len(str(abs(table[n])))
            if not real <= max_decimal_digits(n) <= real + 2:
                wrong.append((n, real, max_decimal_digits(n)))
        assert wrong == []

    @big_numbers
    @given(n=large_or_any_index)
    @example(n=MAX_N)
    @example(n=-MAX_N)
    def test_bound_covers_large_indices(self, n: int) -> None:
        """For large |n| the bound is at least the real digit count of |F(n)| and at most 2 more."""
        real = decimal_digits(gmpy2.fib(abs(n)))
        assert real <= max_decimal_digits(n) <= real + 2

    @hypothesis_settings(max_examples=100, deadline=None)
    @given(start=st.integers(min_value=-3000, max_value=3000), count=st.integers(min_value=0, max_value=300))
    @example(start=-150, count=300)
    @example(start=0, count=0)
    @example(start=0, count=1)
    def test_total_bound_covers_real_digits_near_zero(self, start: int, count: int) -> None:
        """The total bound is at least the summed real digit counts, and at most two digits a term more."""
        table = reference_table()
        real = sum(len(str(abs(table[k]))) for k in range(start, start + count))
        total = max_total_decimal_digits(start, count)
        assert real <= total <= real + 2 * count + 2

    @hypothesis_settings(max_examples=6, deadline=None)
    @given(start=large_or_any_index, count=st.integers(min_value=1, max_value=5))
    @example(start=MAX_N - 4, count=5)
    @example(start=-MAX_N, count=5)
    def test_total_bound_covers_real_digits_for_large_indices(self, start: int, count: int) -> None:
        """The total bound is at least the summed real digit counts of terms with many digits."""
        real = sum(decimal_digits(gmpy2.fib(abs(k))) for k in range(start, start + count))
        assert real <= max_total_decimal_digits(start, count) <= real + 2 * count + 2

    @hypothesis_settings(max_examples=200, deadline=None)
    @given(start=whole_range, count=st.integers(min_value=0, max_value=MAX_COUNT))
    @example(start=-5000, count=MAX_COUNT)
    @example(start=-1, count=3)
    @example(start=0, count=1)
    @example(start=-MAX_N, count=1)
    def test_total_bound_matches_loop_over_single_bounds(self, start: int, count: int) -> None:
        """The closed form is at least the loop over max_decimal_digits, and at most a digit a term more."""
        loop = sum(max_decimal_digits(k) for k in range(start, start + count))
        total = max_total_decimal_digits(start, count)
        assert loop <= total <= loop + count + 1

    @hypothesis_settings(max_examples=200, deadline=None)
    @given(start=whole_range, count=st.integers(min_value=0, max_value=MAX_COUNT))
    @example(start=-5000, count=MAX_COUNT)
    @example(start=-300, count=301)
    @example(start=-MAX_N, count=MAX_COUNT)
    @example(start=0, count=0)
    def test_total_bound_is_summed_real_valued_bounds_rounded_up(self, start: int, count: int) -> None:
        """The closed form lies within one digit above the sum of |k| log10(phi) + 1 over the range."""
        exact = sum(abs(k) for k in range(start, start + count)) * LOG10_GOLDEN_RATIO + count
        total = max_total_decimal_digits(start, count)
        assert exact - 1e-3 <= total <= exact + 1 + 1e-3
