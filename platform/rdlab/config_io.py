"""Config files and dotted paths: YAML loading and ``--set key=value`` overrides.

Configs and specs are plain YAML mappings until :func:`rdlab.config.trial_config` or
:func:`rdlab.study.spec.parse_spec` validates them; the helpers here act on that mapping
(``objective.sigma.value`` names the same field in ``--set``, in a search space and in the
dot-flattened MLflow params).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from rdlab.errors import SpecError


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping; unreadable or malformed files are a SpecError naming the path."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise SpecError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(path, f"cannot read: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(path, f"not valid YAML: {str(err).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(path, f"must hold a mapping at top level, got {type(data).__name__}")
    return data


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars: ``1e-3`` → float, ``true`` → bool, ``[1,2]`` → list."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``path`` set (intermediate mappings created)."""
    out = copy.deepcopy(data)
    node = out
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise SpecError(".".join(parts[: i + 1]), f"is not a mapping, cannot set {path}")
        node = nxt
    node[parts[-1]] = value
    return out


def get_path(data: dict[str, Any], path: str, default: Any = None) -> Any:
    """The value at the dotted ``path``, or ``default`` where the path does not lead."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``data`` with each ``key=value`` of ``--set`` applied in order."""
    for item in overrides:
        if "=" not in item:
            raise SpecError("--set", f"expected key=value, got {item!r}")
        key, _, text = item.partition("=")
        data = set_path(data, key.strip(), parse_value(text))
    return data


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys (``{"a": {"b": 1}}`` → ``{"a.b": 1}``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
