"""rdlab's invariants for the Ray cluster, the RayJob and the MLflow server they log to.

These are not security rules but the reasons the manifests look the way they do: trials never
on the head, token auth on, autoscaling on, GPU groups tolerating their taint, the Tune
storage path mounted on every Ray pod, and the RayJob's tracking URI accepted by MLflow's
Host-header check (MLflow 3.x answers 403 to any host not in --allowed-hosts).
"""

from __future__ import annotations

import fnmatch
import shlex
from urllib.parse import urlparse

from k8scheck.findings import Finding, Obj, object_id
from k8scheck.pods import ray_cluster_pods

GPU = "nvidia.com/gpu"


def flag_value(argv: list[str], flag: str) -> str | None:
    """The value of ``--flag value`` or ``--flag=value`` in an argument list."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _ray_containers(pod: Obj) -> list[Obj]:
    return [c for c in pod.get("containers") or [] if isinstance(c, dict)][:1]


def cluster_errors(spec: Obj) -> list[str]:
    errors = []
    head = spec.get("headGroupSpec") or {}
    params = head.get("rayStartParams") or {}
    if params.get("num-cpus") != "0" or params.get("num-gpus") != "0":
        errors.append(
            'headGroupSpec.rayStartParams must set num-cpus: "0" and num-gpus: "0" '
            "so that no trial is scheduled on the head"
        )
    if (spec.get("authOptions") or {}).get("mode") != "token":
        errors.append("authOptions.mode must be token (Ray token authentication)")
    if spec.get("enableInTreeAutoscaling") is not True:
        errors.append("enableInTreeAutoscaling must be true")
    for path, pod in ray_cluster_pods(spec, "spec"):
        for container in _ray_containers(pod):
            limits = (container.get("resources") or {}).get("limits") or {}
            if GPU in limits and path == "spec.headGroupSpec":
                errors.append(f"{path}: the head must not request {GPU}")
            tolerated = any(t.get("key") in (GPU, None) for t in pod.get("tolerations") or [])
            if GPU in limits and not tolerated:
                errors.append(f"{path}: requests {GPU} but has no toleration for the {GPU} taint")
    return errors


def _mounts(pod: Obj) -> dict[str, str]:
    """mountPath -> PVC claim name, for the Ray container of a pod."""
    claims = {
        v["name"]: v["persistentVolumeClaim"].get("claimName")
        for v in pod.get("volumes") or []
        if "persistentVolumeClaim" in v
    }
    return {
        m["mountPath"].rstrip("/"): claims[m["name"]]
        for c in _ray_containers(pod)
        for m in c.get("volumeMounts") or []
        if m.get("name") in claims
    }


def storage_errors(storage: str, cluster: Obj) -> list[str]:
    """The --storage path must be on one PVC mounted by the head and every worker group."""
    errors: list[str] = []
    claims: set[str] = set()
    for path, pod in ray_cluster_pods(cluster.get("spec") or {}, "spec"):
        mounts = _mounts(pod)
        hit = [m for m in mounts if storage == m or storage.startswith(m + "/")]
        if not hit:
            errors.append(f"--storage {storage} is not on a volume mounted by {path}")
        claims.update(mounts[m] for m in hit)
    if len(claims) > 1:
        errors.append(f"--storage {storage} is on different PVCs across Ray pods: {sorted(claims)}")
    return errors


def tracking_errors(uri: str, objs: list[Obj]) -> list[str]:
    parsed = urlparse(uri)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return [f"--tracking-uri {uri!r} must be an http(s) URL of the MLflow Service"]
    host = f"{parsed.hostname}:{parsed.port}" if parsed.port else parsed.hostname
    for obj in objs:
        if obj.get("kind") != "Deployment" or obj["metadata"].get("name") != "mlflow":
            continue
        for c in obj["spec"]["template"]["spec"].get("containers") or []:
            allowed = flag_value(list(c.get("args") or []), "--allowed-hosts")
            patterns = (allowed or "").split(",")
            if not any(fnmatch.fnmatch(host, p) if "*" in p else host == p for p in patterns):
                return [
                    f"--tracking-uri host {host!r} is not in MLflow's --allowed-hosts "
                    f"({allowed}): MLflow would answer 403"
                ]
            return []
    return ["no Deployment `mlflow` in this build for --tracking-uri to reach"]


def job_errors(job: Obj, objs: list[Obj]) -> list[str]:
    spec = job.get("spec") or {}
    argv = shlex.split(str(spec.get("entrypoint", "")))
    selector = (spec.get("clusterSelector") or {}).get("ray.io/cluster")
    clusters = {o["metadata"].get("name"): o for o in objs if o.get("kind") == "RayCluster"}
    errors = []
    cluster = clusters.get(selector) if selector else None
    if selector and cluster is None:
        errors.append(f"clusterSelector names RayCluster {selector!r}, not in this build")
    storage, uri = flag_value(argv, "--storage"), flag_value(argv, "--tracking-uri")
    if storage is None or uri is None:
        errors.append("entrypoint must pass --storage (shared volume) and --tracking-uri (MLflow)")
    if storage and cluster is not None:
        errors += storage_errors(storage, cluster)
    if uri:
        errors += tracking_errors(uri, objs)
    return errors


def ray_findings(objs: list[Obj], source: str) -> list[Finding]:
    out = []
    for obj in objs:
        if obj.get("kind") == "RayCluster":
            msgs = cluster_errors(obj.get("spec") or {})
        elif obj.get("kind") == "RayJob":
            msgs = job_errors(obj, objs)
        else:
            continue
        out += [Finding(source, object_id(obj), "ray", m) for m in msgs]
    return out
