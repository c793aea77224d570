"""schemathesis against the real gunicorn, driven by the service's own OpenAPI document.

The schema is built in-process from the same settings the server reads, because
``schemathesis.pytest.from_fixture`` (the way to load it from the live URL) fails under
pytest 9.2, which dropped the private ``Node._nodeid`` it rewrites. The first test proves the
server publishes exactly this document, so the cases still come from the service's own
``/openapi.json``.
"""

import json
import os
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.core.result import Ok

from fibsvc.openapi import build_openapi
from fibsvc.settings import Settings
from tests.live_server import LiveServer

DOCUMENT = build_openapi(Settings.from_env(os.environ))
schema = schemathesis.openapi.from_dict(DOCUMENT)

# How many cases each operation received, so a run that generated nothing cannot pass.
GENERATED: Counter[str] = Counter()
# Operations whose parameters leave room for many distinct cases.
PARAMETRISED = (
    "GET /fibonacci/{n}",
    "GET /fibonacci/sequence",
    "HEAD /fibonacci/{n}",
    "HEAD /fibonacci/sequence",
)
MIN_CASES = 25


@pytest.fixture(autouse=True, scope="module")
def big_integers() -> Iterator[None]:
    """Let schemathesis parse the exact JSON integers, up to 208,988 digits, that the service returns."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    yield
    sys.set_int_max_str_digits(limit)


def test_served_document_is_the_one_tested(server: LiveServer) -> None:
    """The running server publishes exactly the document that drives the generated cases."""
    with urllib.request.urlopen(server.url("/openapi.json")) as response:
        assert json.load(response) == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_response_conforms_to_the_document(case: schemathesis.Case[Any], server: LiveServer) -> None:
    """Every generated request gets a documented status, content type, headers and body, never a 5xx.

    positive_data_acceptance is left out: a schema-valid ``n`` beyond the limit gets the
    documented 422, because a string parameter's pattern cannot state a numeric range.
    """
    GENERATED[case.operation.label] += 1
    case.call_and_validate(base_url=server.base_url, excluded_checks=[checks.positive_data_acceptance])


def test_every_operation_was_exercised() -> None:
    """The run above sent cases to each operation of the document, and many to the Fibonacci ones."""
    labels = {result.ok().label for result in schema.get_all_operations() if isinstance(result, Ok)}
    assert set(PARAMETRISED) <= labels
    missed = sorted(labels - set(GENERATED))
    assert not missed, f"operations never exercised: {missed}"
    few = {label: GENERATED[label] for label in PARAMETRISED if GENERATED[label] < MIN_CASES}
    assert not few, f"too few cases generated: {few}"
