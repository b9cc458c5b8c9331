"""No literal password, token or key in any manifest, built or not.

Credentials reach containers through ``valueFrom.secretKeyRef`` (or files from Secret
volumes); Secrets themselves are created out of band. This module refuses:

- an env var, a runtime-env variable or a mapping key whose name says password/token/key
  with a literal value (``$(VAR)`` references and ``*_FILE``/``*_PATH`` names are fine);
- a URI with a password in it (``scheme://user:password@host``);
- strings that look like an AWS access key id or a PEM private key;
- a Secret object with data in a built overlay;
- in ``*.example.yaml`` files, a secret value that is not an ``<angle-bracket>`` placeholder;
- ``ENV``/``ARG`` lines of a Dockerfile that set a secret-named variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from k8scheck.findings import Finding, Obj, object_id

SECRET_NAME = re.compile(
    r"(password|passwd|(^|_)(token|secret|api_key|access_key(_id)?|secret_(access_)?key"
    r"|private_key|client_secret))$"
)
REFERENCE = re.compile(r"^(\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|<[^<>]+>)$")
URI_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]*)@", re.IGNORECASE)
KEY_SHAPES = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
DOCKER_ASSIGN = re.compile(r"^\s*(ENV|ARG)\s+(.*)$", re.IGNORECASE)


def secret_named(name: str) -> bool:
    """True for names like POSTGRES_PASSWORD, auth_token, secretAccessKey, access-key-id."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("-", "_").replace(".", "_")
    return bool(SECRET_NAME.search(snake))


def is_literal(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != "" and not REFERENCE.match(value.strip())


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, key, value) for every mapping entry and list item below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            yield sub, key, value
            yield from walk(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield f"{path}[{i}]", None, value
            yield from walk(value, f"{path}[{i}]")


def string_errors(path: str, text: str) -> list[str]:
    errors = []
    for match in URI_PASSWORD.finditer(text):
        if is_literal(match.group(1)):
            errors.append(f"{path}: URI with a literal password; pass it through env/secret")
    errors += [f"{path}: looks like a {what}" for what, rx in KEY_SHAPES.items() if rx.search(text)]
    return errors


def env_var_errors(path: str, node: Any) -> list[str]:
    """An env list entry ``{name: SECRET_NAME, value: literal}``."""
    if not (isinstance(node, dict) and isinstance(node.get("name"), str) and "value" in node):
        return []
    if secret_named(node["name"]) and is_literal(node["value"]):
        return [f"{path}: env {node['name']} has a literal value; use valueFrom.secretKeyRef"]
    return []


def object_errors(obj: Any) -> list[str]:
    errors = []
    for path, key, value in walk(obj):
        errors += env_var_errors(path, value)
        if isinstance(key, str) and secret_named(key) and is_literal(value):
            errors.append(f"{path}: {key} has a literal value")
        if isinstance(value, str):
            errors += string_errors(path, value)
            if key == "runtimeEnvYAML":
                errors += runtime_env_secret_errors(path, value)
    return errors


def runtime_env_secret_errors(path: str, text: str) -> list[str]:
    try:
        env = yaml.safe_load(text)
    except yaml.YAMLError:
        return []  # reported by the runtime-env check
    env_vars = env.get("env_vars") if isinstance(env, dict) else None
    if not isinstance(env_vars, dict):
        return []
    return [
        f"{path}: env_vars.{name} has a literal value; runtime envs are logged, use a Secret"
        for name, value in env_vars.items()
        if secret_named(str(name)) and is_literal(value)
    ]


def built_object_findings(obj: Obj, source: str) -> list[Finding]:
    msgs = object_errors(obj)
    if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
        msgs.append(
            "a Secret with data in the manifests: create it out of band (secrets.example.yaml)"
        )
    return [Finding(source, object_id(obj), "secret", m) for m in msgs]


def example_findings(obj: Obj, source: str) -> list[Finding]:
    """In an example file, every Secret value that could be secret must be a placeholder."""
    msgs = []
    for field in ("data", "stringData"):
        for key, value in (obj.get(field) or {}).items():
            if secret_named(str(key)) and not re.fullmatch(r"<[^<>]+>", str(value)):
                msgs.append(f"{field}.{key} must be a <placeholder> in an example file")
    rest = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
    msgs += object_errors(rest)
    return [Finding(source, object_id(obj), "secret", m) for m in msgs]


def dockerfile_findings(path: Path) -> list[Finding]:
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        match = DOCKER_ASSIGN.match(line)
        if not match:
            continue
        for item in match.group(2).replace("\\", " ").split():
            name, _, value = item.partition("=")
            if secret_named(name) and value.strip("\"'"):
                msg = f"line {lineno}: {match.group(1)} {name} bakes a secret into the image"
                out.append(Finding(str(path), "", "secret", msg))
    return out
