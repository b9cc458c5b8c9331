"""All checks on the objects of one build (an overlay or a pre-built file), in process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from k8scheck import schemas
from k8scheck.findings import Finding, Obj, object_id
from k8scheck.objects import namespace_findings, network_policy_findings, probe_findings
from k8scheck.policy import pod_findings
from k8scheck.ray import ray_findings
from k8scheck.secrets import built_object_findings

SetRule = Callable[[list[Obj], str], list[Finding]]
SET_RULES: list[SetRule] = [
    namespace_findings,
    probe_findings,
    network_policy_findings,
    ray_findings,
]


@dataclass
class BuildResult:
    """Findings of one build and, per object, what validated it."""

    source: str
    objects: list[Obj]
    findings: list[Finding] = field(default_factory=list)
    validated_by: dict[str, str] = field(default_factory=dict)


def _guarded(source: str, oid: str, name: str, fn: Callable[[], list[Finding]]) -> list[Finding]:
    """Run a rule; a malformed object must produce a finding, not a traceback."""
    try:
        return fn()
    except (AttributeError, KeyError, TypeError, IndexError) as err:
        msg = f"{name} could not read this object ({type(err).__name__}: {err}); fix schema first"
        return [Finding(source, oid, "malformed", msg)]


def schema_findings(
    obj: Obj, source: str, validators: dict[tuple[str, str], Any], version: str
) -> tuple[list[Finding], str]:
    oid = object_id(obj)
    if schemas.is_custom(obj):
        msgs = schemas.validate_custom(obj, validators)
        found = [Finding(source, oid, "crd-schema", m) for m in msgs]
        if obj.get("kind") == "RayJob":
            found += [
                Finding(source, oid, "runtime-env", m) for m in schemas.runtime_env_errors(obj)
            ]
        return found, "KubeRay v1 CRD schema, strict"
    msgs = schemas.validate_builtin(obj, version)
    return [Finding(source, oid, "schema", m) for m in msgs], f"Kubernetes {version} schema, strict"


def check_objects(
    objs: list[Obj],
    source: str,
    validators: dict[tuple[str, str], Any],
    version: str = schemas.KUBERNETES_VERSION,
) -> BuildResult:
    """Schema, secret, pod-security and rdlab invariant checks over one build's objects."""
    result = BuildResult(source, objs)
    for obj in objs:
        oid = object_id(obj)
        found, result.validated_by[oid] = schema_findings(obj, source, validators, version)
        found += _guarded(source, oid, "secret scan", partial(built_object_findings, obj, source))
        found += _guarded(source, oid, "pod rules", partial(pod_findings, obj, source))
        result.findings += found
    for rule in SET_RULES:
        result.findings += _guarded(source, "", rule.__name__, partial(rule, objs, source))
    return result
