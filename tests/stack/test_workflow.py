"""The GitHub Actions workflow: valid, testing every change, publishing only main's image to ghcr.io."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PUSH_TO_MAIN = ("github.event_name == 'push'", "github.ref == 'refs/heads/main'")
# A major version (v4), a full version (v4.1.2) or a commit.
_PINNED = re.compile(r"[^@\s]+@(v[0-9]+(\.[0-9]+){0,2}|[0-9a-f]{40})")


def _mapping(value: object) -> dict[str, Any]:
    """Return ``value`` as a YAML mapping, failing the test if it is something else."""
    assert isinstance(value, dict), f"expected a mapping, got {value!r}"
    return value


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    """Return the parsed workflow."""
    with WORKFLOW.open(encoding="utf-8") as stream:
        return _mapping(yaml.safe_load(stream))


@pytest.fixture(scope="module")
def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the workflow's jobs by id."""
    return {name: _mapping(job) for name, job in workflow["jobs"].items()}


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a job's steps."""
    return [_mapping(step) for step in job["steps"]]


def _uses(step: dict[str, Any], action: str) -> bool:
    """Return whether ``step`` runs ``action`` (owner/name) at any version."""
    return str(step.get("uses", "")).split("@")[0] == action


def _step(job: dict[str, Any], action: str) -> dict[str, Any]:
    """Return the job's one step that runs ``action``."""
    [step] = [step for step in _steps(job) if _uses(step, action)]
    return step


def _pushing_jobs(jobs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return the jobs whose docker/build-push-action step may push."""
    return {
        name: job
        for name, job in jobs.items()
        for step in _steps(job)
        if _uses(step, "docker/build-push-action") and str(step.get("with", {}).get("push", False)) != "False"
    }


def _project_version() -> str:
    """Return the version in pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as stream:
        version = tomllib.load(stream)["project"]["version"]
    assert isinstance(version, str)
    return version


class TestSchema:
    @pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
    def test_workflow_passes_the_schema(self, schema: str) -> None:
        """The workflow is one GitHub accepts, and every job has a timeout."""
        result = subprocess.run(
            [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(WORKFLOW)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_every_action_is_pinned_to_at_least_a_major_version(
        self, jobs: dict[str, dict[str, Any]]
    ) -> None:
        """No step follows an action's default branch."""
        for job in jobs.values():
            for step in _steps(job):
                if "uses" in step:
                    assert _PINNED.fullmatch(step["uses"]), step["uses"]


class TestTesting:
    def test_workflow_runs_on_push_and_pull_request(self, workflow: dict[str, Any]) -> None:
        """Every push to main and every pull request is checked."""
        # YAML 1.1 reads the bare key `on` as the boolean true.
        triggers = _mapping(next(value for key, value in workflow.items() if key in ("on", True)))
        assert set(triggers) >= {"push", "pull_request"}
        assert "main" in triggers["push"]["branches"]

    def test_a_job_on_every_event_runs_the_ci_entry_point(self, jobs: dict[str, dict[str, Any]]) -> None:
        """An unconditional job runs .ci/run (ruff, mypy, the whole suite, from a fresh venv) with CI set."""
        runners = [
            (job, step)
            for job in jobs.values()
            if "if" not in job
            for step in _steps(job)
            if re.search(r"(^|\s)(bash )?\.ci/run(\s|$)|make test", str(step.get("run", "")))
        ]
        assert runners
        for job, step in runners:
            assert {**job.get("env", {}), **step.get("env", {})}.get("CI") == "true"

    def test_prometheus_is_installed_before_the_tests(self, jobs: dict[str, dict[str, Any]]) -> None:
        """The runner's user is not root, so Prometheus is installed with sudo before .ci/run needs it."""
        checked = 0
        for job in jobs.values():
            runs = [str(step.get("run", "")) for step in _steps(job)]
            for entry in (i for i, run in enumerate(runs) if ".ci/run" in run):
                assert any("sudo" in run and "install" in run and "prometheus" in run for run in runs[:entry])
                checked += 1
        assert checked

    def test_image_is_built_on_pull_requests_without_pushing(self, jobs: dict[str, dict[str, Any]]) -> None:
        """A pull request proves the Dockerfile builds, and publishes nothing."""
        builders = [job for job in jobs.values() if "pull_request" in str(job.get("if", "pull_request"))]
        steps = [step for job in builders for step in _steps(job) if _uses(step, "docker/build-push-action")]
        assert steps
        assert all(step["with"]["push"] is False for step in steps)


class TestPublishing:
    def test_only_pushes_to_main_push_the_image(self, jobs: dict[str, dict[str, Any]]) -> None:
        """Every job that can push runs only for a push to main, after the tests pass."""
        pushing = _pushing_jobs(jobs)
        assert pushing
        for job in pushing.values():
            assert all(condition in job["if"] for condition in PUSH_TO_MAIN)
            assert "test" in job["needs"]

    def test_only_the_publishing_job_may_write_packages(
        self, workflow: dict[str, Any], jobs: dict[str, dict[str, Any]]
    ) -> None:
        """The token is read-only everywhere but where the image is pushed."""
        assert workflow["permissions"] == {"contents": "read"}
        pushing = _pushing_jobs(jobs)
        for name, job in jobs.items():
            expected = {"contents": "read", "packages": "write"} if name in pushing else None
            assert job.get("permissions") == expected, name

    def test_publishing_logs_in_to_ghcr_with_the_job_token(self, jobs: dict[str, dict[str, Any]]) -> None:
        """The push goes to ghcr.io, authenticated by GITHUB_TOKEN rather than a stored secret."""
        for job in _pushing_jobs(jobs).values():
            login = _step(job, "docker/login-action")["with"]
            assert login["registry"] == "ghcr.io"
            assert login["password"] == "${{ secrets.GITHUB_TOKEN }}"  # noqa: S105 - names the job's token

    def test_image_is_tagged_with_the_version_and_the_commit(self, jobs: dict[str, dict[str, Any]]) -> None:
        """metadata-action makes a tag from the version step and one from the commit sha, used by the push."""
        for job in _pushing_jobs(jobs).values():
            meta = _step(job, "docker/metadata-action")
            tags = [line.strip() for line in meta["with"]["tags"].splitlines()]
            assert "type=raw,value=${{ steps.version.outputs.version }}" in tags
            assert any(tag.startswith("type=sha") for tag in tags)
            assert meta["with"]["images"] == "${{ steps.version.outputs.image }}"
            build = _step(job, "docker/build-push-action")["with"]
            assert build["tags"] == f"${{{{ steps.{meta['id']}.outputs.tags }}}}"

    def test_version_step_reads_pyproject_and_lowercases_the_image(
        self, jobs: dict[str, dict[str, Any]], tmp_path: Path
    ) -> None:
        """Run as on the runner, the version step outputs pyproject's version and a valid ghcr.io path."""
        bash = shutil.which("bash")
        assert bash is not None
        for job in _pushing_jobs(jobs).values():
            [step] = [step for step in _steps(job) if step.get("id") == "version"]
            output = tmp_path / "github_output"
            output.touch()
            environ = {
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "GITHUB_OUTPUT": str(output),
                "GITHUB_REPOSITORY": "Some-Owner/FibSvc",
            }
            # GitHub runs `run:` scripts with bash --noprofile --norc -eo pipefail.
            subprocess.run(
                [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=ROOT,
                env=environ,
                check=True,
                timeout=60,
            )
            outputs = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
            assert outputs == {"version": _project_version(), "image": "ghcr.io/some-owner/fibsvc"}
