#!/usr/bin/env python3
"""``make k8s-check``: build every overlay and check what it builds, offline.

For each overlay in k8s/overlays (or --kustomize-dir DIR ..., or pre-built --manifests FILE):
``kubectl kustomize``; built-in kinds against Kubernetes' schemas (kubernetes-validate,
strict); RayCluster/RayJob against the KubeRay v1 CRD schemas with unknown fields rejected,
and the RayJob's runtimeEnvYAML parsed; no literal password, token or key (built objects and
every YAML file and Dockerfile under k8s/); rdlab's pod-security rules on every pod template
and its Ray/MLflow invariants; checkov. Security findings not fixed must be accepted with a
reason in k8s/security-accepted.yaml. Exit status 0 when clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from k8scheck.build import overlay_dirs
from k8scheck.findings import Finding
from k8scheck.run import Options, Report, default_raw_scan, run
from k8scheck.schemas import KUBERNETES_VERSION

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "k8s"


def default_crd_dir() -> Path:
    """$RDLAB_KUBERAY_CRDS, else shared/kuberay-crds beside the repository."""
    env = os.environ.get("RDLAB_KUBERAY_CRDS")
    return Path(env) if env else REPO.parent / "shared" / "kuberay-crds"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--kustomize-dir",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        help="kustomization dirs to build (default: every k8s/overlays/*)",
    )
    parser.add_argument(
        "--manifests",
        type=Path,
        action="append",
        default=[],
        help="a pre-built multi-document YAML file to check (repeatable); "
        "with it, overlays are built only if --kustomize-dir is given",
    )
    parser.add_argument(
        "--crd-dir",
        type=Path,
        default=default_crd_dir(),
        help="KubeRay CRD schemas (default: $RDLAB_KUBERAY_CRDS or ../shared/kuberay-crds)",
    )
    parser.add_argument(
        "--k8s-version",
        default=KUBERNETES_VERSION,
        help=f"Kubernetes version of the built-in schemas (default {KUBERNETES_VERSION})",
    )
    parser.add_argument(
        "--checkov",
        choices=["require", "auto", "skip"],
        default="require",
        help="require: install the pinned checkov if missing (default); "
        "auto: run it only if installed; skip: rdlab rules only",
    )
    parser.add_argument(
        "--checkov-venv",
        type=Path,
        default=None,
        help="virtualenv for checkov (default .venv/checkov)",
    )
    parser.add_argument(
        "--accepted",
        type=Path,
        default=K8S / "security-accepted.yaml",
        help="accepted security findings with reasons",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    return parser.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    overlays = list(args.kustomize_dir)
    if not overlays and not args.manifests:
        overlays = overlay_dirs(K8S)
    # Pre-built files are checked as builds already; the raw scan covers the files in k8s/.
    raw = [] if args.manifests else default_raw_scan(REPO)
    return Options(
        repo=REPO,
        overlays=overlays,
        manifests=list(args.manifests),
        crd_dir=args.crd_dir,
        accepted_file=args.accepted,
        checkov=args.checkov,
        checkov_venv=args.checkov_venv,
        k8s_version=args.k8s_version,
        raw_scan=raw,
    )


def print_builds(report: Report, quiet: bool) -> None:
    by_obj: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in report.errors:
        by_obj[(finding.source, finding.obj)].append(finding)
    accepted: dict[tuple[str, str], int] = defaultdict(int)
    for finding, _ in report.accepted:
        accepted[(finding.source, finding.obj)] += 1
    for build in report.builds:
        print(f"{build.source}: {len(build.objects)} objects")
        for oid, how in build.validated_by.items():
            problems = by_obj.pop((build.source, oid), [])
            note = (
                f" ({accepted[(build.source, oid)]} accepted)"
                if accepted[(build.source, oid)]
                else ""
            )
            if problems or not quiet:
                print(f"  {'FAIL' if problems else 'ok  '}  {oid:<44} [{how}]{note}")
            for finding in problems:
                print(f"          - [{finding.check}] {finding.message}")
    rest = [f for group in by_obj.values() for f in group]
    if rest:
        print("problems not tied to one built object:")
        for finding in rest:
            print(f"  - {finding}")


def print_security(report: Report, accepted_file: Path) -> None:
    if report.raw_files:
        print(f"files under k8s/ scanned for literal secrets: {report.raw_files}")
    for note in report.notes:
        print(note)
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding, entry in report.accepted:
        groups[(finding.check, entry.reason)].append(finding)
    if groups:
        print(f"accepted security findings ({accepted_file.name}):")
        for (check, reason), found in sorted(groups.items()):
            print(f"  {check} x{len(found)}: {reason}")
    for entry in report.stale:
        print(f"warning: accepted entry {entry.check} {entry.resource} matches nothing; remove it?")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(options(args))
    print_builds(report, args.quiet)
    print_security(report, args.accepted)
    objects = sum(len(b.objects) for b in report.builds)
    if report.ok:
        print(
            f"k8s-check: OK: {len(report.builds)} builds, {objects} objects, "
            f"{len(report.accepted)} accepted security findings"
        )
        return 0
    print(f"k8s-check: FAILED: {len(report.errors)} problem(s), listed above")
    return 1


if __name__ == "__main__":
    sys.exit(main())
