"""The OpenAPI 3.1 document of the service, built from the live settings.

Examples are keyed by name across a path's parameters and responses: the
request made of every parameter example called ``five`` is answered by the
response example called ``five``. tests/api/test_openapi.py sends each such
request and checks the answer, so the document cannot drift from the code.
"""

from typing import Any

from fibsvc import __version__
from fibsvc.docs import index_document
from fibsvc.indices import IntegerOutOfRangeError, NonCanonicalIntegerError
from fibsvc.problems import (
    INTEGER_OUT_OF_RANGE,
    INVALID_PARAMETER,
    NON_CANONICAL_INTEGER,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPES,
    SERVER_BUSY,
    Problem,
    problem_body,
)
from fibsvc.render import max_sequence_bytes
from fibsvc.resources import IMMUTABLE, missing_count, sequence_beyond_limit, sequence_too_large
from fibsvc.settings import Settings

CANONICAL_PATTERN = "^(0|-?[1-9][0-9]*)$"
_JSON = "application/json"
_TEXT = "text/plain"


def build_openapi(settings: Settings) -> dict[str, Any]:
    """Return the OpenAPI document for a server running with ``settings``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fibsvc",
            "version": __version__,
            "description": (
                "Exact Fibonacci numbers over HTTP. Values are JSON integers of any size; clients "
                "whose JSON parser cannot hold them ask for text/plain or ?as=string."
            ),
        },
        "paths": {
            "/": _document_path("Index of the endpoints", "index", index_document(__version__)),
            "/fibonacci/{n}": _value_path(settings),
            "/fibonacci/sequence": _sequence_path(settings),
            "/healthz": _document_path("Liveness: the process answers", "healthz", {"status": "ok"}),
            "/readyz": _readiness_path(),
            "/metrics": _metrics_path(),
            "/openapi.json": _openapi_path(),
            "/problems/{slug}": _problem_type_path(),
        },
        "components": {
            "schemas": {"Problem": _problem_schema()},
            "headers": {
                "ETag": {
                    "description": "Strong validator of this representation.",
                    "schema": {"type": "string"},
                },
                "Cache-Control": {"description": f"Always `{IMMUTABLE}`.", "schema": {"type": "string"}},
            },
            "responses": {
                "NotModified": {
                    "description": "The client's copy (If-None-Match) is current.",
                    "headers": _caching_headers(),
                },
                "NotFound": _problem_response("No resource at this path.", {}),
                "ServerBusy": {
                    **_problem_response(
                        f"Every slot for heavy computations is taken ({SERVER_BUSY.description}).", {}
                    ),
                    "headers": {
                        "Retry-After": {
                            "description": "Seconds to wait before retrying.",
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    },
                },
            },
        },
    }


def _value_path(settings: Settings) -> dict[str, Any]:
    max_n = settings.max_n
    beyond = str(max_n + 1)
    operation = {
        "summary": "F(n), exactly",
        "description": (
            f"F(n) for |n| <= {max_n}; negative n follows F(-n) = (-1)^(n+1) F(n). "
            "Accept: text/plain gives the bare digits and a newline."
        ),
        "parameters": [
            {
                "name": "n",
                "in": "path",
                "required": True,
                "description": f"The index, in canonical decimal form, |n| <= {max_n}.",
                "schema": {"type": "string", "pattern": CANONICAL_PATTERN},
                "examples": {
                    "five": {"value": "5"},
                    "ninety-three": {"value": "93"},
                    "negative": {"value": "-8"},
                    "as-string": {"value": "93"},
                    "not-canonical": {"value": "05"},
                    "out-of-range": {"value": beyond},
                },
            },
            _as_parameter({"as-string": {"value": "string"}}),
        ],
        "responses": {
            "200": {
                "description": "F(n). The key is `fibonacci(<n>)`.",
                "headers": _caching_headers(),
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "minProperties": 1,
                            "maxProperties": 1,
                            "patternProperties": {
                                r"^fibonacci\((0|-?[1-9][0-9]*)\)$": {"type": ["integer", "string"]}
                            },
                            "additionalProperties": False,
                        },
                        "examples": {
                            "five": {"value": {"fibonacci(5)": 5}},
                            "ninety-three": {"value": {"fibonacci(93)": 12200160415121876738}},
                            "negative": {"value": {"fibonacci(-8)": -21}},
                            "as-string": {"value": {"fibonacci(93)": "12200160415121876738"}},
                        },
                    },
                    _TEXT: {
                        "schema": {"type": "string", "pattern": "^-?[0-9]+\n$"},
                        "examples": {
                            "five": {"value": "5\n"},
                            "negative": {"value": "-21\n"},
                        },
                    },
                },
            },
            "304": {"$ref": "#/components/responses/NotModified"},
            "400": _problem_response(
                "n is not in canonical form, or ?as= is not number or string.",
                {"not-canonical": _problem(NON_CANONICAL_INTEGER, str(NonCanonicalIntegerError("n", "05")))},
            ),
            "404": {"$ref": "#/components/responses/NotFound"},
            "422": _problem_response(
                f"|n| > {max_n}.",
                {
                    "out-of-range": _problem(
                        INTEGER_OUT_OF_RANGE, str(IntegerOutOfRangeError("n", beyond, -max_n, max_n))
                    )
                },
            ),
            "503": {"$ref": "#/components/responses/ServerBusy"},
        },
    }
    return _get_and_head(operation, "fibonacci")


def _sequence_path(settings: Settings) -> dict[str, Any]:
    max_n, max_count = settings.max_n, settings.max_count
    too_many = str(max_count + 1)
    start_examples = {
        "first-ten": {"value": "0"},
        "negative-start": {"value": "-3"},
        "as-string": {"value": "90"},
        "not-canonical": {"value": "+1"},
        "count-missing": {"value": "0"},
        "past-the-limit": {"value": str(max_n)},
    }
    count_examples = {
        "first-ten": {"value": "10"},
        "negative-start": {"value": "5"},
        "as-string": {"value": "4"},
        "not-canonical": {"value": "3"},
        "too-many": {"value": too_many},
        "past-the-limit": {"value": "2"},
    }
    unprocessable = {
        "too-many": _problem(
            INTEGER_OUT_OF_RANGE, str(IntegerOutOfRangeError("count", too_many, 1, max_count))
        ),
        "past-the-limit": problem_body(sequence_beyond_limit(max_n, 2, max_n)),
    }
    too_large = _smallest_too_large_run(settings)
    if too_large is not None:
        large_start, large_count = too_large
        start_examples["too-large"] = {"value": str(large_start)}
        count_examples["too-large"] = {"value": str(large_count)}
        unprocessable["too-large"] = problem_body(
            sequence_too_large(
                large_start,
                large_count,
                max_sequence_bytes(large_start, large_count),
                settings.max_sequence_bytes,
            )
        )
    operation = {
        "summary": "F(start) ... F(start + count - 1)",
        "description": (
            f"count <= {max_count}, every index within |i| <= {max_n}, and the body at most "
            f"{settings.max_sequence_bytes} bytes. The body is streamed. Accept: text/plain gives "
            "one value a line."
        ),
        "parameters": [
            {
                "name": "start",
                "in": "query",
                "required": False,
                "description": "The first index, canonical decimal; default 0.",
                "schema": {"type": "string", "pattern": CANONICAL_PATTERN, "default": "0"},
                "examples": start_examples,
            },
            {
                "name": "count",
                "in": "query",
                "required": True,
                "description": f"How many terms, 1 to {max_count}.",
                "schema": {"type": "string", "pattern": CANONICAL_PATTERN},
                "examples": count_examples,
            },
            _as_parameter({"as-string": {"value": "string"}}),
        ],
        "responses": {
            "200": {
                "description": "The terms, in order.",
                "headers": _caching_headers(),
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["start", "count", "sequence"],
                            "properties": {
                                "start": {"type": "integer"},
                                "count": {"type": "integer"},
                                "sequence": {"type": "array", "items": {"type": ["integer", "string"]}},
                            },
                            "additionalProperties": False,
                        },
                        "examples": {
                            "first-ten": {
                                "value": {
                                    "start": 0,
                                    "count": 10,
                                    "sequence": [0, 1, 1, 2, 3, 5, 8, 13, 21, 34],
                                }
                            },
                            "negative-start": {
                                "value": {"start": -3, "count": 5, "sequence": [2, -1, 1, 0, 1]}
                            },
                            "as-string": {
                                "value": {
                                    "start": 90,
                                    "count": 4,
                                    "sequence": [
                                        "2880067194370816120",
                                        "4660046610375530309",
                                        "7540113804746346429",
                                        "12200160415121876738",
                                    ],
                                }
                            },
                        },
                    },
                    _TEXT: {
                        "schema": {"type": "string"},
                        "examples": {"first-ten": {"value": "0\n1\n1\n2\n3\n5\n8\n13\n21\n34\n"}},
                    },
                },
            },
            "304": {"$ref": "#/components/responses/NotModified"},
            "400": _problem_response(
                "A parameter is missing, repeated, not canonical, or ?as= is not number or string.",
                {
                    "not-canonical": _problem(
                        NON_CANONICAL_INTEGER, str(NonCanonicalIntegerError("start", "+1"))
                    ),
                    "count-missing": problem_body(missing_count(max_count)),
                },
            ),
            "422": _problem_response(
                "count, an index or the body size is beyond the limits.",
                unprocessable,
            ),
            "503": {"$ref": "#/components/responses/ServerBusy"},
        },
    }
    return _get_and_head(operation, "sequence")


def _smallest_too_large_run(settings: Settings) -> tuple[int, int] | None:
    """Return the shortest run ending at max_n whose body is over the size limit, if any is allowed."""
    longest = min(settings.max_count, 2 * settings.max_n + 1)
    for count in range(1, longest + 1):
        start = settings.max_n - count + 1
        if max_sequence_bytes(start, count) > settings.max_sequence_bytes:
            return start, count
    return None


def _document_path(summary: str, name: str, example: Any) -> dict[str, Any]:
    operation = {
        "summary": summary,
        "responses": {
            "200": {
                "description": summary,
                "content": {_JSON: {"schema": {"type": "object"}, "examples": {name: {"value": example}}}},
            }
        },
    }
    return _get_and_head(operation, name)


def _readiness_path() -> dict[str, Any]:
    operation = {
        "summary": "Readiness: this worker has finished starting and takes traffic",
        "responses": {
            "200": {
                "description": "Ready.",
                "content": {
                    _JSON: {
                        "schema": {"type": "object"},
                        "examples": {"ready": {"value": {"status": "ready"}}},
                    }
                },
            },
            "503": {
                "description": "Not ready: still starting, or draining before a shutdown.",
                "content": {_JSON: {"schema": {"type": "object"}, "example": {"status": "draining"}}},
            },
        },
    }
    return _get_and_head(operation, "readyz")


def _metrics_path() -> dict[str, Any]:
    operation = {
        "summary": "Prometheus metrics, summed over every worker of this server",
        "responses": {
            "200": {
                "description": "The Prometheus text exposition format.",
                "content": {_TEXT: {"schema": {"type": "string"}}},
            }
        },
    }
    return _get_and_head(operation, "metrics")


def _openapi_path() -> dict[str, Any]:
    operation = {
        "summary": "This document",
        "responses": {
            "200": {"description": "OpenAPI 3.1", "content": {_JSON: {"schema": {"type": "object"}}}}
        },
    }
    return _get_and_head(operation, "openapi")


def _problem_type_path() -> dict[str, Any]:
    kind = INVALID_PARAMETER
    operation = {
        "summary": "What a problem type means (the `type` of an error resolves here)",
        "parameters": [
            {
                "name": "slug",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": sorted(PROBLEM_TYPES)},
                "examples": {"invalid-parameter": {"value": kind.slug}},
            }
        ],
        "responses": {
            "200": {
                "description": "The problem type.",
                "content": {
                    _JSON: {
                        "schema": {"type": "object"},
                        "examples": {
                            "invalid-parameter": {
                                "value": {
                                    "type": kind.uri,
                                    "title": kind.title,
                                    "status": kind.status,
                                    "description": kind.description,
                                }
                            }
                        },
                    }
                },
            },
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }
    return _get_and_head(operation, "problem_type")


def _as_parameter(examples: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "as",
        "in": "query",
        "required": False,
        "description": (
            "number (default): values are JSON integers. string: values are JSON strings, for "
            "parsers that lose precision above 2^53 or refuse more than 4,300 digits."
        ),
        "schema": {"type": "string", "enum": ["number", "string"], "default": "number"},
        "examples": examples,
    }


def _get_and_head(operation: dict[str, Any], name: str) -> dict[str, Any]:
    head = {key: value for key, value in operation.items() if key != "responses"}
    head["summary"] = f"{operation['summary']} (headers only)"
    head["responses"] = {
        status: {key: value for key, value in response.items() if key != "content"}
        for status, response in operation["responses"].items()
    }
    return {
        "get": {"operationId": f"get_{name}", **operation},
        "head": {"operationId": f"head_{name}", **head},
    }


def _caching_headers() -> dict[str, Any]:
    return {
        "ETag": {"$ref": "#/components/headers/ETag"},
        "Cache-Control": {"$ref": "#/components/headers/Cache-Control"},
    }


def _problem(kind: Any, detail: str) -> dict[str, Any]:
    return problem_body(Problem(kind, detail))


def _problem_response(description: str, examples: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    if examples:
        content["examples"] = {name: {"value": body} for name, body in examples.items()}
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: content}}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "URI of the problem type, or about:blank."},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {
                "type": "string",
                "description": "What was wrong with this request and what is accepted.",
            },
        },
    }
