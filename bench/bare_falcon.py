"""The framework's floor: the least a Falcon app can do, served by the same gunicorn.conf.py.

One resource answering a fixed JSON body, no middleware: what fibsvc would cost if it did
nothing but be a Falcon app.
"""

import falcon

BODY = b'{"fibonacci(30)": 832040}'


class FixedResource:
    """Answer every GET with the same small JSON body."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, n: str) -> None:
        """Return BODY, whatever ``n`` is."""
        resp.data = BODY


app = falcon.App()
app.add_route("/fibonacci/{n}", FixedResource())
