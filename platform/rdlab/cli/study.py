"""``rdlab study run SPEC [--smoke-test] [--storage DIR|URI] [--tracking-uri URI]
[--resume [auto]] [--optuna-storage URL]`` and ``rdlab study check SPEC``."""

from __future__ import annotations

import argparse
from typing import Any

from rdlab.cli import add_study_options
from rdlab.config_io import load_yaml


def cmd_run(args: argparse.Namespace) -> int:
    from rdlab.driver.runner import run_study, smoke_spec  # lazy: torch (plugins)

    data = load_yaml(args.spec)
    if args.smoke_test:
        data = smoke_spec(data)
    return run_study(
        data, args.storage, args.tracking_uri, args.resume, optuna_storage=args.optuna_storage
    )


def cmd_check(args: argparse.Namespace) -> int:
    from rdlab.study.spec import describe, parse_spec  # lazy: torch (plugins)

    spec = parse_spec(load_yaml(args.spec))
    print(f"ok: {describe(spec)}")
    return 0


def register(sub: Any, name: str) -> None:
    study = sub.add_parser(name, help="run or check a study spec")
    verbs = study.add_subparsers(dest="verb", required=True, parser_class=type(study))
    run = verbs.add_parser("run", help="run a study (Ray Tune + Optuna + MLflow)")
    run.add_argument("spec", help="study spec YAML (DESIGN §5)")
    add_study_options(run)
    run.set_defaults(func=cmd_run)
    check = verbs.add_parser("check", help="validate a spec without running it")
    check.add_argument("spec")
    check.set_defaults(func=cmd_check)
