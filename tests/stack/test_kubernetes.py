"""The Kubernetes manifests: valid for the API server, and consistent with the app they deploy."""

import ast
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest
import yaml

from fibsvc.app import create_app
from fibsvc.settings import ServerSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
# The oldest release with the native preStop sleep action, and the newest the package has schemas for.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
MIB = 1024 * 1024
# What a gunicorn process of this app holds at most: a worker's RSS with a full body cache.
PROCESS_RSS = 100 * MIB
# Time the gunicorn master needs after its graceful timeout to reap workers and flush telemetry.
SHUTDOWN_MARGIN_SECONDS = 10
_QUANTITY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
_NGINX_SIZE_SUFFIXES = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
_ENV_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _mapping(value: object) -> dict[str, Any]:
    """Return ``value`` as a YAML mapping, failing the test if it is something else."""
    assert isinstance(value, dict), f"expected a mapping, got {value!r}"
    return value


def _load(name: str) -> dict[str, Any]:
    """Return the single YAML document in ``deploy/kubernetes/<name>``."""
    with (MANIFESTS / name).open(encoding="utf-8") as stream:
        documents = list(yaml.safe_load_all(stream))
    assert len(documents) == 1, f"{name} must hold exactly one document"
    return _mapping(documents[0])


def _manifest_files() -> list[Path]:
    """Return every Kubernetes manifest in the folder: each YAML file but the kustomization."""
    return sorted(path for path in MANIFESTS.glob("*.yaml") if path != KUSTOMIZATION)


def _cpu(quantity: str) -> float:
    """Return a Kubernetes CPU quantity ("1", "500m", "1.5") in cores."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _bytes(quantity: str) -> int:
    """Return a Kubernetes memory quantity ("512Mi", "1G", "1048576") in bytes."""
    match = re.fullmatch(r"([0-9]+)([A-Za-z]*)", quantity)
    assert match is not None, f"unsupported quantity {quantity!r}"
    return int(match.group(1)) * (_QUANTITY_SUFFIXES[match.group(2)] if match.group(2) else 1)


def _nginx_size(size: str) -> int:
    """Return an nginx size ("16k", "8m") in bytes."""
    match = re.fullmatch(r"([0-9]+)([kKmMgG]?)", size)
    assert match is not None, f"unsupported nginx size {size!r}"
    return int(match.group(1)) * _NGINX_SIZE_SUFFIXES[match.group(2).lower()]


def _gunicorn_setting(name: str) -> int:
    """Return the integer that gunicorn.conf.py assigns to ``name``, read without running the file."""
    tree = ast.parse((ROOT / "gunicorn.conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == [name]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):
            return node.value.value
    raise AssertionError(f"gunicorn.conf.py assigns no integer to {name}")


def _project_version() -> str:
    """Return the version in pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as stream:
        version = tomllib.load(stream)["project"]["version"]
    assert isinstance(version, str)
    return version


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    """Return the Deployment."""
    return _load("deployment.yaml")


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    """Return the pod template of the Deployment."""
    return _mapping(deployment["spec"]["template"])


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    """Return the fibsvc container of the pod template."""
    containers = [_mapping(item) for item in pod["spec"]["containers"]]
    assert [item["name"] for item in containers] == ["fibsvc"]
    return containers[0]


@pytest.fixture(scope="module")
def env(container: dict[str, Any]) -> dict[str, str]:
    """Return the container's literal environment variables (those with a ``value``)."""
    return {item["name"]: str(item["value"]) for item in container["env"] if "value" in item}


@pytest.fixture(scope="module")
def container_port(container: dict[str, Any]) -> dict[str, Any]:
    """Return the container's one port."""
    ports = [_mapping(item) for item in container["ports"]]
    assert len(ports) == 1
    return ports[0]


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    """Return a client of the app the image runs, built by its factory."""
    return falcon.testing.TestClient(create_app(Settings(), tracing=False))


def _resolves_to_container_port(port: object, container_port: dict[str, Any]) -> bool:
    """Return whether a probe's or Service's ``port`` names or numbers the container's port."""
    return port in (container_port["name"], container_port["containerPort"])


