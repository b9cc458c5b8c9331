"""Everything checked before a study writes anything: the spec, the command line, and
whether this cluster can run it (issue 13).

:func:`plan_study` needs no cluster: spec, URIs, the storage's shape, resume. Then
:func:`check_cluster`, once Ray is up, refuses what cannot work on the cluster at hand:

- a tracking store that is a file on the driver's disk (sqlite) when trials run on other
  nodes or the study lives in an object store — they could not open it (each node would
  create its own empty ``mlflow.db``);
- a local ``--storage`` folder that some node cannot see (no shared volume): trials there
  could not checkpoint, and the driver could not read what they write.

What needs a POSIX disk stays on the driver's: the default sqlite MLflow store and the
Optuna sqlite file live in a local study folder; with an object store the Optuna study is
kept in memory and saved with Tune's searcher state in the store (``--optuna-storage``
names a database for optuna-dashboard instead).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rdlab.data import build_dataset
from rdlab.driver.outputs import StudyOutputs
from rdlab.errors import SpecError
from rdlab.model import build_model
from rdlab.storage import Storage, is_uri
from rdlab.study.spec import StudySpec, parse_spec
from rdlab.track import check_tracking_uri, default_tracking_uri, is_local_store, redact_uri
from rdlab.tune.cluster import alive_nodes, nodes_without
from rdlab.tune.runner import TUNE_DIR
from rdlab.tune.runtime import in_ray_job
from rdlab.tune.trainable import STUDY_MARKER

OPTUNA_SCHEMES = ("sqlite", "postgresql", "mysql")


@dataclass
class Plan:
    spec: StudySpec
    study: Storage  # <storage>/<study name>
    resume: bool
    tracking_uri: str  # given, or the default sqlite file of a local study
    tracking_given: bool
    optuna_url: str | None
    artifact_dir: Path | None  # MLflow artifacts beside a local default store
    local_cache: Path  # driver-side cache (the Fréchet classifier)
    outputs: StudyOutputs


@dataclass
class ClusterInfo:
    nodes: int
    notes: list[str] = field(default_factory=list)


def _check_optuna_url(url: str) -> None:
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme not in OPTUNA_SCHEMES:
        raise SpecError(
            "--optuna-storage",
            f"unsupported scheme in {redact_uri(url)!r}; use one of "
            f"{', '.join(s + '://' for s in OPTUNA_SCHEMES)}",
        )


def plan_study(
    data: dict[str, Any],
    storage_text: str,
    tracking_uri: str | None,
    resume: bool | str,
    optuna_storage: str | None,
) -> Plan:
    """Validate everything that needs no cluster; write nothing."""
    spec = parse_spec(data)
    if tracking_uri is not None:
        check_tracking_uri(tracking_uri)
    if optuna_storage is not None:
        _check_optuna_url(optuna_storage)
    if in_ray_job() and not is_uri(storage_text) and not Path(storage_text).is_absolute():
        raise SpecError(
            "--storage",
            f"{storage_text!r} is relative, and a Ray job runs in Ray's temporary session "
            "folder, which Ray deletes (results lost, no --resume): give an object store "
            "(s3://bucket/prefix) or an absolute path on a volume every node mounts",
        )
    root = Storage.parse(storage_text)
    study = root.child(spec.name)
    exists = _has_study(study)
    if resume == "auto":
        resume_now = exists
    elif resume:
        if not exists:
            raise SpecError("--resume", f"nothing to resume at {study.uri}")
        resume_now = True
    else:
        if exists:
            raise SpecError(
                "--storage",
                f"{study.uri} already holds this study; pass --resume to continue it "
                "(--resume auto resumes it or starts it), or use another --storage or study name",
            )
        resume_now = False
    local = study.is_local
    if tracking_uri is None and local:
        tracking, given = default_tracking_uri(study.local_path()), False
    else:
        tracking, given = tracking_uri or "", tracking_uri is not None
    optuna = optuna_storage
    if optuna is None and local:
        optuna = f"sqlite:///{study.local_path('optuna.db')}"
    cache = (
        study.local_path("trials/.cache")
        if local
        else Path(tempfile.mkdtemp(prefix="rdlab-cache-"))
    )
    return Plan(
        spec=spec,
        study=study,
        resume=resume_now,
        tracking_uri=tracking,
        tracking_given=given,
        optuna_url=optuna,
        artifact_dir=_artifact_dir(tracking),
        local_cache=cache,
        outputs=StudyOutputs(study),
    )


PICTURES_BYTES = 1 << 20  # a trial's PNGs, generously
ROWS_BYTES = 64 << 10  # its RD rows, config and final report


def estimate_bytes(spec: StudySpec) -> int:
    """Roughly what a study writes: per trial, its checkpoint three times over (its own,
    Tune's copy, the MLflow artifact) — weights plus Adam's two moments — and its pictures
    and rows. Good enough to warn before a long study fills a disk."""
    import torch  # lazy: torch is heavy, and only this estimate needs it here

    cfg = spec.base_config
    try:
        shape = build_dataset(cfg.dataset).shape
        with torch.device("meta"):
            model = build_model(cfg.model.name, shape, cfg.model.latent_dim, cfg.model.options())
        params = sum(p.numel() for p in model.parameters())
    except Exception:  # an estimate must never stop a study
        return 0
    trials = spec.search.num_samples * max(1, len(spec.model.seeds))
    per_trial = 3 * (3 * 4 * params) + PICTURES_BYTES + ROWS_BYTES
    return int(trials * per_trial)


def _has_study(study: Storage) -> bool:
    try:
        return study.exists(TUNE_DIR)
    except OSError:
        return False  # unreachable: the probe says so, in one line, right after


def check_cluster(plan: Plan) -> ClusterInfo:
    """Refuse what cannot work on the connected cluster; write nothing unless it can."""
    nodes = alive_nodes()
    info = ClusterInfo(nodes=len(nodes))
    spread = len(nodes) > 1 or not plan.study.is_local
    where = (
        f"trials run on {len(nodes)} nodes"
        if len(nodes) > 1
        else f"the study lives in {plan.study.uri}"
    )
    if spread and (not plan.tracking_given or is_local_store(plan.tracking_uri)):
        what = (
            f"{redact_uri(plan.tracking_uri)!r} is a file on this machine's disk"
            if plan.tracking_given
            else "the default store is a sqlite file on the driver's disk"
        )
        raise SpecError(
            "--tracking-uri",
            f"{what}, but {where}: pass --tracking-uri http://<mlflow server> "
            "(or a database URI every node can reach)",
        )
    if plan.study.is_local and len(nodes) > 1:
        _check_shared(plan.study)
    if not plan.study.is_local and plan.optuna_url is None:
        info.notes.append(
            "note: the Optuna study is kept in memory and saved with Tune's state in "
            f"{plan.study.uri}; pass --optuna-storage postgresql://… to open it in optuna-dashboard"
        )
    return info


def _check_shared(study: Storage) -> None:
    """Every node must see the study's local folder: write the marker, look for it from
    each node, and take it back if some node cannot see it."""
    created = not study.exists()
    study.makedirs()
    study.write_bytes(STUDY_MARKER, b"")
    missing = nodes_without(study.path(STUDY_MARKER))
    if not missing:
        return
    study.delete(STUDY_MARKER)
    if created:
        study.delete("")
    raise SpecError(
        "--storage",
        f"{study.uri} is a local folder that node(s) {', '.join(missing)} cannot see; on a "
        "multi-node cluster use an object store (--storage s3://bucket/prefix, endpoint from "
        "AWS_ENDPOINT_URL) or a volume mounted at the same path on every node",
    )


def _artifact_dir(tracking_uri: str) -> Path | None:
    """Artifacts of a sqlite store go beside its file. Without a location MLflow puts them
    in ``./mlruns`` under whatever folder the driver was started from. A server decides
    its own (``--artifacts-destination``)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts"
