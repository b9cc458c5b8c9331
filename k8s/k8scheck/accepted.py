"""Security findings accepted on purpose, each with its reason (k8s/security-accepted.yaml).

An entry matches findings by check id and by fnmatch patterns on the object
(``Kind/namespace/name``, or checkov's ``Kind.namespace.name``) and the source (overlay name).
Only security findings (rule ids) can be accepted; schema and secret errors never can.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

from k8scheck.findings import Finding


@dataclass(frozen=True)
class Acceptance:
    check: str
    resource: str
    source: str
    reason: str

    def matches(self, finding: Finding) -> bool:
        return (
            finding.acceptable
            and fnmatch.fnmatchcase(finding.check, self.check)
            and fnmatch.fnmatchcase(finding.obj, self.resource)
            and fnmatch.fnmatchcase(finding.source, self.source)
        )


def load_acceptances(path: Path) -> list[Acceptance]:
    """Entries of ``accepted:``; an entry without check or reason is an error."""
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("accepted") or []
    out = []
    for i, entry in enumerate(entries):
        reason = str(entry.get("reason") or "").strip()
        if not entry.get("check") or len(reason) < 10:
            raise ValueError(f"{path}: accepted[{i}] needs `check` and a `reason` that explains it")
        source = str(entry.get("source", "*"))
        resource = str(entry.get("resource", "*"))
        out.append(Acceptance(str(entry["check"]), resource, source, reason))
    return out


def split_accepted(
    findings: list[Finding], acceptances: list[Acceptance]
) -> tuple[list[Finding], list[tuple[Finding, Acceptance]], list[Acceptance]]:
    """(open findings, accepted findings with their entry, entries that matched nothing)."""
    open_, accepted, used = [], [], set()
    for finding in findings:
        entry = next((a for a in acceptances if a.matches(finding)), None)
        if entry is None:
            open_.append(finding)
        else:
            accepted.append((finding, entry))
            used.add(entry)
    return open_, accepted, [a for a in acceptances if a not in used]