class TestSchemas:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_every_manifest_passes_strict_validation_against_the_kubernetes_api(self, version: str) -> None:
        """Every manifest is a known kind that validates, unknown fields rejected, against that release."""
        files = _manifest_files()
        result = subprocess.run(
            [str(KUBERNETES_VALIDATE), "--strict", "--kubernetes-version", version, *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        # An unknown kind is only a warning with exit status 0: require a pass for each file.
        for path in files:
            assert f"{path} passed for resource" in output, output

    def test_kustomization_lists_exactly_the_manifests_present(self) -> None:
        """kustomization.yaml's resources are the folder's manifest files, each once."""
        resources = _load("kustomization.yaml")["resources"]
        assert sorted(resources) == [path.name for path in _manifest_files()]
        assert len(set(resources)) == len(resources)

    def test_kustomization_labels_never_touch_selectors(self) -> None:
        """The common labels reach every object and pod template but no immutable selector."""
        labels = [_mapping(item) for item in _load("kustomization.yaml")["labels"]]
        assert labels
        for entry in labels:
            assert entry["pairs"]
            assert entry["includeSelectors"] is False
            assert entry["includeTemplates"] is True

    def test_image_is_the_published_ghcr_image_at_the_project_version(
        self, container: dict[str, Any]
    ) -> None:
        """Kustomize swaps the container's image for ghcr.io's fibsvc at pyproject.toml's version."""
        images = [_mapping(item) for item in _load("kustomization.yaml")["images"]]
        assert [item["name"] for item in images] == [container["image"]]
        assert re.fullmatch(r"ghcr\.io/[^/]+/fibsvc", images[0]["newName"])
        assert images[0]["newTag"] == _project_version()


class TestProbes:
    def test_liveness_checks_healthz_and_readiness_checks_readyz(self, container: dict[str, Any]) -> None:
        """Liveness asks only whether the process answers; readiness whether to route traffic to it."""
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"

    @pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
    def test_probe_path_answers_200_from_the_app(
        self, container: dict[str, Any], client: falcon.testing.TestClient, probe: str
    ) -> None:
        """The probed path is a route of the started app and answers 200."""
        path = container[probe]["httpGet"]["path"]
        assert client.simulate_get(path).status_code == 200

    @pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
    def test_probe_port_is_the_port_the_app_binds(
        self, container: dict[str, Any], container_port: dict[str, Any], env: dict[str, str], probe: str
    ) -> None:
        """The probe targets the container port, which is the port in FIBSVC_BIND as the app parses it."""
        assert _resolves_to_container_port(container[probe]["httpGet"]["port"], container_port)
        bind = ServerSettings.from_env({"FIBSVC_BIND": env["FIBSVC_BIND"]}).bind
        assert bind.startswith("0.0.0.0:"), "a pod must listen on all interfaces"
        assert container_port["containerPort"] == int(bind.rsplit(":", 1)[1]) == 5000
        assert container_port["name"] == "http"

    def test_readiness_probe_notices_the_drain_before_it_ends(
        self, container: dict[str, Any], env: dict[str, str]
    ) -> None:
        """Readiness fails within FIBSVC_DRAIN_SECONDS of SIGTERM, while requests are still served."""
        probe = container["readinessProbe"]
        assert probe["periodSeconds"] * probe["failureThreshold"] <= int(env["FIBSVC_DRAIN_SECONDS"])


class TestSecurity:
    def test_pod_and_container_run_as_non_root_uid_10001(
        self, pod: dict[str, Any], container: dict[str, Any]
    ) -> None:
        """Both levels refuse root and name the image's numeric user."""
        for context in (pod["spec"]["securityContext"], container["securityContext"]):
            assert context["runAsNonRoot"] is True
            assert context["runAsUser"] == 10001
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    def test_container_cannot_write_its_image_or_gain_privileges(self, container: dict[str, Any]) -> None:
        """The root filesystem is read-only, escalation is off and every capability is dropped."""
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context.get("privileged", False) is False
        assert context["capabilities"] == {"drop": ["ALL"]}

    def test_writable_paths_are_empty_dirs(
        self, pod: dict[str, Any], container: dict[str, Any], env: dict[str, str]
    ) -> None:
        """The metrics directory and /tmp are emptyDir volumes; the metrics one lives in RAM."""
        volumes = {item["name"]: _mapping(item) for item in pod["spec"]["volumes"]}
        mounts = {item["mountPath"]: volumes[item["name"]] for item in container["volumeMounts"]}
        assert mounts[env["FIBSVC_METRICS_DIR"]]["emptyDir"]["medium"] == "Memory"
        assert "emptyDir" in mounts["/tmp"]  # noqa: S108 - the path being checked, not one used
        for volume in volumes.values():
            assert "sizeLimit" in volume["emptyDir"], f"{volume['name']} could grow without bound"

    def test_pod_gets_no_api_token_and_no_service_variables(self, pod: dict[str, Any]) -> None:
        """The app never calls the API, and service links would collide with its FIBSVC_* settings."""
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert pod["spec"]["enableServiceLinks"] is False


class TestEnvironment:
    def test_literal_values_pass_the_apps_own_validation(self, env: dict[str, str], tmp_path: Path) -> None:
        """Every FIBSVC_*, WEB_CONCURRENCY and OTEL_* value is one the app accepts at start."""
        # The metrics directory is the pod's emptyDir; here a writable stand-in takes its place.
        environ = {**env, "FIBSVC_METRICS_DIR": str(tmp_path)}
        Settings.from_env(environ)
        server = ServerSettings.from_env(environ)
        assert server.workers == int(env["WEB_CONCURRENCY"])
        assert server.log_format == "json"

    def test_otlp_export_is_configured_from_the_environment(self, env: dict[str, str]) -> None:
        """Traces and logs go over OTLP/HTTP to the collector, named by service."""
        assert re.fullmatch(r"http://[a-z0-9.-]+:4318", env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert env["OTEL_LOGS_EXPORTER"] == "otlp"
        assert env["OTEL_SERVICE_NAME"] == "fibsvc"

    def test_resource_attributes_name_the_pod_from_the_downward_api(self, container: dict[str, Any]) -> None:
        """OTEL_RESOURCE_ATTRIBUTES carries the pod's name and namespace from its own metadata."""
        field_refs = {
            item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"]
            for item in container["env"]
            if "fieldRef" in item.get("valueFrom", {})
        }
        attributes = dict(
            pair.split("=", 1)
            for item in container["env"]
            if item["name"] == "OTEL_RESOURCE_ATTRIBUTES"
            for pair in item["value"].split(",")
        )
        for attribute, field in (
            ("k8s.pod.name", "metadata.name"),
            ("k8s.namespace.name", "metadata.namespace"),
        ):
            reference = _ENV_REFERENCE.fullmatch(attributes[attribute])
            assert reference is not None, attributes
            assert field_refs[reference.group(1)] == field

    def test_variable_references_name_variables_defined_earlier(self, container: dict[str, Any]) -> None:
        """Kubernetes expands $(NAME) only for earlier variables; any other would be passed on literally."""
        defined: set[str] = set()
        for item in container["env"]:
            for name in _ENV_REFERENCE.findall(str(item.get("value", ""))):
                assert name in defined, f"{item['name']} refers to {name} before it is defined"
            defined.add(item["name"])


class TestResources:
    def test_cpu_and_memory_have_requests_and_limits(self, container: dict[str, Any]) -> None:
        """The scheduler and the autoscaler need requests; limits bound a runaway pod."""
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) >= {"cpu", "memory"}
        assert _cpu(resources["requests"]["cpu"]) <= _cpu(resources["limits"]["cpu"])
        assert _bytes(resources["requests"]["memory"]) == _bytes(resources["limits"]["memory"])

    def test_web_concurrency_follows_the_cpu_request(
        self, container: dict[str, Any], env: dict[str, str]
    ) -> None:
        """Workers are 2 x the requested cores + 1, not derived from the node's core count."""
        cores = math.ceil(_cpu(container["resources"]["requests"]["cpu"]))
        assert int(env["WEB_CONCURRENCY"]) == 2 * cores + 1

    def test_memory_limit_holds_every_process_and_the_in_memory_volumes(
        self, pod: dict[str, Any], container: dict[str, Any], env: dict[str, str]
    ) -> None:
        """The master and each worker at full RSS, plus RAM-backed volumes, fit under the limit."""
        in_memory = sum(
            _bytes(item["emptyDir"]["sizeLimit"])
            for item in pod["spec"]["volumes"]
            if item.get("emptyDir", {}).get("medium") == "Memory"
        )
        needed = (int(env["WEB_CONCURRENCY"]) + 1) * PROCESS_RSS + in_memory
        assert _bytes(container["resources"]["limits"]["memory"]) >= needed


class TestShutdown:
    def test_prestop_uses_the_native_sleep_action(self, container: dict[str, Any]) -> None:
        """The endpoints drain during a kubelet-side sleep that needs no binary in the image."""
        pre_stop = container["lifecycle"]["preStop"]
        assert set(pre_stop) == {"sleep"}
        assert pre_stop["sleep"]["seconds"] >= 1

    def test_grace_period_outlasts_prestop_drain_and_graceful_timeout(
        self, pod: dict[str, Any], container: dict[str, Any], env: dict[str, str]
    ) -> None:
        """SIGKILL comes only after preStop sleep, drain and gunicorn's graceful timeout, with margin."""
        shutdown = (
            container["lifecycle"]["preStop"]["sleep"]["seconds"]
            + int(env["FIBSVC_DRAIN_SECONDS"])
            + _gunicorn_setting("graceful_timeout")
        )
        assert pod["spec"]["terminationGracePeriodSeconds"] >= shutdown + SHUTDOWN_MARGIN_SECONDS

    def test_rollouts_never_drop_below_the_desired_count(self, deployment: dict[str, Any]) -> None:
        """A rollout adds a pod before it removes one."""
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


class TestWiring:
    def test_service_port_80_targets_the_container_port(self, container_port: dict[str, Any]) -> None:
        """The ClusterIP Service forwards port 80 to the port the app listens on."""
        spec = _load("service.yaml")["spec"]
        assert spec["type"] == "ClusterIP"
        [port] = spec["ports"]
        assert port["port"] == 80
        assert _resolves_to_container_port(port["targetPort"], container_port)

    def test_every_selector_matches_the_pod_labels(
        self, deployment: dict[str, Any], pod: dict[str, Any]
    ) -> None:
        """The Deployment, Service, PDB and spread constraints all select the pods the Deployment makes."""
        labels = pod["metadata"]["labels"].items()
        selectors = [
            deployment["spec"]["selector"]["matchLabels"],
            _load("service.yaml")["spec"]["selector"],
            _load("pdb.yaml")["spec"]["selector"]["matchLabels"],
            *(item["labelSelector"]["matchLabels"] for item in pod["spec"]["topologySpreadConstraints"]),
        ]
        for selector in selectors:
            assert selector
            assert selector.items() <= labels

    def test_hpa_and_ingress_point_at_the_deployment_and_service(self, deployment: dict[str, Any]) -> None:
        """The autoscaler scales this Deployment and the Ingress sends to this Service's port."""
        target = _load("hpa.yaml")["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
        service = _load("service.yaml")
        [rule] = _load("ingress.yaml")["spec"]["rules"]
        [path] = rule["http"]["paths"]
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] in [port["name"] for port in service["spec"]["ports"]]

    def test_scrape_annotations_point_at_the_metrics_route(
        self, pod: dict[str, Any], container_port: dict[str, Any], client: falcon.testing.TestClient
    ) -> None:
        """Prometheus is told to scrape the container port at a path that answers its text format."""
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == container_port["containerPort"]
        result = client.simulate_get(annotations["prometheus.io/path"])
        assert result.status_code == 200
        assert result.headers["Content-Type"].startswith("text/plain; version=")
        assert "# TYPE fibsvc_build_info gauge" in result.text


class TestScaling:
    def test_hpa_keeps_2_to_10_pods_at_80_percent_cpu(self) -> None:
        """The autoscaler's bounds and target are the service's agreed figures."""
        spec = _load("hpa.yaml")["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
        [metric] = spec["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}

    def test_hpa_scale_down_is_stabilized(self) -> None:
        """Pods are removed only after minutes of lower load, never all at once."""
        scale_down = _load("hpa.yaml")["spec"]["behavior"]["scaleDown"]
        assert scale_down["stabilizationWindowSeconds"] >= 120
        assert scale_down["policies"]

    def test_disruption_budget_keeps_a_pod_serving(self) -> None:
        """A voluntary disruption takes at most one pod, so one of the minimum two keeps serving."""
        spec = _load("pdb.yaml")["spec"]
        assert spec.get("maxUnavailable") == 1 or spec.get("minAvailable") == 1


class TestIngress:
    def test_ingress_nginx_buffers_requests_and_responses(self) -> None:
        """Slow clients meet nginx's buffers, never a gunicorn thread."""
        ingress = _load("ingress.yaml")
        assert ingress["spec"]["ingressClassName"] == "nginx"
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
        assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "on"

    def test_largest_response_fits_in_nginx_buffers_and_temp_file(self) -> None:
        """The largest sequence body the app allows is buffered whole, not streamed to a slow client."""
        annotations = _load("ingress.yaml")["metadata"]["annotations"]
        buffered = _nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-max-temp-file-size"]) + int(
            annotations["nginx.ingress.kubernetes.io/proxy-buffers-number"]
        ) * _nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-buffer-size"])
        assert buffered >= Settings().max_sequence_bytes

    def test_timeouts_are_explicit_and_within_gunicorns(self) -> None:
        """Connect, send and read timeouts are set; nginx gives up no later than gunicorn's worker timeout."""
        annotations = _load("ingress.yaml")["metadata"]["annotations"]
        timeouts = {
            kind: int(annotations[f"nginx.ingress.kubernetes.io/proxy-{kind}-timeout"])
            for kind in ("connect", "send", "read")
        }
        assert 0 < timeouts["connect"] <= timeouts["read"] <= _gunicorn_setting("timeout")
        assert timeouts["send"] > 0
