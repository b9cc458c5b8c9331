"""Benchmark: the study driver's time per finished trial as a study grows (issue 16 items
2–3). Not a timed test.

``--driver-only`` (the default) runs studies of N = 100, 1,000 and 5,000 trials side by
side in one process, interleaved so that each advances by the same fraction at every step
(load from other users of the machine falls on all alike), without training. Each trial's
final Tune result has the real shape (what ``TuneReporter`` sends for a one-epoch trial of
the default study's space, values made up) and goes through the driver's real code:

- Tune's bookkeeping of the result (a real ``ray.tune`` ``Trial``, ``update_last_result``);
- ``RowsWriter`` (outcome → RD rows → ``PointsWriter.submit``, the progress line);
- the searcher (``random``: the plan's next point; ``--search optuna-tpe`` etc.: the real
  ``RDOptunaSearch``, ``suggest`` and ``on_trial_complete``, Optuna in sqlite as a study's);
- Tune's experiment-state save, the real Trial serialisation, on Tune's schedule: every
  ``state_period_s(N)`` seconds of a simulated clock on which a trial ends every
  ``--trial-interval`` seconds (what the e2e mode measures);
- at the end, ``StudyOutputs.close``/``write_all`` and ``StudyTracker.mark_failed`` (1 % of
  the trials fail), against a real sqlite MLflow store.

The trials' own MLflow calls (open the run, params, final metrics, close) go to the same
store and are timed apart: the tracking store's cost per trial, not the driver's. So are
the writer thread's file writes. Tune's controller loop itself is not simulated: that is
what ``--end-to-end N`` measures, a real study of N tiny trials (digits, one epoch, a
16-unit model, ``random`` search, two at a time) through Ray Tune and MLflow.

``--proposals`` times one Optuna proposal (``suggest`` + ``on_trial_complete``, sqlite) of
each Optuna algorithm at the study sizes (filled with finished trials without sampling).

    python studies/benchmarks/bench_scale.py [--sizes 100,1000,5000] [--trial-interval 3]
        [--search random] [--proposals] [--end-to-end N] [--json OUT]
"""

from __future__ import annotations

import io
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml
from _common import BENCH_DIR, ROOT, median, parser, print_ratios, ratio, write_record
from rdlab.driver.outputs import StudyOutputs
from rdlab.storage import Storage
from rdlab.study.spec import StudySpec, parse_spec
from rdlab.track import StudyTracker, TrialTracker
from rdlab.track.batch import log_params, send_items
from rdlab.tune.checkpoints import state_period_s
from rdlab.tune.outcome import outcomes_from_result
from rdlab.tune.runner import RowsWriter
from rdlab.tune.trainable import STUDY_MARKER

TARGET = 1.3  # per-trial driver time at the largest N over that at the smallest
FAIL_EVERY = 100  # 1 % of the trials fail (their runs are closed by mark_failed at the end)
EPOCH_KEYS = ("rate", "mse", "nll", "nll_opt", "elbo", "log_sigma_x", "bpd")
TRAIN_ONLY = ("loss", "kl_g", "kl_i", "l1", "adv")
FINAL_NAN = ("iwae", "iwae_elbo", "fd_recon", "fd_prior", "fd_gmm", "fd_clf_acc")


def tiny_spec(name: str, n: int, algorithm: str) -> dict[str, Any]:
    """The default study's space on digits, one epoch of a 16-unit model, a light eval."""
    spec: dict[str, Any] = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())
    spec["study"] = name
    spec["model"] = {"name": "mlp_resnet", "latent_dim": 2, "hidden": 16, "blocks": 1}
    spec["train"] = {"epochs": 1, "batch_size": 512, "lr": 1.0e-3, "seed": 0}
    spec["eval"] = {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False}
    spec["search"]["algorithm"] = algorithm
    spec["search"]["num_samples"] = n
    spec["max_failures"] = 0
    return spec


