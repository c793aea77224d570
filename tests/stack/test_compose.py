"""docker-compose.yml and the configs it mounts: valid, consistent with each other and with the app."""

import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import falcon.testing
import pytest
import yaml

from bench.load import run as run_load
from fibsvc.app import create_app
from fibsvc.settings import Settings
from tests.stack.stack_files import (
    ALL_INTERFACES,
    COMPOSE,
    REPO,
    compose,
    duration_seconds,
    environment,
    gunicorn_setting,
    load_yaml,
    nginx_directives,
    nginx_values,
    service,
    split_host_port,
)

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
# Images with no shell and no HTTP client, whose containers cannot run a healthcheck.
NO_HEALTHCHECK_TOOL = {"otel-collector", "tempo"}
PUBLISHED = {"proxy": 5000, "grafana": 3000, "prometheus": 9090}


def services() -> dict[str, dict[str, Any]]:
    """Return every compose service by name."""
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def bind_mounts(name: str) -> dict[str, str]:
    """Return a service's bind mounts (short syntax) as {source relative to the repo: target}."""
    mounts = {}
    for volume in service(name).get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[source[2:]] = target
    return mounts


def app_client() -> falcon.testing.TestClient:
    """Return a client of the real app, untraced."""
    return falcon.testing.TestClient(create_app(Settings(), tracing=False))


def healthcheck_url(name: str) -> str:
    """Return the URL a service's healthcheck requests."""
    command = " ".join(service(name)["healthcheck"]["test"])
    match = re.search(r"http://[^\s']+", command)
    assert match is not None, command
    return match.group(0)


def bind_port() -> int:
    """Return the port fibsvc listens on in the stack, from FIBSVC_BIND."""
    return split_host_port(environment("fibsvc")["FIBSVC_BIND"])[1]


