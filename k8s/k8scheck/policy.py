"""Pod-security rules, applied to every pod template (checkov does not look inside CRDs).

Each rule is registered under an id and returns messages; the ids are what
k8s/security-accepted.yaml names when a finding is accepted on purpose. They cover the
high-severity checks of the Kubernetes "restricted" pod security standard plus resource
limits, pinned images, probes, namespaces and NetworkPolicy coverage.
"""

from __future__ import annotations

from collections.abc import Callable

from k8scheck.findings import Finding, Obj, as_dict, object_id
from k8scheck.pods import autoscaler_container, containers, pod_specs

ContainerRule = Callable[[Obj, Obj], list[str]]  # (container, pod spec) -> messages
PodRule = Callable[[Obj], list[str]]  # pod spec -> messages

CONTAINER_RULES: dict[str, ContainerRule] = {}
POD_RULES: dict[str, PodRule] = {}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "CustomResourceDefinition",
    "PriorityClass",
}


def container_rule(rule_id: str) -> Callable[[ContainerRule], ContainerRule]:
    def register(fn: ContainerRule) -> ContainerRule:
        CONTAINER_RULES[rule_id] = fn
        return fn

    return register


def pod_rule(rule_id: str) -> Callable[[PodRule], PodRule]:
    def register(fn: PodRule) -> PodRule:
        POD_RULES[rule_id] = fn
        return fn

    return register


def _security(container: Obj) -> Obj:
    return as_dict(container.get("securityContext"))


@container_rule("RDLAB_PRIVILEGED")
def privileged(container: Obj, pod: Obj) -> list[str]:
    return ["runs privileged"] if _security(container).get("privileged") is True else []


@container_rule("RDLAB_PRIVILEGE_ESCALATION")
def escalation(container: Obj, pod: Obj) -> list[str]:
    if _security(container).get("allowPrivilegeEscalation") is False:
        return []
    return ["securityContext.allowPrivilegeEscalation must be false"]


@container_rule("RDLAB_RUN_AS_ROOT")
def run_as_root(container: Obj, pod: Obj) -> list[str]:
    pod_sc = as_dict(pod.get("securityContext"))
    merged = {**pod_sc, **_security(container)}
    if merged.get("runAsUser") == 0:
        return ["runs as uid 0"]
    if merged.get("runAsNonRoot") is not True:
        return ["runAsNonRoot must be true (pod or container securityContext)"]
    return []


@container_rule("RDLAB_CAPABILITIES")
def capabilities(container: Obj, pod: Obj) -> list[str]:
    caps = _security(container).get("capabilities") or {}
    messages = []
    if "ALL" not in (caps.get("drop") or []):
        messages.append("securityContext.capabilities.drop must include ALL")
    if caps.get("add"):
        messages.append(f"adds capabilities {caps['add']}")
    return messages


@container_rule("RDLAB_RESOURCES")
def resources(container: Obj, pod: Obj) -> list[str]:
    res = as_dict(container.get("resources"))
    missing = [
        f"{kind}.{name}"
        for kind in ("requests", "limits")
        for name in ("cpu", "memory")
        if name not in (res.get(kind) or {})
    ]
    return [f"no resources {', '.join(missing)}"] if missing else []


@container_rule("RDLAB_IMAGE_TAG")
def image_tag(container: Obj, pod: Obj) -> list[str]:
    image = container.get("image")
    if not isinstance(image, str) or not image:
        return ["no image"]
    if "@sha256:" in image:
        return []
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or tag == "latest":
        return [f"image {image!r} must name a fixed tag (not latest, not missing)"]
    return []


@pod_rule("RDLAB_HOST_NAMESPACES")
def host_namespaces(pod: Obj) -> list[str]:
    return [f"{field} is true" for field in ("hostNetwork", "hostPID", "hostIPC") if pod.get(field)]


@pod_rule("RDLAB_HOSTPATH")
def host_path(pod: Obj) -> list[str]:
    volumes = pod.get("volumes") or []
    return [f"volume {v.get('name')!r} is a hostPath" for v in volumes if "hostPath" in v]


@pod_rule("RDLAB_SECCOMP")
def seccomp(pod: Obj) -> list[str]:
    profile = as_dict(as_dict(pod.get("securityContext")).get("seccompProfile")).get("type")
    ok = profile in {"RuntimeDefault", "Localhost"}
    return [] if ok else ["securityContext.seccompProfile.type must be RuntimeDefault"]


def pod_findings(obj: Obj, source: str) -> list[Finding]:
    out = []
    oid = object_id(obj)
    pods = pod_specs(obj)
    for path, pod in pods:
        for rule_id, pod_fn in POD_RULES.items():
            out += [Finding(source, oid, rule_id, f"{path}: {m}", True) for m in pod_fn(pod)]
        listed = containers(pod)
        if obj.get("kind") == "RayCluster" and path == "spec.headGroupSpec":
            sidecar = autoscaler_container(obj.get("spec") or {})
            listed += [("autoscalerOptions", sidecar)] if sidecar else []
        for cpath, container in listed:
            name = container.get("name", "?")
            for rule_id, fn in CONTAINER_RULES.items():
                msgs = fn(container, pod)
                out += [
                    Finding(source, oid, rule_id, f"{path}.{cpath} ({name}): {m}", True)
                    for m in msgs
                ]
    return out
