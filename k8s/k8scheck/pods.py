"""Where the pod templates are: built-in workloads and KubeRay's RayCluster and RayJob."""

from __future__ import annotations

from typing import Any

from k8scheck.findings import Obj

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def ray_cluster_pods(spec: Obj, prefix: str) -> list[tuple[str, Obj]]:
    """(path, pod spec) of a RayCluster spec's head and worker groups."""
    pods = [(f"{prefix}.headGroupSpec", _dict(_dict(spec.get("headGroupSpec")).get("template")))]
    for i, group in enumerate(_list(spec.get("workerGroupSpecs"))):
        pods.append((f"{prefix}.workerGroupSpecs[{i}]", _dict(_dict(group).get("template"))))
    return [(path, _dict(tmpl.get("spec"))) for path, tmpl in pods]


def pod_specs(obj: Obj) -> list[tuple[str, Obj]]:
    """Every pod spec an object carries, with the path it sits at."""
    kind, spec = obj.get("kind"), _dict(obj.get("spec"))
    if kind == "Pod":
        return [("spec", spec)]
    if kind in WORKLOADS:
        return [("spec.template.spec", _dict(_dict(spec.get("template")).get("spec")))]
    if kind == "CronJob":
        job = _dict(_dict(spec.get("jobTemplate")).get("spec"))
        return [
            ("spec.jobTemplate.spec.template.spec", _dict(_dict(job.get("template")).get("spec")))
        ]
    if kind == "RayCluster":
        return ray_cluster_pods(spec, "spec")
    if kind == "RayJob":
        pods = []
        if "submitterPodTemplate" in spec:
            pods.append(
                (
                    "spec.submitterPodTemplate.spec",
                    _dict(_dict(spec["submitterPodTemplate"]).get("spec")),
                )
            )
        if "rayClusterSpec" in spec:
            pods += ray_cluster_pods(_dict(spec["rayClusterSpec"]), "spec.rayClusterSpec")
        return pods
    return []


def autoscaler_container(cluster_spec: Obj) -> Obj | None:
    """The autoscaler sidecar KubeRay adds to the head, as the container its options describe."""
    if not cluster_spec.get("enableInTreeAutoscaling"):
        return None
    options = _dict(cluster_spec.get("autoscalerOptions"))
    head = _dict(_dict(_dict(cluster_spec.get("headGroupSpec")).get("template")).get("spec"))
    head_image = next(
        (c.get("image") for c in _list(head.get("containers")) if isinstance(c, dict)), None
    )
    return {
        "name": "autoscaler",
        "image": options.get("image", head_image),
        "securityContext": options.get("securityContext"),
        "resources": options.get("resources"),
    }


def containers(pod: Obj) -> list[tuple[str, Obj]]:
    """(path, container) of a pod spec's containers and init containers."""
    out = []
    for field in ("initContainers", "containers"):
        for i, container in enumerate(_list(pod.get(field))):
            if isinstance(container, dict):
                out.append((f"{field}[{i}]", container))
    return out