class TestSchemaAndFiles:
    def test_compose_file_matches_the_compose_specification(self) -> None:
        """check-jsonschema validates docker-compose.yml against the Compose Specification schema."""
        result = subprocess.run(
            [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_every_mounted_file_exists_in_the_repo(self) -> None:
        """Every bind-mounted path and every config file the compose file names is in the repository."""
        sources = [source for name in services() for source in bind_mounts(name)]
        sources += [config["file"].removeprefix("./") for config in compose().get("configs", {}).values()]
        assert sources
        for source in sources:
            assert (REPO / source).exists(), source

    def test_every_named_volume_is_declared(self) -> None:
        """A volume used by name is declared at the top level, and the data stores each keep one."""
        declared = set(compose().get("volumes", {}))
        for name, definition in services().items():
            for volume in definition.get("volumes", []):
                source = volume.split(":")[0]
                if not source.startswith((".", "/")):
                    assert source in declared, f"{name}: {source}"
        for name, data_dir in {
            "prometheus": "/prometheus",
            "tempo": "/var/tempo",
            "loki": "/loki",
            "grafana": "/var/lib/grafana",
        }.items():
            named = [v for v in service(name)["volumes"] if v.split(":")[1] == data_dir]
            assert named, name
            assert named[0].split(":")[0] in declared, name

    def test_every_image_is_pinned(self) -> None:
        """Each image has an explicit version tag, never latest; fibsvc's is built here."""
        for name, definition in services().items():
            if "build" in definition:
                continue
            image = definition["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


class TestPorts:
    def test_only_the_human_facing_ports_are_published_on_loopback(self) -> None:
        """The proxy (5000), Grafana (3000) and Prometheus (9090) alone are published, on 127.0.0.1."""
        published = {}
        for name, definition in services().items():
            for port in definition.get("ports", []):
                host_ip, host_port, _ = str(port).split(":")
                assert host_ip == "127.0.0.1", f"{name}: {port}"
                published[name] = int(host_port)
        assert published == PUBLISHED

    def test_proxy_publishes_the_port_nginx_listens_on(self) -> None:
        """The proxy's published container port is nginx's `listen` port."""
        (port,) = service("proxy")["ports"]
        assert [[port.split(":")[2]]] == nginx_values("listen", "server")

    def test_proxy_upstream_is_fibsvcs_bind(self) -> None:
        """nginx forwards to the fibsvc service on the port FIBSVC_BIND opens."""
        (server,) = nginx_values("server", "upstream")
        assert split_host_port(server[0]) == ("fibsvc", bind_port())
        upstreams = {
            block.split()[1]
            for blocks, _, _ in nginx_directives()
            for block in blocks
            if block.startswith("upstream ")
        }
        assert nginx_values("proxy_pass") == [[f"http://{name}" for name in upstreams]]

    def test_healthchecks_that_reach_fibsvc_request_real_routes(self) -> None:
        """fibsvc's and the proxy's healthchecks request /healthz, which the app answers with 200."""
        for name, port in (("fibsvc", bind_port()), ("proxy", int(nginx_values("listen")[0][0]))):
            url = healthcheck_url(name)
            host, checked_port = split_host_port(url)
            assert (host, checked_port) == ("127.0.0.1", port)
            path = url.split(str(port), 1)[1]
            assert path == "/healthz"
            assert app_client().simulate_get(path).status_code == 200


class TestProxy:
    def test_slow_clients_are_cut_off(self) -> None:
        """Client header and body timeouts are set, and short, so a byte-a-second client cannot linger."""
        for directive in ("client_header_timeout", "client_body_timeout", "send_timeout"):
            ((value,),) = nginx_values(directive)
            assert duration_seconds(value) <= 30, directive

    def test_requests_and_responses_are_buffered(self) -> None:
        """nginx buffers both directions, so gunicorn's threads only ever talk to nginx."""
        assert nginx_values("proxy_buffering") == [["on"]]
        assert nginx_values("proxy_request_buffering") == [["on"]]

    def test_upstream_connections_are_kept_alive_but_closed_before_gunicorn_does(self) -> None:
        """HTTP/1.1 keep-alive to the upstream, idle for less than gunicorn's keepalive."""
        assert nginx_values("keepalive", "upstream")
        ((idle,),) = nginx_values("keepalive_timeout", "upstream")
        assert duration_seconds(idle) < gunicorn_setting("keepalive")
        assert nginx_values("proxy_http_version") == [["1.1"]]
        assert ["Connection", ""] in nginx_values("proxy_set_header")

    def test_nginx_waits_longer_than_gunicorns_worker_timeout(self) -> None:
        """proxy_read_timeout exceeds gunicorn's timeout: gunicorn, not nginx, gives up on a request."""
        ((value,),) = nginx_values("proxy_read_timeout")
        assert duration_seconds(value) > gunicorn_setting("timeout")

    def test_every_answer_says_nosniff_once(self) -> None:
        """nginx adds nosniff to every answer, errors included, replacing the app's copy."""
        assert ["X-Content-Type-Options", "nosniff", "always"] in nginx_values("add_header")
        assert ["X-Content-Type-Options"] in nginx_values("proxy_hide_header")

    def test_metrics_are_not_public(self) -> None:
        """/metrics is refused at the proxy; Prometheus scrapes fibsvc on the internal network."""
        assert nginx_values("return", "location = /metrics") == [["404"]]


class TestAppService:
    def test_is_hardened(self) -> None:
        """fibsvc runs read-only, with every capability dropped and no privilege escalation."""
        app = service("fibsvc")
        assert app["read_only"] is True
        assert app["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in app["security_opt"]

    def test_metrics_directory_is_a_tmpfs(self) -> None:
        """FIBSVC_METRICS_DIR is a tmpfs mount, the one writable place of the read-only container."""
        targets = [entry.split(":")[0] for entry in service("fibsvc")["tmpfs"]]
        assert environment("fibsvc")["FIBSVC_METRICS_DIR"] in targets

    def test_stop_grace_period_covers_the_drain_and_the_graceful_stop(self) -> None:
        """Docker waits longer than FIBSVC_DRAIN_SECONDS plus gunicorn's graceful_timeout before SIGKILL."""
        drain = int(environment("fibsvc")["FIBSVC_DRAIN_SECONDS"])
        grace = duration_seconds(service("fibsvc")["stop_grace_period"])
        assert grace > drain + gunicorn_setting("graceful_timeout")

    def test_binds_all_interfaces(self) -> None:
        """FIBSVC_BIND makes gunicorn reachable from the other containers."""
        assert split_host_port(environment("fibsvc")["FIBSVC_BIND"])[0] == ALL_INTERFACES

    def test_ships_its_logs_over_otlp(self) -> None:
        """OTEL_LOGS_EXPORTER=otlp, so log records reach Loki through the collector."""
        assert environment("fibsvc")["OTEL_LOGS_EXPORTER"] == "otlp"


class TestStartOrder:
    def test_every_service_whose_image_can_has_a_healthcheck(self) -> None:
        """Each long-running service has a healthcheck, except those whose images have no tool to run one."""
        for name, definition in services().items():
            if name in NO_HEALTHCHECK_TOOL or "profiles" in definition:
                continue
            healthcheck = definition.get("healthcheck", {})
            assert healthcheck.get("test"), name
            assert not healthcheck.get("disable"), name

    def test_dependencies_exist_and_healthy_gates_have_healthchecks(self) -> None:
        """depends_on names real services; `service_healthy` only where the target has a healthcheck."""
        for name, definition in services().items():
            for target, condition in definition.get("depends_on", {}).items():
                assert target in services(), f"{name} -> {target}"
                assert condition["condition"] in {"service_started", "service_healthy"}
                if condition["condition"] == "service_healthy":
                    assert "test" in service(target).get("healthcheck", {}), f"{name} -> {target}"

    def test_the_proxy_waits_for_a_healthy_app(self) -> None:
        """Traffic is let in only once fibsvc answers its healthcheck."""
        assert service("proxy")["depends_on"]["fibsvc"] == {"condition": "service_healthy"}


class TestPrometheus:
    def scrape_targets(self) -> dict[str, list[str]]:
        """Return each scrape job's static targets."""
        config = load_yaml("observability/prometheus/prometheus.yml")
        return {
            job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
            for job in config["scrape_configs"]
        }

    def test_scrapes_fibsvc_on_its_bind_port(self) -> None:
        """Job fibsvc (the job the alerts select) scrapes the fibsvc service on the FIBSVC_BIND port."""
        assert self.scrape_targets()["fibsvc"] == [f"fibsvc:{bind_port()}"]
        assert 'job="fibsvc"' in (REPO / "observability/prometheus/alerts.yml").read_text()

    def test_rule_file_is_the_mounted_alerts_file(self) -> None:
        """rule_files names the path where compose mounts observability/prometheus/alerts.yml."""
        config = load_yaml("observability/prometheus/prometheus.yml")
        assert config["rule_files"] == [bind_mounts("prometheus")["observability/prometheus/alerts.yml"]]
        assert bind_mounts("prometheus")["observability/prometheus/prometheus.yml"] in " ".join(
            service("prometheus")["command"]
        )

    def test_promtool_accepts_the_config_and_its_rules(self, tmp_path: Path) -> None:
        """promtool check config passes, with the rule file path pointed at the repo's alerts.yml."""
        config = load_yaml("observability/prometheus/prometheus.yml")
        config["rule_files"] = [str(REPO / "observability/prometheus/alerts.yml")]
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run(
            [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout + result.stderr


class TestGrafana:
    def datasources(self) -> dict[str, dict[str, Any]]:
        """Return the provisioned datasources by uid."""
        document = load_yaml("observability/grafana/provisioning/datasources/datasources.yaml")
        return {source["uid"]: source for source in document["datasources"]}

    def test_datasources_have_fixed_uids(self) -> None:
        """Prometheus, Tempo and Loki are provisioned with the uids prometheus, tempo and loki."""
        assert {uid: source["type"] for uid, source in self.datasources().items()} == {
            "prometheus": "prometheus",
            "tempo": "tempo",
            "loki": "loki",
        }

    def test_datasource_urls_reach_the_services_on_their_ports(self) -> None:
        """Each URL names the compose service and the port its config listens on."""
        tempo_port = load_yaml("observability/tempo/tempo.yaml")["server"]["http_listen_port"]
        loki_port = load_yaml("observability/loki/loki.yaml")["server"]["http_listen_port"]
        prometheus_port = split_host_port(healthcheck_url("prometheus"))[1]
        expected = {
            "prometheus": ("prometheus", prometheus_port),
            "tempo": ("tempo", tempo_port),
            "loki": ("loki", loki_port),
        }
        for uid, source in self.datasources().items():
            assert split_host_port(source["url"]) == expected[uid]
            assert expected[uid][0] in services()

    def test_signals_link_to_each_other(self) -> None:
        """Exemplars and log lines open traces in Tempo; spans open their logs in Loki."""
        sources = self.datasources()
        (exemplar,) = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
        assert exemplar == {"name": "trace_id", "datasourceUid": "tempo"}
        traces_to_logs = sources["tempo"]["jsonData"]["tracesToLogsV2"]
        assert traces_to_logs["datasourceUid"] == "loki"
        assert "trace_id=" in traces_to_logs["query"]
        (derived,) = sources["loki"]["jsonData"]["derivedFields"]
        assert derived["datasourceUid"] == "tempo"
        assert derived["matcherRegex"] == "trace_id"

    def test_admin_password_comes_from_the_environment(self) -> None:
        """The admin password is required from GRAFANA_ADMIN_PASSWORD, never the image's default."""
        password = environment("grafana")["GF_SECURITY_ADMIN_PASSWORD"]
        assert password.startswith("${GRAFANA_ADMIN_PASSWORD:?")

    def test_dashboards_are_provisioned_from_the_repo(self) -> None:
        """The provider reads the directory where compose mounts observability/grafana/dashboards."""
        document = load_yaml("observability/grafana/provisioning/dashboards/dashboards.yaml")
        (provider,) = document["providers"]
        mounts = bind_mounts("grafana")
        assert provider["options"]["path"] == mounts["observability/grafana/dashboards"]
        assert (REPO / "observability/grafana/dashboards/fibsvc.json").is_file()
        for kind in ("datasources", "dashboards"):
            assert mounts[f"observability/grafana/provisioning/{kind}"] == f"/etc/grafana/provisioning/{kind}"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: the test reads the load generator's counts, not an access log."""


@pytest.fixture
def app_url() -> Iterator[str]:
    """Serve the real app on a free loopback port for the duration of a test."""
    server = make_server("127.0.0.1", 0, create_app(Settings(), tracing=False), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class TestLoadProfile:
    def test_load_generator_runs_only_in_its_profile_against_the_proxy(self) -> None:
        """The load service is opt-in (profile load) and targets the proxy's listen port."""
        load = service("load")
        assert load["profiles"] == ["load"]
        command = load["command"]
        url = command[command.index("--url") + 1]
        assert split_host_port(url) == ("proxy", int(nginx_values("listen")[0][0]))
        assert "--rate" in command
        assert "--duration" in command

    def test_load_generator_requests_real_routes_and_stops_by_itself(self, app_url: str) -> None:
        """Against the real app it sends exactly the bounded count, answered 200 or a deliberate 4xx."""
        outcomes = run_load(app_url, rate=1000.0, duration=30.0, requests=60, seed=7)
        assert sum(outcomes.values()) == 60
        assert set(outcomes) <= {"200", "400", "422"}
        assert outcomes["200"] >= 40
