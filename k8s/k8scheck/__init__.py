"""Offline checks for rdlab's Kubernetes manifests (``make k8s-check``, ``k8s/check.py``).

Each module adds one kind of check over the objects an overlay builds to:

- ``build``    kustomize build and YAML loading
- ``schemas``  built-in kinds against Kubernetes' OpenAPI schemas (kubernetes-validate,
               strict), RayCluster/RayJob against the KubeRay v1 CRD schemas made strict,
               and the RayJob's runtimeEnvYAML
- ``policy``   pod-security rules, over every pod template including Ray's
- ``ray``      rdlab's own invariants for the Ray cluster, the RayJob and MLflow
- ``secrets``  no literal password, token or key anywhere
- ``checkov``  the checkov security scanner, in its own pinned virtualenv
- ``accepted`` security findings accepted on purpose (k8s/security-accepted.yaml)
"""

from __future__ import annotations

from k8scheck.findings import Finding, Obj, object_id

__all__ = ["Finding", "Obj", "object_id"]
