"""The main job: a rate–distortion study of Gaussian VAEs, then its frontier.

    python studies/rd_frontier.py                      # the embedded default (digits)
    python studies/rd_frontier.py --smoke-test         # two tiny trials (CI)
    python studies/rd_frontier.py --spec studies/specs/beta_grid.yaml --storage runs
    ray job submit --working-dir . -- python studies/rd_frontier.py \\
        --storage s3://bucket/runs --tracking-uri http://mlflow:5000 --resume auto

With ``RAY_ADDRESS`` set (as ``ray job submit`` does) the trials run on that cluster, with
this tree's rdlab on every node. Bad input exits 2 with one line naming the field, before
anything is written; the README lists every exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: this tree's rdlab, not the installed one
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _submitted import use_this_tree

    use_this_tree()

HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE / "specs" / "default.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from rdlab.cli import add_study_options, parser

    p = parser("rd_frontier.py", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--spec", default=str(DEFAULT_SPEC), help="study spec YAML (DESIGN §5)")
    add_study_options(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from rdlab.cli import run_guarded
    from rdlab.config_io import load_yaml
    from rdlab.driver.runner import run_study, smoke_spec

    args = parse_args(argv)

    def go() -> int:
        data = load_yaml(args.spec)
        if args.smoke_test:
            data = smoke_spec(data)
        return run_study(
            data,
            args.storage,
            args.tracking_uri,
            args.resume,
            optuna_storage=args.optuna_storage,
        )

    return run_guarded(go)


if __name__ == "__main__":
    sys.exit(main())
