"""Read the stack's files for the tests in tests/stack: YAML documents, the Dockerfile, nginx.conf."""

import ast
import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
COLLECTOR_CONFIG = REPO / "observability" / "otel-collector" / "config.yaml"
NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"
# What a server inside a container binds to be reachable from the other containers.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the value the configs must contain, not a bind

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NGINX_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+')


def load_yaml(relative: str) -> Any:
    """Return the parsed YAML document at ``relative`` to the repository root."""
    return yaml.safe_load((REPO / relative).read_text())


@functools.cache
def compose() -> dict[str, Any]:
    """Return docker-compose.yml, parsed."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def service(name: str) -> dict[str, Any]:
    """Return the compose service called ``name``."""
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services[name]


def environment(name: str) -> dict[str, str]:
    """Return a compose service's environment as a mapping, whichever form the file uses."""
    raw = service(name).get("environment", {})
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def split_host_port(endpoint: str) -> tuple[str, int]:
    """Return the host and port of ``host:port`` or of a URL, which must name its port."""
    parts = urlsplit(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    assert parts.hostname is not None, f"no host in {endpoint!r}"
    assert parts.port is not None, f"no explicit port in {endpoint!r}"
    return parts.hostname, parts.port


def duration_seconds(text: str) -> float:
    """Return a compose or Go duration (``35s``, ``1m30s``) in seconds."""
    parts = _DURATION_PART.findall(text)
    assert parts, f"not a duration: {text!r}"
    assert "".join(number + unit for number, unit in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Return the Dockerfile's instructions, (KEYWORD, arguments), grouped by build stage.

    Instructions before the first FROM (global ARGs) form stage 0; each FROM starts a stage.
    """
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            logical.append(pending)
            pending = ""
    stages: list[list[tuple[str, str]]] = [[]]
    for instruction in logical:
        keyword, _, arguments = instruction.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def nginx_directives() -> list[tuple[tuple[str, ...], str, list[str]]]:
    """Return every simple directive of nginx.conf as (enclosing blocks, name, arguments)."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())
    blocks: list[str] = []
    words: list[str] = []
    directives: list[tuple[tuple[str, ...], str, list[str]]] = []
    for piece in _NGINX_TOKEN.findall(text):
        if piece == "{":
            blocks.append(" ".join(words))
            words = []
        elif piece == "}":
            assert not words, f"unterminated directive {words} in nginx.conf"
            blocks.pop()
        elif piece == ";":
            directives.append((tuple(blocks), words[0], words[1:]))
            words = []
        else:
            words.append(piece.strip("\"'"))
    assert not blocks, "unbalanced braces in nginx.conf"
    return directives


def nginx_values(name: str, block: str | None = None) -> list[list[str]]:
    """Return the arguments of every ``name`` directive, inside a block starting with ``block`` if given."""
    return [
        arguments
        for blocks, directive, arguments in nginx_directives()
        if directive == name and (block is None or any(b.startswith(block) for b in blocks))
    ]


def gunicorn_setting(name: str) -> Any:
    """Return a literal module-level setting of gunicorn.conf.py, read without importing it."""
    tree = ast.parse((REPO / "gunicorn.conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"gunicorn.conf.py sets no literal {name}")


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Translate one .dockerignore pattern (Go filepath.Match plus ``**``) to a regex."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignore_excludes(path: str) -> bool:
    """Return whether .dockerignore keeps ``path`` (relative, with ``/``) out of the build context.

    As Docker does: the last pattern that matches the path or one of its parent directories wins,
    and a pattern starting with ``!`` re-includes.
    """
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    segments = path.strip("/").split("/")
    prefixes = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _dockerignore_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded
