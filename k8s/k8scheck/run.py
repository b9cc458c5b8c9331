"""One k8s-check run: build, validate, scan, and sort findings into open and accepted."""

from __future__ import annotations

import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from k8scheck import checkov as ckv
from k8scheck.accepted import Acceptance, load_acceptances, split_accepted
from k8scheck.build import BuildError, kustomize, parse_objects
from k8scheck.findings import Finding, Obj, object_id
from k8scheck.objectcheck import BuildResult, check_objects
from k8scheck.rawfiles import raw_findings, scanned_files
from k8scheck.ray import flag_value
from k8scheck.schemas import KUBERNETES_VERSION, load_crd_validators


@dataclass
class Options:
    repo: Path
    overlays: list[Path]
    manifests: list[Path]
    crd_dir: Path
    accepted_file: Path
    checkov: str = "require"  # require | auto | skip
    checkov_venv: Path | None = None
    k8s_version: str = KUBERNETES_VERSION
    raw_scan: list[Path] = field(default_factory=list)


@dataclass
class Report:
    builds: list[BuildResult] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)  # open findings: the run fails
    accepted: list[tuple[Finding, Acceptance]] = field(default_factory=list)
    stale: list[Acceptance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw_files: int = 0
    checkov_ran: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def load_builds(opts: Options) -> tuple[list[tuple[str, str]], list[Finding]]:
    """(source name, YAML text) per overlay and manifest file, and build failures."""
    texts, failures = [], []
    for overlay in opts.overlays:
        try:
            texts.append((overlay.name, kustomize(overlay)))
        except BuildError as err:
            failures.append(Finding(overlay.name, "", "build", str(err)))
    for path in opts.manifests:
        texts.append((path.name, path.read_text()))
    return texts, failures


def scan_checkov(opts: Options, texts: list[tuple[str, str]], report: Report) -> list[Finding]:
    venv = opts.checkov_venv or ckv.default_venv(opts.repo)
    if opts.checkov == "skip":
        report.notes.append("checkov: skipped (--checkov skip); rdlab policy rules still ran")
        return []
    if opts.checkov == "auto" and not (venv / "bin" / "checkov").exists():
        report.notes.append(f"checkov: not installed in {venv}; skipped (--checkov auto)")
        return []
    try:
        exe = ckv.ensure_checkov(venv)
        with tempfile.TemporaryDirectory(prefix="k8s-check-") as tmp:
            sources = {}
            for i, (source, text) in enumerate(texts):
                name = f"{i:02d}-{source}.yaml"
                (Path(tmp) / name).write_text(text)
                sources[name] = source
            dockerfiles = sorted((opts.repo / "k8s").glob("Dockerfile"))
            for dockerfile in dockerfiles:
                shutil.copy(dockerfile, Path(tmp) / dockerfile.name)
                sources[dockerfile.name] = str(dockerfile.relative_to(opts.repo))
            reports = ckv.run_checkov(exe, [Path(tmp) / n for n in sources], Path(tmp))
    except (ckv.CheckovError, OSError) as err:
        return [Finding("checkov", "", "checkov", str(err))]
    found = ckv.checkov_findings(reports, sources)
    report.checkov_ran = True
    report.notes.append(
        f"checkov {ckv.CHECKOV_VERSION}: {ckv.passed_count(reports)} passed, "
        f"{len(found)} failed (kubernetes, dockerfile, secrets)"
    )
    return found


def spec_notes(objs: list[Obj], repo: Path) -> list[str]:
    """Warn (not fail) when a RayJob's --spec is not in the repository the image is built from."""
    notes = []
    for obj in objs:
        if obj.get("kind") != "RayJob":
            continue
        argv = shlex.split(str((obj.get("spec") or {}).get("entrypoint", "")))
        spec = flag_value(argv, "--spec")
        if spec and not Path(spec).is_absolute() and not (repo / spec).is_file():
            notes.append(f"warning: {object_id(obj)} runs --spec {spec}, not in the repository yet")
    return notes


def run(opts: Options) -> Report:
    report = Report()
    try:
        validators = load_crd_validators(opts.crd_dir)
        acceptances = load_acceptances(opts.accepted_file)
    except (FileNotFoundError, ValueError, yaml.YAMLError) as err:
        report.errors.append(Finding("setup", "", "setup", str(err)))
        return report
    texts, findings = load_builds(opts)
    for source, text in texts:
        try:
            objs = parse_objects(text, source)
        except BuildError as err:
            findings.append(Finding(source, "", "build", str(err)))
            continue
        build = check_objects(objs, source, validators, opts.k8s_version)
        report.notes += [n for n in spec_notes(objs, opts.repo) if n not in report.notes]
        report.builds.append(build)
        findings += build.findings
    findings += raw_findings(opts.raw_scan, opts.repo)
    report.raw_files = len(opts.raw_scan)
    findings += scan_checkov(opts, texts, report)
    report.errors, report.accepted, stale = split_accepted(findings, acceptances)
    # Without checkov's findings its entries cannot match: only report them after a real scan.
    report.stale = [a for a in stale if report.checkov_ran or not a.check.startswith("CKV")]
    return report


def default_raw_scan(repo: Path) -> list[Path]:
    return scanned_files(repo / "k8s")
