"""``python -m bench.load``: a small, steady load on fibsvc, so the dashboard has something to show.

The compose profile ``load`` runs it against the proxy. Each request picks an index at random,
mostly small, now and then up to 10^6 (cold computations and cache hits both show), and a few
requests are sequences or invalid on purpose (the 4xx panels). The rate and the total are
bounded: it stops by itself after ``--duration`` seconds or ``--requests`` requests.
"""

import argparse
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence

# Invalid on purpose: non-canonical (400) and out of range (422).
INVALID_PATHS = ("/fibonacci/05", "/fibonacci/1e3", "/fibonacci/100000000000")


def pick_path(rng: random.Random) -> str:
    """Return the path of one request: mostly /fibonacci/{n} with small n, a few others."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(INVALID_PATHS)
    if roll < 0.15:
        return f"/fibonacci/sequence?start={rng.randint(-50, 500)}&count={rng.randint(1, 100)}"
    if roll < 0.20:
        return f"/fibonacci/{rng.randint(10_000, 1_000_000)}"
    return f"/fibonacci/{rng.randint(-100, 2_000)}"


def send(base_url: str, path: str, timeout: float) -> str:
    """Send one GET and return its status code as text, or the kind of failure."""
    try:
        with urllib.request.urlopen(base_url + path, timeout=timeout) as response:
            response.read()
            return str(response.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return "error"


def run(base_url: str, rate: float, duration: float, requests: int, seed: int | None) -> Counter[str]:
    """Send requests at ``rate`` per second until ``duration`` s or ``requests`` have passed."""
    # Not for security: a reproducible spread of indices.
    rng = random.Random(seed)  # noqa: S311
    interval = 1.0 / rate
    start = time.monotonic()
    outcomes: Counter[str] = Counter()
    for sent in range(requests):
        due = start + sent * interval
        now = time.monotonic()
        if now - start >= duration:
            break
        if due > now:
            time.sleep(due - now)
        outcomes[send(base_url, pick_path(rng), timeout=10.0)] += 1
    return outcomes


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line; every bound has a default, so no run is unbounded."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="base URL of fibsvc or its proxy")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (at most 1000)")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds before stopping")
    parser.add_argument("--requests", type=int, default=100_000, help="requests before stopping")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random indices")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000:
        parser.error("--rate must be more than 0 and at most 1000")
    if args.duration <= 0 or args.requests <= 0:
        parser.error("--duration and --requests must be positive")
    return args


def main(argv: Sequence[str]) -> int:
    """Run the load and print how many requests got each status; exit 1 if none was answered."""
    args = parse_args(argv)
    outcomes = run(args.url.rstrip("/"), args.rate, args.duration, args.requests, args.seed)
    sys.stdout.write(" ".join(f"{key}={count}" for key, count in sorted(outcomes.items())) + "\n")
    answered = sum(count for key, count in outcomes.items() if key != "error")
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