# ----------------------------------------------------------------------------- trial results
def trial_result(tid: str, point: dict[str, Any], k: int, rng: random.Random) -> dict[str, Any]:
    """The final Tune report of a one-epoch trial (TuneReporter.on_loop_end), values made up."""
    beta = float(point.get("objective.beta", 1.0))
    rate = 10.0 / (1.0 + beta) + rng.random()
    v = {"rate": rate, "mse": 20.0 / (1 + rate), "nll": 60.0 - rate, "nll_opt": 59.0 - rate}
    v.update(elbo=-(v["nll"] + rate), log_sigma_x=-0.5, bpd=5.3)
    epoch = {"epoch": 1.0, **{f"train/{key}": x for key, x in v.items()}}
    epoch.update({f"train/{key}": 0.0 for key in TRAIN_ONLY})
    epoch.update({f"val/{key}": x for key, x in v.items()})
    epoch["policy/sigma"] = 0.62
    final = {**v, **dict.fromkeys(FINAL_NAN, math.nan), "active_units": 0.0, "agg_kl": 0.03}
    final.update(rate_dim_0=rate / 2, rate_dim_1=rate / 2)
    failed = k % FAIL_EVERY == FAIL_EVERY - 1
    status = "ok" if not failed else "failed"
    member = {
        "trial_id": tid,
        "overrides": point,
        "status": status,
        "final": {"val": final},
        "history": [epoch],
        "run_id": None,  # set once the trial's run exists
        "wall_s": 0.08,
        "artifacts": [],
        "diverged_epoch": None,
        "frechet_classifier": None,
        "code_version": "bench",
    }
    return {
        **epoch,
        **{f"val/{key}": x for key, x in final.items() if math.isfinite(x)},
        "trial_status": status,
        "trial_wall_s": 0.08,
        "epochs_done": 1,
        "diverged_epoch": 0,
        "pack_size": 1,
        "member": member,
        "training_iteration": 2,
        "time_this_iter_s": 0.26,
        "time_total_s": 0.36,
        "done": False,
    }


