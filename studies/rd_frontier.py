"""The main job: a rate–distortion study of Gaussian VAEs, then its frontier.

    python studies/rd_frontier.py                      # the embedded default (digits)
    python studies/rd_frontier.py --smoke-test         # two tiny trials (CI)
    python studies/rd_frontier.py --spec studies/specs/beta_grid.yaml --storage runs
    ray job submit --working-dir . -- python studies/rd_frontier.py --smoke-test

With ``RAY_ADDRESS`` set (as ``ray job submit`` does) the trials run on that cluster.
Bad input exits 2 with one line naming the field, before Ray starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE / "specs" / "default.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from rdlab.cli import parser

    p = parser("rd_frontier.py", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--spec", default=str(DEFAULT_SPEC), help="study spec YAML (DESIGN §5)")
    p.add_argument(
        "--smoke-test",
        action="store_true",
        help="two trials of two epochs on a small model: checks the whole path",
    )
    p.add_argument("--storage", default="runs", help="storage root (default ./runs)")
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default sqlite:///<storage>/<study>/mlflow.db)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted study")
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
        return run_study(data, Path(args.storage), args.tracking_uri, args.resume)

    return run_guarded(go)


if __name__ == "__main__":
    sys.exit(main())
