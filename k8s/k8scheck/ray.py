"""rdlab's invariants for the Ray cluster, the RayJob and the MLflow server they log to.

These are not security rules but the reasons the manifests look the way they do: trials never
on the head, token auth on, autoscaling on, GPU groups tolerating their taint; the RayJob's
--storage reachable from every Ray pod (an object store: credentials from a Secret or a
workload identity, the endpoint when MinIO serves it, MinIO's NetworkPolicy admitting the
Ray pods; a local path: one volume every Ray pod mounts) and equal to ConfigMap
rdlab-storage; `--resume auto`, so that a retried or resubmitted RayJob continues the study;
time for the driver's clean stop on SIGTERM (head and submitter pods); and the RayJob's
tracking URI accepted by MLflow's Host-header check (MLflow 3.x answers 403 to any host not
in --allowed-hosts).
"""

from __future__ import annotations

import fnmatch
import shlex
from urllib.parse import urlparse

from k8scheck.findings import Finding, Obj, object_id
from k8scheck.pods import ray_cluster_pods

GPU = "nvidia.com/gpu"
# Storage URI schemes that name an object store; other "scheme://" URIs are not checked.
OBJECT_STORES = {"s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs"}
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
AWS_ENDPOINTS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
STORAGE_CONFIGMAP, STORAGE_KEY = "rdlab-storage", "runs"
# The driver saves Tune's state and releases its lease on SIGTERM: more than the default 30 s.
MIN_GRACE_S = 60


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
    head_pod = ray_cluster_pods(spec, "spec")[0][1]
    errors += grace_errors("spec.headGroupSpec.template.spec", head_pod, "the head runs the driver")
    return errors


def grace_errors(path: str, pod: Obj, why: str) -> list[str]:
    grace = pod.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace >= MIN_GRACE_S:
        return []
    return [
        f"{path}.terminationGracePeriodSeconds must be >= {MIN_GRACE_S} ({why}, whose clean "
        "stop on SIGTERM saves the study and exits 143), got "
        f"{grace if grace is not None else 'the default 30'}"
    ]


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


def _env(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env") or [] if isinstance(e, dict) and "name" in e}


def _has_aws_credentials(pod: Obj, container: Obj) -> bool:
    """Both keys from a Secret (env secretKeyRef or envFrom), or a workload identity."""
    env = _env(container)
    from_secret = all(
        "secretKeyRef" in (env.get(name, {}).get("valueFrom") or {}) for name in AWS_CREDENTIALS
    )
    env_from = any("secretRef" in e for e in container.get("envFrom") or [])
    return from_secret or env_from or bool(pod.get("serviceAccountName"))


def _named(obj: Obj, name: str) -> bool:
    return bool((obj.get("metadata") or {}).get("name") == name)


def _labels(obj: Obj) -> dict[str, str]:
    return ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}


def _matches(selector: Obj, labels: dict[str, str]) -> bool:
    if selector.get("matchExpressions"):
        return False  # not evaluated
    wanted = selector.get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def minio_errors(storage: str, cluster: Obj, objs: list[Obj]) -> list[str]:
    """With MinIO in the build, MinIO's ingress policies must admit the Ray pods."""
    name = cluster["metadata"].get("name")
    minio = [o for o in objs if o.get("kind") == "StatefulSet" and _named(o, "minio")]
    if not minio:
        return []
    ray_pod = {"ray.io/cluster": name}
    policies = [
        o["spec"]
        for o in objs
        if o.get("kind") == "NetworkPolicy"
        and "Ingress" in (o.get("spec") or {}).get("policyTypes", [])
        and _matches((o.get("spec") or {}).get("podSelector") or {}, _labels(minio[0]))
    ]
    admitted = any(
        _matches(peer.get("podSelector") or {}, ray_pod) and "namespaceSelector" not in peer
        for policy in policies
        for rule in policy.get("ingress") or []
        for peer in rule.get("from") or []
        if "podSelector" in peer
    )
    if policies and not admitted:
        return [
            f"--storage {storage}: no NetworkPolicy lets the Ray pods (ray.io/cluster: {name}) "
            "reach MinIO"
        ]
    return []


def object_store_errors(storage: str, cluster: Obj, objs: list[Obj]) -> list[str]:
    """An s3:// storage: every Ray pod has AWS credentials, and the endpoint with MinIO."""
    if urlparse(storage).scheme != "s3":
        return []
    errors = []
    has_minio = any(o.get("kind") == "Service" and _named(o, "minio") for o in objs)
    for path, pod in ray_cluster_pods(cluster.get("spec") or {}, "spec"):
        for container in _ray_containers(pod):
            if not _has_aws_credentials(pod, container):
                errors.append(
                    f"{path}: no AWS credentials for --storage {storage}: set "
                    f"{' and '.join(AWS_CREDENTIALS)} from a secretKeyRef, or a "
                    "serviceAccountName with a workload identity"
                )
            if has_minio and not any(name in _env(container) for name in AWS_ENDPOINTS):
                errors.append(
                    f"{path}: no AWS_ENDPOINT_URL: with MinIO in this build, --storage "
                    f"{storage} must point at it (e.g. http://minio:9000), not at AWS"
                )
    return errors + minio_errors(storage, cluster, objs)


def configmap_storage(objs: list[Obj]) -> str | None:
    """The storage URI in ConfigMap rdlab-storage (kustomize may add a hash suffix)."""
    for obj in objs:
        name = str(obj["metadata"].get("name", ""))
        if obj.get("kind") == "ConfigMap" and (
            name == STORAGE_CONFIGMAP or name.startswith(STORAGE_CONFIGMAP + "-")
        ):
            value = (obj.get("data") or {}).get(STORAGE_KEY)
            return str(value) if value is not None else None
    return None


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
        errors.append("entrypoint must pass --storage (object store) and --tracking-uri (MLflow)")
    if flag_value(argv, "--resume") != "auto":
        errors.append(
            "entrypoint must pass --resume auto, so that a retried or resubmitted RayJob "
            "continues the study (without it a second run exits 2)"
        )
    scheme = urlparse(storage).scheme if storage and "://" in storage else ""
    if storage and cluster is not None:
        if scheme in OBJECT_STORES:
            errors += object_store_errors(storage, cluster, objs)
        elif not scheme:
            errors += storage_errors(storage, cluster)
    expected = configmap_storage(objs)
    if storage and expected is not None and storage != expected:
        errors.append(
            f"--storage {storage} differs from ConfigMap {STORAGE_CONFIGMAP} ({STORAGE_KEY}: "
            f"{expected}); is components/study-storage in this overlay?"
        )
    if uri:
        errors += tracking_errors(uri, objs)
    if spec.get("submissionMode", "K8sJobMode") == "K8sJobMode":
        pod = ((spec.get("submitterPodTemplate") or {}).get("spec")) or {}
        errors += grace_errors(
            "spec.submitterPodTemplate.spec", pod, "the submitter streams the log of the driver"
        )
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
