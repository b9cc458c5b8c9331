"""The one record every check returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """A problem found in one object (``obj``) of one overlay or file (``source``).

    ``check`` names the check: ``schema``, ``crd-schema``, ``runtime-env``, ``secret``,
    ``build`` for hard errors, or a rule id (``RDLAB_*``, ``CKV_*``) for security findings,
    which alone may be accepted with a reason in k8s/security-accepted.yaml.
    """

    source: str
    obj: str
    check: str
    message: str
    acceptable: bool = False

    def __str__(self) -> str:
        where = f"{self.source}: {self.obj}" if self.obj else self.source
        return f"{where}: [{self.check}] {self.message}"


def as_dict(value: Any) -> Obj:
    """``value`` if it is a mapping, else an empty one: rules read malformed objects too."""
    return value if isinstance(value, dict) else {}


def object_id(obj: Obj) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped or namespace-less objects)."""
    meta = as_dict(obj.get("metadata"))
    kind = str(obj.get("kind", "?"))
    name = str(meta.get("name", "?"))
    namespace = meta.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def json_path(path: Any) -> str:
    """``spec.workerGroupSpecs[0].rayStartParams`` from a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"
