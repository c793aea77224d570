"""Response headers every answer carries, whatever produced it (a resource, an error, a probe)."""

import falcon


class SecurityHeaders:
    """Falcon middleware: tell browsers not to guess content types.

    Bodies are JSON, problem+json or plain digits; a browser that sniffed one as HTML could be
    made to run what an error echoed back.
    """

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Add the headers to this response."""
        resp.set_header("X-Content-Type-Options", "nosniff")
