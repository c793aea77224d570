"""The OpenAPI document stays true: every route is in it and every example is what the server answers."""

from dataclasses import dataclass
from typing import Any

import falcon.inspect
import falcon.testing
import jsonschema
import pytest
from openapi_spec_validator import validate

from fibsvc.app import create_app
from fibsvc.settings import Settings
from tests.api.conftest import SMALL

CLIENTS = {
    "default": falcon.testing.TestClient(create_app(Settings())),
    "small": falcon.testing.TestClient(create_app(SMALL)),
}


@dataclass(frozen=True)
class Example:
    """A request assembled from the parameter examples of one name, and the response documented for it."""

    name: str
    path: str
    query: dict[str, str]
    status: int
    media_type: str
    body: Any
    schema: dict[str, Any]


def spec_of(client: falcon.testing.TestClient) -> dict[str, Any]:
    """Return the document the app serves."""
    document: dict[str, Any] = client.simulate_get("/openapi.json").json
    return document


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref such as #/components/responses/NotFound."""
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def examples_of(spec: dict[str, Any]) -> list[Example]:
    """Return every named response example of every GET operation, with the request that should produce it."""
    found = []
    for template, item in spec["paths"].items():
        operation = item["get"]
        parameters = operation.get("parameters", [])
        for status, response in operation["responses"].items():
            for media_type, content in resolve(spec, response).get("content", {}).items():
                for name, example in content.get("examples", {}).items():
                    values = {
                        p["name"]: p["examples"][name]["value"]
                        for p in parameters
                        if name in p.get("examples", {})
                    }
                    path_names = {p["name"] for p in parameters if p["in"] == "path"}
                    found.append(
                        Example(
                            name=name,
                            path=template.format(**{k: v for k, v in values.items() if k in path_names}),
                            query={k: v for k, v in values.items() if k not in path_names},
                            status=int(status),
                            media_type=media_type,
                            body=example["value"],
                            schema=content["schema"],
                        )
                    )
    return found


@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
class TestOpenAPIDocument:
    def test_is_a_valid_openapi_3_1_document(self, client: falcon.testing.TestClient) -> None:
        """The document passes the OpenAPI 3.1 schema and its own rules."""
        spec = spec_of(client)
        assert spec["openapi"].startswith("3.1")
        validate(spec)

    def test_every_served_route_and_method_is_documented(self, client: falcon.testing.TestClient) -> None:
        """Routes and methods in the app and in the document are the same sets."""
        served = {
            (route.path, method.method.lower())
            for route in falcon.inspect.inspect_routes(client.app)
            for method in route.methods
            if not method.internal
        }
        documented = {(path, method) for path, item in spec_of(client)["paths"].items() for method in item}
        assert served == documented

    def test_every_example_is_what_the_server_answers(self, client: falcon.testing.TestClient) -> None:
        """Each named example, sent as a request, gets exactly the documented status, type and body."""
        examples = examples_of(spec_of(client))
        assert len(examples) >= 20
        for example in examples:
            result = client.simulate_get(
                example.path, params=example.query, headers={"Accept": example.media_type}
            )
            context = f"{example.name}: GET {example.path} {example.query}"
            assert result.status_code == example.status, context
            assert result.headers["Content-Type"].split(";")[0] == example.media_type, context
            if example.media_type == "text/plain":
                assert result.text == example.body, context
            else:
                assert result.json == example.body, context

    def test_every_example_fits_its_schema(self, client: falcon.testing.TestClient) -> None:
        """Documented bodies obey the documented schemas, so the schemas are not vacuous."""
        spec = spec_of(client)
        for example in examples_of(spec):
            jsonschema.Draft202012Validator({**example.schema, "components": spec["components"]}).validate(
                example.body
            )

    def test_every_parameter_example_belongs_to_a_response_example(
        self, client: falcon.testing.TestClient
    ) -> None:
        """No parameter example is left without the answer it should get."""
        spec = spec_of(client)
        answered = {(e.name) for e in examples_of(spec)}
        for item in spec["paths"].values():
            for parameter in item["get"].get("parameters", []):
                assert set(parameter.get("examples", {})) <= answered, parameter["name"]

    def test_limits_in_the_document_follow_the_settings(self, client: falcon.testing.TestClient) -> None:
        """The documented limit is the configured one."""
        spec = spec_of(client)
        limit = SMALL.max_n if client is CLIENTS["small"] else Settings().max_n
        assert f"|n| <= {limit}" in spec["paths"]["/fibonacci/{n}"]["get"]["description"]
