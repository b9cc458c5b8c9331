"""Benchmark 1, trial overhead: one trial as (a) a bare PyTorch loop, (b) ``rdlab train``'s
trial loop, (c) a one-trial Ray Tune study with MLflow tracking (sqlite) — same model, data,
batch size, steps and seed.

    python studies/benchmarks/bench_overhead.py [--epochs 12] [--json OUT]

The workload is the embedded default study's trial (digits, mlp_resnet 4×200, latent 8,
batch 128, Adam 1e-3, σ policy ``optimal_sample``, β = 1) on one intra-op thread, as a
study trial runs. Every side trains the same epochs and evaluates the validation split
after each one (the bare loop does too: a per-epoch validation curve is part of what a
trial delivers); (b) also checkpoints every epoch, (c) also reports to Tune with the
checkpoint and logs the epoch to MLflow.

Side by side, epoch by epoch: the bare loop (a) runs inside (b) and inside (c)'s Ray worker,
one bare epoch right after each rdlab epoch, on its own RNG stream. So every pair of epochs
sees the same load from other users of the machine, and the bare loop's training loss is
checked against rdlab's (same data order, same seed: the same work). Steady state is the
median over epochs after ``--warmup`` of the per-epoch ratio; startup (process, Ray,
MLflow, model build) and the end-of-trial evaluation are reported separately.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import median, one_thread, parser, print_ratios, write_record
from rdlab.train import Callback, EpochReport, Member, TrialResult

BETA = 1.0
MIN_LOG_SIGMA = -6.0
LOG_2PI = math.log(2.0 * math.pi)
STUDY = "bench-overhead"
OUT_ENV = "RDLAB_BENCH_PAIRED_OUT"


def trial_data(epochs: int, hidden: int, blocks: int) -> dict[str, Any]:
    """The default study's trial, with a light end-of-trial evaluation (not timed here)."""
    return {
        "dataset": {"name": "digits", "val_fraction": 0.1, "test_fraction": 0.1, "seed": 0},
        "model": {"name": "mlp_resnet", "latent_dim": 8, "hidden": hidden, "blocks": blocks},
        "train": {"epochs": epochs, "batch_size": 128, "lr": 1e-3, "seed": 0, "device": "cpu"},
        "objective": {"beta": BETA, "sigma": {"policy": "optimal_sample"}},
        "eval": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False},
    }


