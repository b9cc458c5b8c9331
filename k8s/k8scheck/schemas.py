"""Schema validation: built-in kinds, KubeRay custom resources, and the RayJob runtime env.

Built-in kinds go through kubernetes-validate's bundled OpenAPI schemas in strict mode (an
unknown field is an error). kubernetes-validate only warns on custom resources, so RayCluster
and RayJob are validated with jsonschema against the KubeRay v1 CRD schemas, made strict the
same way: ``additionalProperties: false`` wherever a schema lists ``properties`` and does not
set ``x-kubernetes-preserve-unknown-fields``. CEL rules (x-kubernetes-validations) are not
evaluated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from k8scheck.findings import Obj, json_path

# The Kubernetes minor version whose schemas the built-in kinds are checked against.
KUBERNETES_VERSION = "1.33.0"
CRD_FILES = {
    ("ray.io/v1", "RayCluster"): "raycluster_v1.json",
    ("ray.io/v1", "RayJob"): "rayjob_v1.json",
}
MAX_ERRORS = 20

# Fields of Ray 2.60's RuntimeEnv (ray.runtime_env.RuntimeEnv.known_fields), without the
# private ones. Ray's own validator cannot be used: it resolves working_dir on this machine.
RUNTIME_ENV_FIELDS = frozenset(
    [
        "conda",
        "config",
        "container",
        "env_vars",
        "excludes",
        "image_uri",
        "java_jars",
        "pip",
        "py_executable",
        "py_modules",
        "uv",
        "worker_process_setup_hook",
        "working_dir",
    ]
)


def strict_schema(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema that rejects fields it does not list."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in {"items", "additionalProperties", "not", "anyOf", "allOf", "oneOf"}:
            out[key] = strict_schema(value)
        else:
            out[key] = value
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in schema and not preserve and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


def load_crd_validators(crd_dir: Path) -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """Strict Draft-7 validators keyed by (apiVersion, kind)."""
    validators = {}
    for key, filename in CRD_FILES.items():
        path = crd_dir / filename
        if not path.is_file():
            raise FileNotFoundError(
                f"KubeRay CRD schema {path} not found: the schemas live in ../shared/kuberay-crds "
                "beside the repository (or set RDLAB_KUBERAY_CRDS to their folder)"
            )
        schema = json.loads(path.read_text())["openAPIV3Schema"]
        validators[key] = jsonschema.Draft7Validator(strict_schema(schema))
    return validators


def format_error(err: jsonschema.ValidationError) -> str:
    return f"{json_path(err.absolute_path)}: {err.message}"


def validate_builtin(obj: Obj, version: str = KUBERNETES_VERSION) -> list[str]:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [format_error(err)]
    except kubernetes_validate.SchemaNotFoundError as err:
        return [f"unknown kind: {err.message} (a typo in kind or apiVersion?)"]
    return []


def validate_custom(obj: Obj, validators: dict[tuple[str, str], Any]) -> list[str]:
    validator = validators.get((obj["apiVersion"], obj["kind"]))
    if validator is None:
        known = ", ".join(f"{a} {k}" for a, k in sorted(validators))
        return [f"no CRD schema for {obj['apiVersion']} {obj['kind']}; known: {known}"]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    messages = [format_error(e) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        messages.append(f"... and {len(errors) - MAX_ERRORS} more schema errors")
    return messages


def is_custom(obj: Obj) -> bool:
    return str(obj.get("apiVersion", "")).split("/")[0] == "ray.io"


def runtime_env_errors(obj: Obj) -> list[str]:
    """A RayJob's runtimeEnvYAML must parse to a runtime env Ray knows."""
    text = (obj.get("spec") or {}).get("runtimeEnvYAML")
    if text is None:
        return []
    try:
        env = yaml.safe_load(text)
    except yaml.YAMLError as err:
        return [f"spec.runtimeEnvYAML does not parse as YAML: {err}"]
    if not isinstance(env, dict):
        return [f"spec.runtimeEnvYAML must be a mapping, got {type(env).__name__}"]
    errors = [
        f"spec.runtimeEnvYAML: unknown runtime_env field {key!r}; known: "
        + ", ".join(sorted(RUNTIME_ENV_FIELDS))
        for key in env
        if key not in RUNTIME_ENV_FIELDS
    ]
    env_vars = env.get("env_vars", {})
    if not isinstance(env_vars, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()
    ):
        errors.append("spec.runtimeEnvYAML: env_vars must map strings to strings (quote numbers)")
    for key in ("working_dir", "py_executable", "image_uri"):
        if key in env and not isinstance(env[key], str):
            errors.append(f"spec.runtimeEnvYAML: {key} must be a string")
    for key in ("excludes", "py_modules"):
        if key in env and not (
            isinstance(env[key], list) and all(isinstance(x, str) for x in env[key])
        ):
            errors.append(f"spec.runtimeEnvYAML: {key} must be a list of strings")
    return errors
