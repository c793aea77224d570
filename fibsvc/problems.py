"""RFC 9457 problem details: the one shape of every error this service returns."""

import http
import json
from dataclasses import dataclass
from typing import Any

import falcon

from fibsvc.capacity import RETRY_AFTER_SECONDS, ServerBusyError
from fibsvc.indices import IntegerOutOfRangeError, NonCanonicalIntegerError
from fibsvc.logs import app_logger

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """A kind of error a client can act on, documented at ``/problems/<slug>``."""

    slug: str
    title: str
    status: int
    description: str

    @property
    def uri(self) -> str:
        """Return the problem type URI, relative to the service."""
        return f"/problems/{self.slug}"


NON_CANONICAL_INTEGER = ProblemType(
    "non-canonical-integer",
    "Integer not in canonical form",
    400,
    "An integer in the path or query must match 0|-?[1-9][0-9]*: ASCII digits, an optional "
    "leading '-', no leading zeros, no '+', spaces, underscores or other digit scripts.",
)
INTEGER_OUT_OF_RANGE = ProblemType(
    "integer-out-of-range",
    "Integer out of range",
    422,
    "The integer is well formed but outside the limits this server is configured with.",
)
OUTPUT_TOO_LARGE = ProblemType(
    "output-too-large",
    "Response would be too large",
    422,
    "The requested sequence would exceed the server's limit on response size; ask for fewer "
    "or smaller terms.",
)
INVALID_PARAMETER = ProblemType(
    "invalid-parameter",
    "Invalid query parameter",
    400,
    "A query parameter is missing, repeated, or has a value outside its documented choices.",
)
SERVER_BUSY = ProblemType(
    "server-busy",
    "Server busy with heavy computations",
    503,
    "Every slot for heavy computations (large uncached values, large sequences) is taken; "
    "retry after the number of seconds in Retry-After. Small and cached values are never refused.",
)
PROBLEM_TYPES = {
    kind.slug: kind
    for kind in (
        NON_CANONICAL_INTEGER,
        INTEGER_OUT_OF_RANGE,
        OUTPUT_TOO_LARGE,
        INVALID_PARAMETER,
        SERVER_BUSY,
    )
}

_DEFAULT_DETAILS = {
    404: "There is no resource at this path; GET / lists the endpoints.",
    500: "The server failed to answer this request; the failure has been logged.",
}


class Problem(falcon.HTTPError):
    """An HTTP error of a documented problem type."""

    def __init__(self, kind: ProblemType, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(kind.status, title=kind.title, description=detail, headers=headers)
        self.type_uri = kind.uri


def problem_body(error: falcon.HTTPError) -> dict[str, Any]:
    """Return the problem details object for ``error``."""
    status = error.status_code
    type_uri = getattr(error, "type_uri", "about:blank")
    # With about:blank, RFC 9457 asks for the status phrase as the title.
    title = error.title if type_uri != "about:blank" else http.HTTPStatus(status).phrase
    detail = error.description or _DEFAULT_DETAILS.get(status) or _allowed_detail(error) or title
    return {"type": type_uri, "title": title, "status": status, "detail": detail}


def serialize_problem(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Write ``error`` as application/problem+json, whatever the client accepts."""
    resp.data = json.dumps(problem_body(error)).encode()
    resp.content_type = PROBLEM_MEDIA_TYPE


def _allowed_detail(error: falcon.HTTPError) -> str | None:
    allowed = dict(error.headers or {}).get("Allow")
    return f"This resource allows only {allowed}." if allowed else None


def raise_non_canonical(
    req: falcon.Request, resp: falcon.Response, error: NonCanonicalIntegerError, params: dict[str, Any]
) -> None:
    """Answer a malformed integer with 400."""
    raise Problem(NON_CANONICAL_INTEGER, str(error))


def raise_out_of_range(
    req: falcon.Request, resp: falcon.Response, error: IntegerOutOfRangeError, params: dict[str, Any]
) -> None:
    """Answer a well-formed integer beyond the limits with 422."""
    raise Problem(INTEGER_OUT_OF_RANGE, str(error))


def raise_server_busy(
    req: falcon.Request, resp: falcon.Response, error: ServerBusyError, params: dict[str, Any]
) -> None:
    """Answer a heavy request past capacity with 503 and when to retry."""
    raise Problem(SERVER_BUSY, str(error), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def log_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Log a bug as one structured event and answer a 500 problem that reveals nothing of it."""
    app_logger("fibsvc").error("unhandled_exception", exc_info=error)
    raise falcon.HTTPInternalServerError


def register(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Make every error on ``app``, domain or HTTP, a problem details response."""
    app.set_error_serializer(serialize_problem)
    # Falcon's own fallback writes a multi-line traceback to wsgi.errors, outside the JSON log.
    app.add_error_handler(Exception, log_unexpected)
    app.add_error_handler(NonCanonicalIntegerError, raise_non_canonical)
    app.add_error_handler(IntegerOutOfRangeError, raise_out_of_range)
    app.add_error_handler(ServerBusyError, raise_server_busy)