def vae_terms(model: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example NLL (σ policy ``optimal_sample``) and rate, written out inline."""
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    x_mean, _ = model.decode(z)
    sq = (x - x_mean).pow(2).flatten(1)
    # BS-VAE's per-example σ² = mean squared error, softly floored at log σ = -6
    ls = MIN_LOG_SIGMA + torch.nn.functional.softplus(
        0.5 * torch.log(sq.mean(1).clamp_min(1e-30)) - MIN_LOG_SIGMA
    )
    nll = (0.5 * sq * torch.exp(-2.0 * ls)[:, None] + ls[:, None] + 0.5 * LOG_2PI).sum(1)
    rate = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return nll, rate


class BareLoop:
    """(a) What a user writes without a platform: the model, Adam, shuffled index batches
    and a validation pass per epoch; the loss written out inline."""

    def __init__(self, data: dict[str, Any]) -> None:
        from rdlab.config import trial_config
        from rdlab.data import build_dataset
        from rdlab.model import build_model

        t0 = time.perf_counter()
        cfg = trial_config(data)
        self.src = build_dataset(cfg.dataset)
        self.x_train, self.x_val = self.src.split("train"), self.src.split("val")
        self.seed = cfg.train.seed
        self.bs = cfg.train.batch_size
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            self.model = build_model(
                "mlp_resnet", self.src.shape, cfg.model.latent_dim, cfg.model.options()
            )
            self.rng = torch.get_rng_state()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr)
        self.losses: list[float] = []
        self.setup_s = time.perf_counter() - t0

    def terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return vae_terms(self.model, x)

    def epoch(self, epoch: int) -> float:
        """One epoch (train + validation) on its own RNG stream; its wall time."""
        from rdlab.data.base import epoch_generator

        t0 = time.perf_counter()
        with torch.random.fork_rng():
            torch.set_rng_state(self.rng)
            self.model.train()
            n = self.x_train.shape[0]
            perm = torch.randperm(n, generator=epoch_generator(self.src.seed, epoch))
            total = torch.zeros((), dtype=torch.float64)
            for i in range(0, n, self.bs):
                x = self.x_train[perm[i : i + self.bs]]
                nll, rate = self.terms(x)
                loss = nll.mean() + BETA * rate.mean()
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                total += loss.detach().double() * x.shape[0]
            self.rng = torch.get_rng_state()
            self.model.eval()
            with torch.no_grad():
                torch.manual_seed(self.seed + 7919)
                nll, rate = self.terms(self.x_val)
                val = float((nll + rate).mean())
        self.losses.append(float(total) / n)
        assert math.isfinite(val)
        return time.perf_counter() - t0


class Paired(Callback):
    """Trial callback: after each rdlab epoch (its checkpoint, Tune report and MLflow log
    done), one bare epoch. rdlab's epoch i is the time from the end of bare epoch i−1 to
    the end of rdlab's epoch i; nothing of one side is counted in the other. With no
    arguments (a study's ``callbacks:`` entry) it takes the trial's own config and writes
    its record to ``$RDLAB_BENCH_PAIRED_OUT``."""

    def __init__(self, data: dict[str, Any] | None = None, out: Path | None = None) -> None:
        self.data = data
        env = os.environ.get(OUT_ENV)
        self.out = out if out is not None or data is not None else Path(env) if env else None
        self.bare: BareLoop | None = None
        self.rdlab_s: list[float] = []
        self.bare_s: list[float] = []
        self.mark = 0.0

    def on_start(self, member: Member) -> None:
        self.bare = BareLoop(self.data or member.cfg.to_dict())
        self.mark = time.perf_counter()

    def on_epoch_end(self, member: Member, report: EpochReport) -> None:
        assert self.bare is not None
        self.rdlab_s.append(time.perf_counter() - self.mark)
        self.bare_s.append(self.bare.epoch(report.epoch - 1))
        self.mark = time.perf_counter()

    def on_end(self, member: Member, result: TrialResult) -> None:
        if self.out is not None:
            self.out.write_text(json.dumps(self.record(result.history)))

    def record(self, history: list[dict[str, float]]) -> dict[str, Any]:
        assert self.bare is not None
        return {
            "rdlab_epoch_s": self.rdlab_s,
            "bare_epoch_s": self.bare_s,
            "bare_setup_s": self.bare.setup_s,
            "bare_loss": self.bare.losses,
            "rdlab_loss": [h["train/loss"] for h in history],
        }


def rdlab_train(data: dict[str, Any], work: Path) -> dict[str, Any]:
    """(b) one trial through the trial loop, as ``rdlab train`` runs it."""
    from rdlab.config import trial_config
    from rdlab.trial import Trial

    t0 = time.perf_counter()
    paired = Paired(data)
    trial = Trial(trial_config(data), work, callbacks=[paired])
    setup_s = time.perf_counter() - t0
    (result,) = trial.run(resume=False)
    rec = paired.record(result.history)
    rec["setup_s"] = setup_s
    return rec


def tune_study(data: dict[str, Any], work: Path) -> dict[str, Any]:
    """(c) a one-trial grid study through the real driver (Ray Tune, MLflow, Parquet), with
    :class:`Paired` as the study's trial callback (spec ``callbacks``)."""
    import io

    from rdlab.driver import runner as study_runner

    out = work / "paired.json"
    spec = {
        "study": STUDY,
        **data,
        "search": {"algorithm": "grid", "space": {"objective.beta": {"choice": [BETA]}}},
        "resources": {"cpu": 1, "gpu": 0},
        "max_concurrent": 1,
        "callbacks": ["bench_overhead:Paired"],
    }
    # The local Ray cluster starts in run_study, so its workers inherit these variables.
    os.environ[OUT_ENV] = str(out)
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH", "")) if p
    )
    log = io.StringIO()
    t0 = time.perf_counter()
    rc = study_runner.run_study(spec, str(work), out=log)
    wall = time.perf_counter() - t0
    if rc != 0 or not out.exists():
        raise RuntimeError(log.getvalue())
    rec: dict[str, Any] = json.loads(out.read_text())
    results = sorted((work / STUDY / "tune").glob("search/*/result.json"))
    reports = [json.loads(line) for line in results[0].read_text().splitlines() if line]
    trainable_s = float(reports[-1]["time_total_s"])
    rec.update(
        study_wall_s=wall,
        trainable_s=trainable_s,
        startup_s=wall - trainable_s,
        final_report_s=float(reports[-1]["time_this_iter_s"]),
    )
    return rec


def same_work(rec: dict[str, Any]) -> dict[str, Any]:
    """Do both sides train the same thing? Epoch 1's loss agrees to float32 round-off; later
    epochs drift apart by round-off amplified through training (MKL's kernels may pick a
    different summation order for differently aligned buffers), and stay close."""
    a, b = rec["bare_loss"], rec["rdlab_loss"]
    return {
        "epoch1_rel_diff": abs(a[0] - b[0]) / abs(b[0]),
        "last_rel_diff": abs(a[-1] - b[-1]) / abs(b[-1]),
        "same": abs(a[0] - b[0]) <= 1e-5 * abs(b[0]),
    }


def checkpoint_seconds(data: dict[str, Any], work: Path, n: int = 7) -> float:
    """Median wall time of one checkpoint save of this trial (after an epoch)."""
    from rdlab.config import trial_config
    from rdlab.trial import Trial

    trial = Trial(trial_config(data), work)
    trial.loop.engine.train_epoch(0)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        trial.loop.save()
        times.append(time.perf_counter() - t0)
    return median(times)


def breakdown(data: dict[str, Any], epochs: int = 25, warmup: int = 3) -> dict[str, float]:
    """One process, alternating: a bare epoch (train + validation), rdlab's engine epoch
    and its validation, and everything else the trial loop does per epoch (medians, ms).
    Where rdlab's epoch time goes, without Tune or MLflow."""
    from rdlab.config import trial_config
    from rdlab.trial import Trial

    bare = BareLoop(data)
    with tempfile.TemporaryDirectory(prefix="bench_overhead_bd_") as tmp:
        trial = Trial(trial_config(data), Path(tmp))
        engine, member = trial.loop.engine, trial.members[0]
        times: dict[str, list[float]] = {"bare": [], "train": [], "val": []}
        for e in range(epochs):
            times["bare"].append(bare.epoch(e))
            t0 = time.perf_counter()
            engine.train_epoch(e)
            t1 = time.perf_counter()
            member.validate("val")
            times["train"].append(t1 - t0)
            times["val"].append(time.perf_counter() - t1)
        # the loop's own per-epoch work: a trial whose epochs do nothing
        idle = Trial(
            trial_config({**data, "eval": {**data["eval"], "splits": []}}), Path(tmp) / "r"
        )
        idle.loop.engine.train_epoch = lambda epoch: [{"loss": 0.0}]  # type: ignore[method-assign]
        idle.loop.engine.validate = lambda ks: {k: {"loss": 0.0} for k in ks}  # type: ignore[method-assign]
        idle.loop.save = lambda: Path(tmp)  # type: ignore[method-assign]
        t0 = time.perf_counter()
        idle.loop.run(resume=False)
        run_other = (time.perf_counter() - t0) / data["train"]["epochs"]
    out = {k: 1e3 * median(v[warmup:]) for k, v in times.items()}
    out["run_bookkeeping"] = 1e3 * run_other
    out["rdlab/bare"] = (out["train"] + out["val"]) / out["bare"]
    return out


def steady_ratio(rec: dict[str, Any], warmup: int) -> float:
    """Median over steady epochs of bare time / rdlab time = rdlab steps/s ÷ bare steps/s."""
    pairs = list(zip(rec["bare_epoch_s"], rec["rdlab_epoch_s"], strict=True))[warmup:]
    return median([a / b for a, b in pairs])


def steps_per_s(epoch_s: list[float], warmup: int, steps: int) -> float:
    return steps / median(epoch_s[warmup:])


def main(argv: list[str] | None = None) -> int:
    p = parser("bench_overhead", __doc__)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2, help="epochs left out of steady state")
    p.add_argument("--hidden", type=int, default=200)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--no-tune", action="store_true", help="skip (c)")
    p.add_argument(
        "--breakdown", action="store_true", help="only the in-process per-epoch breakdown"
    )
    args = p.parse_args(argv)
    one_thread()
    data = trial_data(args.epochs, args.hidden, args.blocks)
    if args.breakdown:
        bd = breakdown(data)
        print(
            f"per epoch (median, ms): bare loop {bd['bare']:.1f}; rdlab train_epoch "
            f"{bd['train']:.1f} + evaluate('val') {bd['val']:.1f} = {bd['rdlab/bare']:.3f}× the "
            f"bare epoch; the loop's own per-epoch work {bd['run_bookkeeping']:.2f}"
        )
        return 0
    steps = math.ceil(BareLoop(data).x_train.shape[0] / 128)

    # (b′): checkpoint only after the last epoch — the hot loop's own overhead
    last_only = {**data, "train": {**data["train"], "checkpoint_every": args.epochs}}
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as tmp:
        b = rdlab_train(data, Path(tmp) / "b")
        b1 = rdlab_train(last_only, Path(tmp) / "b1")
        c = None if args.no_tune else tune_study(data, Path(tmp) / "c")
        ckpt_s = checkpoint_seconds(data, Path(tmp) / "ck")
    w = args.warmup
    sides = {"b": b, **({"c": c} if c else {})}
    same = {k: same_work(r) for k, r in sides.items()}
    sps = {
        "a_bare (beside b)": steps_per_s(b["bare_epoch_s"], w, steps),
        "b_rdlab_train": steps_per_s(b["rdlab_epoch_s"], w, steps),
    }
    sps["b′_rdlab_train (ckpt at end only)"] = steps_per_s(b1["rdlab_epoch_s"], w, steps)
    ratios = {"b/a": steady_ratio(b, w), "b′/a": steady_ratio(b1, w)}
    if c is not None:
        sps["a_bare (beside c)"] = steps_per_s(c["bare_epoch_s"], w, steps)
        sps["c_tune_mlflow"] = steps_per_s(c["rdlab_epoch_s"], w, steps)
        ratios["c/a"] = steady_ratio(c, w)
    record: dict[str, Any] = {
        "benchmark": "overhead",
        "workload": data,
        "steps_per_epoch": steps,
        "warmup_epochs": w,
        "steps_per_s": sps,
        "ratios": ratios,
        "targets": {"b/a": 0.97, "c/a": 0.90},
        "same_work": same,
        "startup_s": {
            "a_bare": b["bare_setup_s"],
            "b_rdlab_train": b["setup_s"],
            "c_tune_mlflow (study wall − trainable)": c["startup_s"] if c else math.nan,
        },
        "c_final_report_s (end-of-trial eval + MLflow close)": c["final_report_s"] if c else None,
        "checkpoint_save_s": ckpt_s,
        "checkpoint_share_of_b_epoch": ckpt_s / median(b["rdlab_epoch_s"][w:]),
        "b": b,
        "b_ckpt_at_end": b1,
        "c": c,
    }
    write_record(args.json, record)
    print(
        f"workload: digits, mlp_resnet {args.hidden}×{args.blocks}, batch 128, {steps} "
        f"steps/epoch, {args.epochs} epochs ({w} warm-up), 1 thread; paired epoch by epoch"
    )
    print(f"same training loss as the bare loop: {same}")
    for side, v in sps.items():
        print(f"  {side:<20} {v:8.1f} steps/s")
    for side, v in record["startup_s"].items():
        print(f"  startup {side:<38} {v:6.2f} s")
    print(f"record: {args.json}")
    print(
        f"  one checkpoint save (8 MB: weights + Adam state, fsync): {1e3 * ckpt_s:.1f} ms = "
        f"{100 * record['checkpoint_share_of_b_epoch']:.1f}% of an rdlab epoch"
    )
    lines = [
        ("b/a  rdlab train / bare loop", ratios["b/a"], "target ≥ 0.97"),
        ("b′/a same, checkpoint at end only", ratios["b′/a"], "the hot loop alone"),
    ]
    if "c/a" in ratios:
        lines.append(("c/a  Tune+MLflow / bare loop", ratios["c/a"], "target ≥ 0.90"))
    print_ratios("trial overhead, steady state (steps/s ratio)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
