"""Literal-secret scan of the files under k8s/ as written, built into an overlay or not."""

from __future__ import annotations

from pathlib import Path

import yaml

from k8scheck.findings import Finding, object_id
from k8scheck.secrets import dockerfile_findings, example_findings, object_errors

SKIP_DIRS = {"__pycache__", ".venv", "node_modules"}


def scanned_files(root: Path) -> list[Path]:
    files = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not SKIP_DIRS.intersection(p.parts)
        and (p.suffix in {".yaml", ".yml"} or p.name.startswith("Dockerfile"))
        and not p.name.endswith(".dockerignore")
    ]
    return files


def yaml_file_findings(path: Path, label: str) -> list[Finding]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as err:
        return [Finding(label, "", "yaml", f"does not parse: {err}")]
    out = []
    for doc in docs:
        is_object = isinstance(doc, dict) and "kind" in doc
        oid = object_id(doc) if is_object else ""
        if path.name.endswith(".example.yaml") and is_object and doc.get("kind") == "Secret":
            out += [Finding(label, f.obj, f.check, f.message) for f in example_findings(doc, label)]
            continue
        msgs = object_errors(doc) if isinstance(doc, dict | list) else []
        if is_object and doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            msgs.append(
                "a Secret with data: only *.example.yaml files may show Secrets, with placeholders"
            )
        out += [Finding(label, oid, "secret", m) for m in msgs]
    return out


def raw_findings(files: list[Path], repo: Path) -> list[Finding]:
    out = []
    for path in files:
        label = str(path.relative_to(repo)) if path.is_relative_to(repo) else str(path)
        if path.name.startswith("Dockerfile"):
            out += [Finding(label, f.obj, f.check, f.message) for f in dockerfile_findings(path)]
        else:
            out += yaml_file_findings(path, label)
    return out
