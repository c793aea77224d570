"""The collector config: sound pipelines, reachable receivers, and exporters that reach Tempo and Loki."""

from typing import Any

import pytest

from tests.stack.stack_files import ALL_INTERFACES, compose, environment, load_yaml, service, split_host_port

COLLECTOR = "observability/otel-collector/config.yaml"
# Exporters that no longer exist in the contrib distribution, and the deprecated aliases of renamed ones.
REMOVED_OR_DEPRECATED_EXPORTERS = {"jaeger", "jaeger_thrift", "logging", "loki", "otlp", "otlphttp"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """Return the collector's config, parsed."""
    document: dict[str, Any] = load_yaml(COLLECTOR)
    return document


def kind(component_id: str) -> str:
    """Return the type of a component id: `otlp_grpc/tempo` is an `otlp_grpc`."""
    return component_id.split("/", 1)[0]


def collector_service_name() -> str:
    """Return the compose service that runs the collector: the one mounting its config file."""
    services: dict[str, dict[str, Any]] = compose()["services"]
    (name,) = [
        name
        for name, definition in services.items()
        if any(COLLECTOR in volume for volume in definition.get("volumes", []))
    ]
    return name


def exporter_of(config: dict[str, Any], pipeline: str) -> tuple[str, dict[str, Any]]:
    """Return the one exporter of ``pipeline`` and its settings."""
    (exporter,) = config["service"]["pipelines"][pipeline]["exporters"]
    settings: dict[str, Any] = config["exporters"][exporter]
    return exporter, settings


class TestPipelines:
    @pytest.mark.parametrize("section", ["receivers", "processors", "exporters"])
    def test_pipelines_name_only_defined_components(self, config: dict[str, Any], section: str) -> None:
        """Every receiver, processor and exporter a pipeline names is defined in its section."""
        pipelines = config["service"]["pipelines"]
        assert pipelines
        for name, pipeline in pipelines.items():
            assert pipeline.get(section) or section == "processors", f"{name} has no {section}"
            for component in pipeline.get(section, []):
                assert component in config[section], f"{name}: {component} is not defined in {section}"

    def test_enabled_extensions_are_defined(self, config: dict[str, Any]) -> None:
        """Every extension the service enables is configured, and the health check is among them."""
        enabled = config["service"]["extensions"]
        assert set(enabled) <= set(config["extensions"])
        assert any(kind(extension) == "health_check" for extension in enabled)

    def test_memory_limiter_comes_first_then_batch(self, config: dict[str, Any]) -> None:
        """Each pipeline refuses data under memory pressure before doing anything else, then batches."""
        for name, pipeline in config["service"]["pipelines"].items():
            kinds = [kind(processor) for processor in pipeline["processors"]]
            assert kinds[0] == "memory_limiter", name
            assert "batch" in kinds[1:], name

    def test_traces_go_to_tempo_and_logs_to_loki(self, config: dict[str, Any]) -> None:
        """The traces pipeline exports to Tempo over OTLP gRPC; the logs pipeline to Loki over OTLP HTTP."""
        assert kind(exporter_of(config, "traces")[0]) == "otlp_grpc"
        assert kind(exporter_of(config, "logs")[0]) == "otlp_http"

    def test_uses_no_removed_or_deprecated_exporter(self, config: dict[str, Any]) -> None:
        """No exporter type recent collectors dropped (jaeger, logging, loki) or renamed (otlp, otlphttp)."""
        for component in config["exporters"]:
            assert kind(component) not in REMOVED_OR_DEPRECATED_EXPORTERS, component


class TestEndpoints:
    def test_receivers_listen_on_all_interfaces(self, config: dict[str, Any]) -> None:
        """OTLP gRPC and HTTP are bound to 0.0.0.0 explicitly (the default is localhost since v0.104)."""
        protocols = config["receivers"]["otlp"]["protocols"]
        assert set(protocols) == {"grpc", "http"}
        for settings in protocols.values():
            assert split_host_port(settings["endpoint"])[0] == ALL_INTERFACES

    def test_the_app_exports_to_a_port_the_collector_listens_on(self, config: dict[str, Any]) -> None:
        """OTEL_EXPORTER_OTLP_ENDPOINT names the collector service and its receiver for the protocol."""
        app = environment("fibsvc")
        protocol = {"http/protobuf": "http", "grpc": "grpc"}[app["OTEL_EXPORTER_OTLP_PROTOCOL"]]
        receiver_port = split_host_port(config["receivers"]["otlp"]["protocols"][protocol]["endpoint"])[1]
        assert split_host_port(app["OTEL_EXPORTER_OTLP_ENDPOINT"]) == (
            collector_service_name(),
            receiver_port,
        )
        if protocol == "http":
            assert app["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://")

    def test_trace_exporter_reaches_tempos_otlp_grpc_receiver(self, config: dict[str, Any]) -> None:
        """The trace exporter names the tempo service and the port of Tempo's OTLP gRPC receiver."""
        tempo_endpoint = load_yaml("observability/tempo/tempo.yaml")["distributor"]["receivers"]["otlp"][
            "protocols"
        ]["grpc"]["endpoint"]
        host, port = split_host_port(tempo_endpoint)
        assert host == ALL_INTERFACES
        _, settings = exporter_of(config, "traces")
        assert split_host_port(settings["endpoint"]) == ("tempo", port)
        assert "tempo/tempo.yaml" in " ".join(service("tempo")["volumes"])

    def test_log_exporter_reaches_lokis_otlp_endpoint(self, config: dict[str, Any]) -> None:
        """The log exporter posts to the loki service on Loki's HTTP port, under /otlp."""
        loki_port = load_yaml("observability/loki/loki.yaml")["server"]["http_listen_port"]
        _, settings = exporter_of(config, "logs")
        assert settings["endpoint"] == f"http://loki:{loki_port}/otlp"
        assert "loki" in service("loki")["image"]

    def test_loki_accepts_otlp_attributes(self) -> None:
        """Loki keeps OTLP attributes (trace_id among them) as structured metadata: schema v13 on tsdb."""
        loki = load_yaml("observability/loki/loki.yaml")
        assert loki["limits_config"]["allow_structured_metadata"] is True
        assert loki["schema_config"]["configs"][-1]["schema"] == "v13"
        assert loki["schema_config"]["configs"][-1]["store"] == "tsdb"

    def test_prometheus_scrapes_the_collectors_own_metrics(self, config: dict[str, Any]) -> None:
        """The collector serves its own metrics on all interfaces, on the port Prometheus scrapes."""
        (reader,) = config["service"]["telemetry"]["metrics"]["readers"]
        exporter = reader["pull"]["exporter"]["prometheus"]
        assert exporter["host"] == ALL_INTERFACES
        prometheus = load_yaml("observability/prometheus/prometheus.yml")
        (job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "otel-collector"]
        assert job["static_configs"][0]["targets"] == [f"{collector_service_name()}:{exporter['port']}"]

    def test_health_check_listens_on_all_interfaces(self, config: dict[str, Any]) -> None:
        """The health_check extension is reachable from outside the container."""
        assert split_host_port(config["extensions"]["health_check"]["endpoint"])[0] == ALL_INTERFACES

    def test_memory_limit_fits_inside_the_containers(self, config: dict[str, Any]) -> None:
        """memory_limiter's limit is below the container's mem_limit, so it acts before the kernel does."""
        limit_mib = config["processors"]["memory_limiter"]["limit_mib"]
        mem_limit = service(collector_service_name())["mem_limit"]
        assert mem_limit.endswith("m")
        assert limit_mib < int(mem_limit[:-1])
