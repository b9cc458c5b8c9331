"""The ``rdlab`` command: train · study run · frontier · eval · models.

Bad input prints one line, ``error: <field>: <message>``, and exits 2 with nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rdlab.config import trial_config
from rdlab.config_io import apply_overrides, load_yaml
from rdlab.errors import SpecError
from rdlab.registry import DATASETS, MODELS, SEARCH_ALGORITHMS, SIGMA_POLICIES, Registry

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in rdlab's one-line format, exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def fail(err: SpecError) -> int:
    print(f"error: {err}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_guarded(fn: Callable[[], int]) -> int:
    """Run ``fn``; bad input becomes one line on stderr and exit status 2."""
    try:
        return fn()
    except SpecError as err:
        return fail(err)


def parser(prog: str | None = None, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser whose errors are one line and exit 2, as rdlab's are."""
    return _Parser(prog=prog, description=description)


def _resume(text: str) -> str:
    if text != "auto":
        raise argparse.ArgumentTypeError(f"invalid choice {text!r} (the only value is 'auto')")
    return text


def add_study_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that runs a study (``rd_frontier.py``, ``rdlab study
    run``)."""
    p.add_argument(
        "--smoke-test",
        action="store_true",
        help="two trials of two epochs on a small model: checks the whole path",
    )
    p.add_argument(
        "--storage",
        default="runs",
        help="storage root: a folder (default ./runs) or a URI such as s3://bucket/prefix "
        "(S3-compatible endpoints through AWS_ENDPOINT_URL)",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default sqlite:///<storage>/<study>/mlflow.db for a "
        "local single-node study; required on a multi-node cluster or an object store)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        type=_resume,
        metavar="auto",
        help="continue an interrupted study; '--resume auto' resumes it if it exists and "
        "starts it otherwise (for resubmitted jobs)",
    )
    p.add_argument(
        "--optuna-storage",
        default=None,
        help="Optuna storage URL (default sqlite beside a local study; in memory, saved "
        "with Tune's state, for an object store); e.g. postgresql://…",
    )


# ----------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from rdlab.cli.train import run_train  # lazy: torch, only for this command
    from rdlab.data import check_data  # lazy: torch, only for this command

    data = load_yaml(args.config) if args.config else {}
    data = apply_overrides(data, args.set or [])
    cfg = trial_config(data)
    check_data(cfg.dataset)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SpecError("--out", f"{out} exists and is not a directory")
    return run_train(cfg, out, device=args.device, resume=not args.restart)


def cmd_models(args: argparse.Namespace) -> int:
    registries: list[tuple[str, Registry[Any]]] = [
        ("models", MODELS),
        ("sigma policies", SIGMA_POLICIES),
        ("datasets", DATASETS),
        ("search algorithms", SEARCH_ALGORITHMS),
    ]
    for title, reg in registries:
        print(f"{title}:")
        for name, cls in reg.items():
            kind = getattr(cls, "kind", "")
            doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
            first = doc.splitlines()[0] if doc else ""
            tag = f" [{kind}]" if kind and kind != "vae" else ""
            print(f"  {name:<16}{tag} {first}")
    return 0


# ----------------------------------------------------------------------------- plumbing
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rdlab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="run one trial (no Ray, no MLflow)")
    t.add_argument("--config", help="trial YAML (dataset/model/train/objective/eval)")
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. objective.beta=0.5 (repeatable)",
    )
    t.add_argument("--out", required=True, help="output directory (resumes if it holds a run)")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    t.set_defaults(func=cmd_train)

    m = sub.add_parser("models", help="list the plugins: models, σ policies, datasets, searches")
    m.set_defaults(func=cmd_models)

    for name, register in _extra_commands():
        register(sub, name)
    return p


def _extra_commands() -> list[tuple[str, Callable[[Any, str], None]]]:
    """Subcommands living beside their code (study, frontier, eval), registered lazily."""
    out: list[tuple[str, Callable[[Any, str], None]]] = []
    for name, module in (
        ("study", "rdlab.cli.study"),
        ("frontier", "rdlab.cli.frontier"),
        ("eval", "rdlab.cli.eval"),
    ):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError:
            continue
        reg = getattr(mod, "register", None)
        if reg is not None:
            out.append((name, reg))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: int(args.func(args)))


if __name__ == "__main__":
    sys.exit(main())