class TimedDataset:
    """The study's RDDataset, timing the writer thread's file writes and gatherings."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.storage = inner.storage
        self.write_s = 0.0

    def write_trial(self, trial_id: str, rows: Any) -> str:
        t0 = time.perf_counter()
        try:
            return str(self.inner.write_trial(trial_id, rows))
        finally:
            self.write_s += time.perf_counter() - t0

    def gather(self, rels: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner.gather(rels)
        finally:
            self.write_s += time.perf_counter() - t0

    def trial_uri(self, trial_id: str) -> str:
        return str(self.inner.trial_uri(trial_id))


# ----------------------------------------------------------------------------- one study
class DriverStudy:
    """One study of ``n`` trials fed through the driver's code, a trial per :meth:`step`."""

    def __init__(self, n: int, work: Path, algorithm: str, trial_interval: float) -> None:
        from ray.tune.experiment import Trial

        self.Trial = Trial
        self.n, self.k = n, 0
        self.name = f"scale-{n}"
        self.spec: StudySpec = parse_spec(tiny_spec(self.name, n, algorithm))
        self.study = Storage.parse(str(work)).child(self.name)
        self.study.makedirs()
        self.study.write_bytes(STUDY_MARKER, f"{self.name}\n".encode())
        uri = f"sqlite:///{self.study.local_path('mlflow.db')}"
        self.tracker = StudyTracker(uri, self.name)
        self.parent = self.tracker.start_parent({"study": self.name}, resume=False, tags={})
        self.outputs = StudyOutputs(self.study)
        self.outputs.open(resume=False)
        assert self.outputs.writer is not None
        self.timed = TimedDataset(self.outputs.writer.dataset)
        self.outputs.writer.dataset = self.timed  # type: ignore[assignment]
        self.progress = io.StringIO()
        self.rows = RowsWriter(self.outputs.sink(self.spec), self._say)
        state_url = f"sqlite:///{self.study.local_path('optuna.db')}"
        plan = self.spec.algorithm.build(self.spec.request(state_url))
        self.points, self.searcher = list(plan.points), plan.searcher
        self.trials: list[Any] = []
        self.state_dir = self.study.local_path("tune")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.period = state_period_s(n)
        self.interval = trial_interval
        self.clock, self.last_save = 0.0, -math.inf
        self.saves: list[tuple[int, float]] = []  # (trials so far, seconds)
        self.t: dict[str, float] = {}
        self.tracking_s: list[float] = []
        self.failed: list[tuple[str, str | None, str]] = []
        self.rng = random.Random(n)
        self.tracking_uri = uri

    def _say(self, line: str) -> None:
        print(line, file=self.progress)

    def _time(self, key: str, t0: float) -> float:
        now = time.perf_counter()
        self.t[key] = self.t.get(key, 0.0) + now - t0
        return now

    def step(self) -> None:
        k, self.k = self.k, self.k + 1
        tid = f"s{k:04d}"
        t0 = time.perf_counter()
        # the search proposes the trial
        search = self.searcher
        cfg = search.suggest(tid) if search is not None else {"point": self.points[k]}
        t0 = self._time("search", t0)
        point = cfg.get("point", cfg)
        result = trial_result(tid, dict(point), k, self.rng)  # the trial's work: untimed
        run_id = self._trial_tracking(tid, point, result)
        member = result.pop("member")
        member["run_id"] = run_id
        result["mlflow_run_id"] = run_id
        result["members_json"] = json.dumps([member])
        result["member"] = {"trial_id": tid}  # kept for finish(): the trial's rdlab id
        t0 = time.perf_counter()
        trial = self.Trial("run_trial", config=cfg, experiment_tag=f"{k + 1}_", stub=True)
        trial.update_last_result(result)
        self.trials.append(trial)
        t0 = self._time("tune_result", t0)
        error = None if result["trial_status"] == "ok" else "RuntimeError: bench failure"
        if error is None:
            self.rows.on_trial_complete(k, [], _Named(tid, trial))
        else:
            self.rows._emit(_Named(tid, trial), error)
            self.failed.append((tid, run_id, "error"))
        t0 = self._time("rows_writer", t0)
        if self.searcher is not None:
            self.searcher.on_trial_complete(tid, result, error=error is not None)
        t0 = self._time("search", t0)
        self.clock += self.interval
        if self.clock - self.last_save >= self.period:
            self.saves.append((self.k, self.save_state()))
            self.last_save = self.clock
        self._time("state_save", t0)

    def save_state(self) -> float:
        """What TuneController.save_to_dir writes: every trial's (cached) JSON state, the
        searcher's state."""
        t0 = time.perf_counter()
        state = {"trial_data": [t.get_json_state() for t in self.trials], "runner_data": {}}
        with (self.state_dir / "experiment_state.json").open("w") as fh:
            json.dump(state, fh)
        if self.searcher is not None:
            self.searcher.save_to_dir(str(self.state_dir), session_str="bench")
        return time.perf_counter() - t0

    def _trial_tracking(self, tid: str, point: dict[str, Any], result: dict[str, Any]) -> str:
        """A trial's own MLflow calls (TrialTracker: look for its run, open, params, final
        metrics and tags in one batch, close); timed apart from the driver."""
        t0 = time.perf_counter()
        tt = TrialTracker(self.tracking_uri, self.tracker.experiment_id, self.parent, tid, "b")
        tt.client = self.tracker.client
        assert tt._find_run() is None
        c = self.tracker.client
        tags = {"mlflow.parentRunId": self.parent, "rdlab.trial_id": tid, "rdlab.role": "trial"}
        run_id = str(c.create_run(self.tracker.experiment_id, run_name=tid, tags=tags).info.run_id)
        log_params(c, run_id, {**point, "trial_id": tid})
        m = result["member"]
        metrics = {f"final/val/{key}": x for key, x in m["final"]["val"].items()}
        item = {"step": 1, "ts": int(time.time() * 1000), "metrics": metrics}
        send_items(c, run_id, [{**item, "tags": {"rdlab.status": m["status"]}}])
        if m["status"] == "ok":  # a failed trial's run stays RUNNING: mark_failed closes it
            c.set_terminated(run_id, status="FINISHED")
        self.tracking_s.append(time.perf_counter() - t0)
        return run_id

    def finish(self) -> dict[str, Any]:
        end: dict[str, float] = {}
        t0 = time.perf_counter()
        assert self.outputs.writer is not None
        pending = self.outputs.writer.pending
        errors = self.outputs.close()
        t0 = _lap(end, "writer_drain", t0)
        outcomes = [  # run_search's pass over the ResultGrid
            o
            for t in self.trials
            for o in outcomes_from_result(
                t.last_result["member"]["trial_id"], t.config, t.last_result, None
            )
        ]
        t0 = _lap(end, "outcomes", t0)
        rewritten = self.outputs.write_missing(self.spec, outcomes)
        t0 = _lap(end, "write_missing", t0)
        final = self.save_state()  # Tune's last save (forced, at the end)
        t0 = _lap(end, "state_save_last", t0)
        self.tracker.mark_failed(self.failed)
        t0 = _lap(end, "mark_failed", t0)
        self.tracker.log_metrics({"trials": float(self.n)})
        self.tracker.finish()
        _lap(end, "tracker_finish", t0)
        steps = {key: v / self.n for key, v in self.t.items()}
        loop = sum(steps.values())
        track = self.tracking_s
        return {
            "trials": self.n,
            "driver_ms_per_trial": 1000 * loop,
            "steps_ms_per_trial": {key: 1000 * v for key, v in steps.items()},
            "writer_thread_ms_per_trial": 1000 * self.timed.write_s / self.n,
            "writer_pending_at_end": pending,
            "write_errors": len(errors),
            "rewritten_at_end": rewritten,
            "state_saves": len(self.saves),
            "state_save_period_s": self.period,
            "state_save_s_at_end": final,
            "state_save_s_max": max([s for _, s in self.saves] + [final]),
            "end_s": end,
            "tracking_ms_per_trial_median": {
                "first_100": 1000 * median(track[:100]),
                "last_100": 1000 * median(track[-100:]),
            },
            "progress_lines": self.progress.getvalue().count("trial "),
        }


