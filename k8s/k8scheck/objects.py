"""Rules over the whole set of objects an overlay builds: namespaces, probes, NetworkPolicies."""

from __future__ import annotations

from k8scheck.findings import Finding, Obj, object_id
from k8scheck.pods import WORKLOADS, pod_specs
from k8scheck.policy import CLUSTER_SCOPED


def namespace_findings(objs: list[Obj], source: str) -> list[Finding]:
    """Every namespaced object sits in the overlay's one namespace, never in `default`."""
    declared = [o["metadata"].get("name") for o in objs if o.get("kind") == "Namespace"]
    expected = declared[0] if len(declared) == 1 else None
    out = []
    for obj in objs:
        if obj.get("kind") in CLUSTER_SCOPED:
            continue
        namespace = (obj.get("metadata") or {}).get("namespace")
        if namespace in (None, "", "default"):
            msg = f"namespace is {namespace or 'unset'}: set it (kustomize `namespace:`)"
        elif expected and namespace != expected:
            msg = f"namespace {namespace!r} differs from the overlay's Namespace {expected!r}"
        else:
            continue
        out.append(Finding(source, object_id(obj), "RDLAB_NAMESPACE", msg, True))
    return out


def probe_findings(objs: list[Obj], source: str) -> list[Finding]:
    """Long-running built-in workloads declare readiness and liveness probes.

    Ray pods are left out: KubeRay adds its own probes to Ray containers.
    """
    out = []
    for obj in objs:
        if obj.get("kind") not in WORKLOADS - {"Job"}:
            continue
        for path, pod in pod_specs(obj):
            for i, container in enumerate(pod.get("containers") or []):
                missing = [p for p in ("readinessProbe", "livenessProbe") if p not in container]
                if missing:
                    where = f"{path}.containers[{i}] ({container.get('name')})"
                    msg = f"{where}: no {' or '.join(missing)}"
                    out.append(Finding(source, object_id(obj), "RDLAB_PROBES", msg, True))
    return out


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    if selector.get("matchExpressions"):
        return False  # not evaluated: such a policy does not count as coverage
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def network_policy_findings(objs: list[Obj], source: str) -> list[Finding]:
    """Every Deployment/StatefulSet's pods are isolated by some ingress NetworkPolicy."""
    policies = [
        o["spec"]
        for o in objs
        if o.get("kind") == "NetworkPolicy"
        and "Ingress" in (o.get("spec") or {}).get("policyTypes", [])
    ]
    out = []
    for obj in objs:
        if obj.get("kind") not in {"Deployment", "StatefulSet"}:
            continue
        template = (obj.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not any(_selects(p.get("podSelector") or {}, labels) for p in policies):
            msg = (
                "no ingress NetworkPolicy selects these pods: anything in the cluster reaches them"
            )
            out.append(Finding(source, object_id(obj), "RDLAB_NETWORK_POLICY", msg, True))
    return out