class _Named:
    """A Tune Trial as RowsWriter sees it: ``str(trial)`` is rdlab's trial id."""

    def __init__(self, tid: str, trial: Any) -> None:
        self.tid, self.config, self.last_result = tid, trial.config, trial.last_result

    def __str__(self) -> str:
        return self.tid


def _lap(into: dict[str, float], key: str, t0: float) -> float:
    now = time.perf_counter()
    into[key] = round(now - t0, 4)
    return now


def driver_only(sizes: list[int], algorithm: str, interval: float) -> dict[str, Any]:
    top = max(sizes)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        studies = {n: DriverStudy(n, Path(tmp), algorithm, interval) for n in sizes}
        t0 = time.perf_counter()
        for step in range(1, top + 1):  # every study advances by the same fraction
            for n, s in studies.items():
                while s.k < n and s.k * top < step * n:
                    s.step()
            if step % 500 == 0:
                print(f"  {step}/{top} steps, {time.perf_counter() - t0:.0f}s", flush=True)
        return {str(n): s.finish() for n, s in studies.items()}


# ----------------------------------------------------------------------------- proposals
def proposals(sizes: list[int], repeats: int) -> dict[str, dict[str, float]]:
    """ms per proposal (suggest + tell) of each Optuna algorithm, study in sqlite, at each
    number of finished trials (filled without sampling: the sampler's cost depends on how
    many trials it reads, not on how they were proposed)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*sampled independently.*")
    out: dict[str, dict[str, float]] = {}
    rng = random.Random(0)
    for name, options in (
        ("optuna-tpe multivariate", {"multivariate": True}),
        ("optuna-tpe independent", {"multivariate": False}),
        ("optuna-nsga2", {}),
    ):
        algo = name.split()[0]
        out[name] = {}
        with tempfile.TemporaryDirectory(prefix="bench_scale_opt_") as tmp:
            spec_data = tiny_spec("proposals", max(sizes), algo)
            spec_data["search"]["options"] = options
            spec = parse_spec(spec_data)
            searcher = spec.algorithm.build(spec.request(f"sqlite:///{tmp}/optuna.db")).searcher
            study = searcher._ot_study
            dist = None
            for n in sizes:
                fill: list[Any] = []
                have = len(study.get_trials(deepcopy=False))
                while have + len(fill) < n:
                    tid = f"fill{have + len(fill)}"
                    if dist is None:  # one sampled trial gives the distributions
                        cfg = searcher.suggest(tid)
                        res = trial_result(tid, cfg, 0, rng)
                        searcher.on_trial_complete(tid, res)
                        dist = study.get_trials(deepcopy=False)[-1].distributions
                        have += 1
                        continue
                    params = {
                        key: d.to_external_repr(d.to_internal_repr(_draw(d, rng)))
                        for key, d in dist.items()
                    }
                    rate = 10.0 / (1.0 + params["objective.beta"]) + rng.random()
                    fill.append(
                        optuna.trial.create_trial(
                            params=params, distributions=dist, values=[rate, 59.0 - rate]
                        )
                    )
                study.add_trials(fill)
                times = []
                for r in range(repeats):
                    tid = f"t{n}_{r}"
                    t0 = time.perf_counter()
                    cfg = searcher.suggest(tid)
                    searcher.on_trial_complete(tid, None, error=True)  # keeps n finished
                    times.append(time.perf_counter() - t0)
                out[name][str(n)] = round(1000 * median(times), 2)
                print(f"  {name:<24} {n:>5} finished trials: {out[name][str(n)]:8.2f} ms")
    return out


def _draw(dist: Any, rng: random.Random) -> Any:
    if hasattr(dist, "choices"):
        return rng.choice(dist.choices)
    if getattr(dist, "log", False):
        return math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
    return rng.uniform(dist.low, dist.high)


# ----------------------------------------------------------------------------- end to end
def end_to_end(n: int, max_concurrent: int) -> dict[str, Any]:
    """A real study of ``n`` tiny trials through studies/rd_frontier.py (Ray Tune, MLflow)."""
    with tempfile.TemporaryDirectory(prefix="bench_scale_e2e_") as tmp:
        work = Path(tmp)
        spec = tiny_spec(f"scale-e2e-{n}", n, "random")
        spec["max_concurrent"] = max_concurrent
        path = work / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        cmd = [sys.executable, str(ROOT / "studies/rd_frontier.py"), "--spec", str(path)]
        cmd += ["--storage", str(work)]
        marks: list[float] = []
        ok = 0
        t0 = time.perf_counter()
        with (work / "log.txt").open("w") as log:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, text=True
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if line.startswith("[") and " trial " in line:
                    marks.append(time.perf_counter() - t0)
                    ok += line.split()[3:4] == ["ok"]
            proc.wait()
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(
                f"{cmd} exited {proc.returncode}:\n{(work / 'log.txt').read_text()[-3000:]}"
            )
        tune_dir = work / spec["study"] / "tune" / "search"
        state = max(tune_dir.glob("experiment_state-*.json"))
        ckpts = sorted(tune_dir.glob("*/checkpoint_*"))
        quarter = max(1, len(marks) // 4)
        return {
            "trials": n,
            "trials_ok": ok,
            "max_concurrent": max_concurrent,
            "wall_s": wall,
            "trials_per_hour": 3600 * n / wall,
            "first_trial_at_s": marks[0] if marks else math.nan,
            "s_per_trial_first_quarter": _pace(marks[:quarter]),
            "s_per_trial_last_quarter": _pace(marks[-quarter:]),
            "experiment_state_bytes": state.stat().st_size,
            "checkpoint_dirs_left": len(ckpts),
        }


def _pace(marks: list[float]) -> float:
    return (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else math.nan


# ----------------------------------------------------------------------------- main
def main() -> int:
    p = parser("bench_scale", __doc__)
    p.add_argument("--sizes", default="100,1000,5000", help="study sizes, run side by side")
    p.add_argument("--search", default="random", help="the studies' search algorithm")
    p.add_argument("--trial-interval", type=float, default=3.0,
                   help="simulated seconds between trial ends (Tune's save clock)")  # fmt: skip
    p.add_argument("--proposals", action="store_true", help="also time Optuna's proposals")
    p.add_argument("--repeats", type=int, default=10, help="proposals timed at each size")
    p.add_argument("--end-to-end", type=int, default=0, metavar="N",
                   help="instead: a real study of N tiny trials (Ray Tune, MLflow)")  # fmt: skip
    p.add_argument("--max-concurrent", type=int, default=2)
    args = p.parse_args()
    if args.end_to_end and args.json == BENCH_DIR / "bench_scale.json":  # keep both records
        args.json = BENCH_DIR / "bench_scale_e2e.json"
    sizes = sorted(int(s) for s in args.sizes.split(","))
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    t0 = time.perf_counter()
    if args.end_to_end:
        e2e = end_to_end(args.end_to_end, args.max_concurrent)
        record: dict[str, Any] = {"benchmark": "scale", "mode": "end_to_end", "end_to_end": e2e}
        print(json.dumps(e2e, indent=2))
    else:
        res = driver_only(sizes, args.search, args.trial_interval)
        record = {"benchmark": "scale", "mode": "driver_only", "search": args.search,
                  "trial_interval_s": args.trial_interval, "studies": res}  # fmt: skip
        _print_table(res)
        if args.proposals:
            record["ms_per_proposal"] = proposals(sizes, args.repeats)
        lo, hi = res[str(sizes[0])], res[str(sizes[-1])]
        growth = ratio(hi["driver_ms_per_trial"], lo["driver_ms_per_trial"])
        record["ratio_largest_over_smallest"] = growth
        print_ratios(
            f"driver time per trial, {sizes[-1]} vs {sizes[0]} trials",
            [(f"driver ms/trial {sizes[-1]}/{sizes[0]}", growth, f"target ≤ {TARGET}")],
        )
    record["wall_s"] = time.perf_counter() - t0
    record["loadavg_start"] = " ".join(load0)
    record["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    write_record(args.json, record)
    print(f"record: {args.json}  (load {record['loadavg_start']} → {record['loadavg_end']})")
    return 0


def _print_table(res: dict[str, Any]) -> None:
    keys = ["search", "tune_result", "rows_writer", "state_save"]
    print(f"{'trials':>6} {'driver ms/trial':>16} " + " ".join(f"{k:>12}" for k in keys)
          + f" {'writer thr':>10} {'saves':>5} {'save s':>7} {'tracking ms':>12}")  # fmt: skip
    for n, r in res.items():
        steps = r["steps_ms_per_trial"]
        tr = r["tracking_ms_per_trial_median"]
        print(f"{n:>6} {r['driver_ms_per_trial']:>16.2f} "
              + " ".join(f"{steps.get(k, 0.0):>12.2f}" for k in keys)
              + f" {r['writer_thread_ms_per_trial']:>10.2f} {r['state_saves']:>5}"
              f" {r['state_save_s_max']:>7.3f}"
              f" {tr['first_100']:>5.1f}→{tr['last_100']:<5.1f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
