"""Bad input, fuzzed (issue 7 §5): malformed specs and command lines, generated.

Every case must exit 2 with exactly one line on stderr, ``error: <field>: …``, naming the
field (or option, or path) that is wrong, with no traceback and nothing written. Most
cases run in-process through the CLIs' ``main`` functions; a spec that validates by
accident would reach ``_run`` (or ``run_train``), which the tests replace by a failure.
A handful run as real processes at the end. Examples are derandomized: CI sees the same
cases every run. ``CASES`` counts them (printed by the last test).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import math
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdlab.config_io import set_path
from rdlab.track.uri import TRACKING_SCHEMES

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())
CASES: Counter[str] = Counter()
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _load_main_job() -> Any:
    spec = importlib.util.spec_from_file_location("rd_frontier", ROOT / "studies/rd_frontier.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RD_FRONTIER = _load_main_job()


@pytest.fixture(autouse=True)
def _never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed input that slips through must fail the test, not start Ray."""

    def accepted(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("malformed input was accepted")

    monkeypatch.setattr("rdlab.driver.runner._run", accepted)
    monkeypatch.setattr("rdlab.cli.train.run_train", accepted)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    # Not tmp_path: hypothesis runs many examples inside one test function.
    d = Path(tempfile.mkdtemp(prefix="rdlab-fuzz-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _run(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _assert_refused(code: int, stdout: str, stderr: str, names: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, (code, stdout, stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    assert names in lines[0], (names, lines[0])
    assert "Traceback" not in stderr + stdout


def _study_case(data: dict[str, Any], field: str, smoke: bool, family: str) -> None:
    from rdlab.driver.runner import SMOKE

    smoke = smoke and field not in SMOKE  # --smoke-test would overwrite the bad value
    with _scratch() as d:
        spec = d / "spec.yaml"
        spec.write_text(yaml.safe_dump(data, sort_keys=False))
        storage = d / "runs"
        argv = ["--spec", str(spec), "--storage", str(storage)] + (["--smoke-test"] * smoke)
        code, out, err = _run(RD_FRONTIER.main, argv)
        _assert_refused(code, out, err, f"error: {field}")
        assert not storage.exists()
    CASES[family] += 1


# ----------------------------------------------------------------------------- strategies
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
NOT_A_NUMBER_WORD = NAME.filter(lambda s: s.lower() not in ("inf", "nan", "infinity"))
JUNK = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.integers(), min_size=1),
    NOT_A_NUMBER_WORD,
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NEGATIVE = st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False)


def _sections() -> dict[str, set[str]]:
    """Allowed keys per mapping of the shipped spec, from the models that validate them
    (so a field another change adds is never generated as "unknown")."""
    from rdlab import config as C
    from rdlab.registry import DATASETS, MODELS, SIGMA_POLICIES
    from rdlab.study import spec as S

    def opts(registry: Any, name: str) -> set[str]:
        return set(registry.get(name, "x").Options.model_fields)

    return {
        "": set(S.SpecModel.model_fields),
        "dataset": set(C.DatasetConfig.model_fields) | opts(DATASETS, "digits"),
        "model": set(C.ModelConfig.model_fields) | opts(MODELS, "mlp_resnet"),
        "train": set(C.TrainConfig.model_fields),
        "objective": set(C.ObjectiveConfig.model_fields),
        "objective.sigma": set(C.SigmaConfig.model_fields) | opts(SIGMA_POLICIES, "optimal_sample"),
        "objective.mixture": set(C.MixtureConfig.model_fields),
        "eval": set(C.EvalConfig.model_fields),
        "search": set(S.Search.model_fields),
        "resources": set(S.Resources.model_fields),
        "search.space": set(),  # any new key is a parameter path outside the trial config
    }


SECTIONS = _sections()
# Numeric fields: lists, mappings and words never coerce to a number.
TYPED = [
    "train.epochs",
    "train.batch_size",
    "train.lr",
    "train.seed",
    "objective.beta",
    "objective.mixture.kl_g",
    "model.latent_dim",
    "search.num_samples",
    "search.seed",
    "max_concurrent",
    "max_failures",
    "resources.cpu",
    "eval.iwae_k",
    "dataset.val_fraction",
]
SECTION_FIELDS = ["dataset", "model", "train", "objective", "search", "resources", "eval"]
TRIAL_SECTIONS = ["dataset", "model", "train", "objective", "eval"]
WEIGHTS = [
    "objective.beta",
    "objective.mixture.kl_g",
    "objective.mixture.kl_i",
    "objective.l1",
    "objective.adversarial.weight",
]
NUMBERS = [
    *WEIGHTS,
    "train.lr",
    "train.grad_clip",
    "resources.cpu",
    "objective.sigma.min_log_sigma",
    "objective.adversarial.lr",
    "dataset.val_fraction",
]
PLUGINS = {
    "model.name": "model.name",
    "dataset.name": "dataset.name",
    "objective.sigma.policy": "objective.sigma.policy",
    "search.algorithm": "search.algorithm",
}


def _with(path: str, value: Any) -> dict[str, Any]:
    return set_path(copy.deepcopy(BASE), path, value)


@st.composite
def unknown_keys(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    section = draw(st.sampled_from(sorted(SECTIONS)))
    key = draw(NAME.filter(lambda k: k not in SECTIONS[section]))
    value: Any = draw(st.one_of(st.integers(), NAME))
    if section == "search.space":
        value = {"choice": [1]}
    field = f"{section}.{key}" if section else key
    data = copy.deepcopy(BASE)
    node = data
    for part in section.split(".") if section else []:
        node = node.setdefault(part, {})
    node[key] = value
    return data, field


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    if draw(st.booleans()):
        field = draw(st.sampled_from(TYPED))
        return _with(field, draw(JUNK)), field
    field = draw(st.sampled_from(SECTION_FIELDS))
    junk = st.one_of(st.lists(st.integers(), min_size=1, max_size=3), NAME, st.integers())
    data = copy.deepcopy(BASE)
    data[field] = draw(junk)
    return data, field


@st.composite
def bad_numbers(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    if draw(st.booleans()):
        field = draw(st.sampled_from(WEIGHTS))
        return _with(field, draw(st.one_of(NON_FINITE, NEGATIVE))), field
    field = draw(st.sampled_from(NUMBERS))
    return _with(field, draw(NON_FINITE)), field


@st.composite
def empty_spaces(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    data = copy.deepcopy(BASE)
    data["search"]["algorithm"] = draw(st.sampled_from(["optuna-tpe", "optuna-nsga2", "random"]))
    kind = draw(st.sampled_from(["none", "empty choice", "empty range", "no domain"]))
    if kind == "none":
        data["search"]["space"] = draw(st.sampled_from([{}, None]))
        return data, "search.space"
    path = draw(st.sampled_from(sorted(BASE["search"]["space"])))
    empty: dict[str, dict[str, list[Any]]] = {
        "empty choice": {"choice": []},
        "empty range": {"loguniform": []},
    }
    domain = empty.get(kind, {})
    data["search"]["space"][path] = domain
    return data, f"search.space.{path}"


@st.composite
def unknown_plugins(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    name = "zz" + draw(NAME)  # no plugin or algorithm starts with "zz"
    if draw(st.booleans()):
        field = draw(st.sampled_from(sorted(PLUGINS)))
        return _with(field, name), PLUGINS[field]
    data = copy.deepcopy(BASE)
    choices = data["search"]["space"]["objective.sigma.policy"]["choice"]
    choices.insert(draw(st.integers(0, len(choices))), name)
    return data, "search.space.objective.sigma.policy"


# ----------------------------------------------------------------------------- specs
@SETTINGS
@given(case=unknown_keys(), smoke=st.booleans())
def test_unknown_keys(case: tuple[dict[str, Any], str], smoke: bool) -> None:
    _study_case(*case, smoke=smoke, family="spec: unknown key")


@SETTINGS
@given(case=wrong_types(), smoke=st.booleans())
def test_wrong_types(case: tuple[dict[str, Any], str], smoke: bool) -> None:
    _study_case(*case, smoke=smoke, family="spec: wrong type")


@SETTINGS
@given(case=bad_numbers(), smoke=st.booleans())
def test_nan_inf_negative_numbers(case: tuple[dict[str, Any], str], smoke: bool) -> None:
    _study_case(*case, smoke=smoke, family="spec: NaN/inf/negative")


@settings(SETTINGS, max_examples=60)
@given(case=empty_spaces(), smoke=st.booleans())
def test_empty_search_spaces(case: tuple[dict[str, Any], str], smoke: bool) -> None:
    _study_case(*case, smoke=smoke, family="spec: empty search space")


@settings(SETTINGS, max_examples=100)
@given(case=unknown_plugins(), smoke=st.booleans())
def test_unknown_plugins(case: tuple[dict[str, Any], str], smoke: bool) -> None:
    _study_case(*case, smoke=smoke, family="spec: unknown plugin")


# ----------------------------------------------------------------------------- command lines
OPTIONS = ("--spec", "--storage", "--tracking-uri", "--smoke-test", "--resume", "--help")


@settings(SETTINGS, max_examples=60)
@given(word=NAME.filter(lambda w: not any(o.startswith(f"--{w}") for o in OPTIONS)))
def test_unknown_options(word: str) -> None:
    code, out, err = _run(RD_FRONTIER.main, [f"--{word}"])
    _assert_refused(code, out, err, f"--{word}")
    CASES["cli: unknown option"] += 1


@pytest.mark.parametrize("option", ["--spec", "--storage", "--tracking-uri"])
def test_option_without_value(option: str) -> None:
    code, out, err = _run(RD_FRONTIER.main, ["--smoke-test", option])
    _assert_refused(code, out, err, option)
    CASES["cli: missing value"] += 1


@settings(SETTINGS, max_examples=80)
@given(
    kind=st.sampled_from(["missing", "directory", "bytes", "not a mapping", "bad yaml"]),
    blob=st.binary(max_size=64),
    top=st.one_of(st.lists(st.integers(), max_size=3), st.integers(), NAME),
)
def test_unreadable_spec_paths(kind: str, blob: bytes, top: Any) -> None:
    with _scratch() as d:
        path = d / "spec.yaml"
        if kind == "directory":
            path.mkdir()
        elif kind == "bytes":
            path.write_bytes(b"\xff\xfe" + blob)  # never UTF-8
        elif kind == "not a mapping":
            path.write_text(yaml.safe_dump(top))
        elif kind == "bad yaml":
            path.write_text("study: [unclosed\n  - " + blob.hex())
        storage = d / "runs"
        code, out, err = _run(RD_FRONTIER.main, ["--spec", str(path), "--storage", str(storage)])
        _assert_refused(code, out, err, f"error: {path}: ")
        assert not storage.exists()
    CASES["cli: unreadable spec"] += 1


@settings(SETTINGS, max_examples=60)
@given(
    scheme=NAME.filter(lambda s: s not in TRACKING_SCHEMES),
    user=NAME,
    password=st.from_regex(r"PW[A-Z0-9]{6,12}", fullmatch=True),  # never in a scheme
    no_host=st.booleans(),
)
def test_bad_tracking_uris_are_refused_without_echoing_passwords(
    scheme: str, user: str, password: str, no_host: bool
) -> None:
    uri = f"http://{user}:{password}@/x" if no_host else f"{scheme}://{user}:{password}@h:1"
    with _scratch() as d:
        spec = d / "spec.yaml"
        spec.write_text(yaml.safe_dump(BASE))
        argv = ["--spec", str(spec), "--storage", str(d / "runs"), "--tracking-uri", uri]
        code, out, err = _run(RD_FRONTIER.main, argv)
        _assert_refused(code, out, err, "error: --tracking-uri: ")
        assert password not in out + err
        assert not (d / "runs").exists()
    CASES["cli: bad tracking URI"] += 1


@pytest.mark.parametrize("below", [False, True])
def test_storage_that_is_a_file(tmp_path: Path, below: bool) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(BASE))
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    storage = blocker / "runs" if below else blocker
    code, out, err = _run(RD_FRONTIER.main, ["--spec", str(spec), "--storage", str(storage)])
    _assert_refused(code, out, err, "error: --storage: ")
    assert blocker.read_text() == "keep me"
    CASES["cli: storage not a folder"] += 1


def test_resume_with_nothing_to_resume(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(BASE))
    argv = ["--spec", str(spec), "--storage", str(tmp_path / "runs"), "--resume"]
    code, out, err = _run(RD_FRONTIER.main, argv)
    _assert_refused(code, out, err, "error: --resume: ")
    assert not (tmp_path / "runs").exists()
    CASES["cli: nothing to resume"] += 1


# ----------------------------------------------------------------------------- rdlab train
@st.composite
def bad_overrides(draw: st.DrawFn) -> tuple[list[str], str]:
    family = draw(st.sampled_from(["unknown", "type", "weight", "plugin", "syntax"]))
    if family == "unknown":
        section = draw(st.sampled_from(["train", "objective", "eval", "dataset", "model"]))
        key = draw(NAME.filter(lambda k: k not in SECTIONS[section]))
        return [f"{section}.{key}=1"], f"{section}.{key}"
    if family == "type":
        field = draw(st.sampled_from([f for f in TYPED if f.split(".")[0] in TRIAL_SECTIONS]))
        return [f"{field}={draw(NOT_A_NUMBER_WORD)}"], field
    if family == "weight":
        field = draw(st.sampled_from(["objective.beta", "objective.l1"]))
        value = draw(st.one_of(NEGATIVE, NON_FINITE))
        return [f"{field}={value!r}".replace("nan", ".nan").replace("inf", ".inf")], field
    if family == "plugin":
        field = draw(st.sampled_from(["model.name", "dataset.name", "objective.sigma.policy"]))
        return [f"{field}=zz{draw(NAME)}"], field
    return [draw(NAME)], "--set"  # no '='


@settings(SETTINGS, max_examples=120)
@given(case=bad_overrides())
def test_rdlab_train_overrides(case: tuple[list[str], str]) -> None:
    from rdlab.cli import main

    sets, field = case
    with _scratch() as d:
        out = d / "out"
        argv = ["train", *[a for s in sets for a in ("--set", s)], "--out", str(out)]
        code, stdout, stderr = _run(main, argv)
        _assert_refused(code, stdout, stderr, f"error: {field}")
        assert not out.exists()
    CASES["rdlab train: bad --set"] += 1


# Gaps the fuzz found in rdlab/config.py, now closed: every config float refuses NaN/inf.
CONFIG_GAPS = [
    ("objective.mixture.kl_g", "inf"),
    ("objective.mixture.kl_i", "inf"),
    ("objective.adversarial.weight", "inf"),
    ("objective.sigma.min_log_sigma", ".nan"),
    ("train.grad_clip", ".inf"),
]


@pytest.mark.parametrize(("field", "value"), CONFIG_GAPS)
def test_rdlab_train_refuses_non_finite(field: str, value: str) -> None:
    from rdlab.cli import main

    with _scratch() as d:
        code, out, err = _run(main, ["train", "--set", f"{field}={value}", "--out", str(d / "o")])
    _assert_refused(code, out, err, f"error: {field}")


# ----------------------------------------------------------------------------- real processes
def _real_cases(tmp: Path) -> list[tuple[list[str], str]]:
    def spec(path: str, value: Any) -> str:
        f = tmp / f"{path}.yaml"
        f.write_text(yaml.safe_dump(_with(path, value)))
        return str(f)

    job = [sys.executable, str(ROOT / "studies/rd_frontier.py"), "--storage", str(tmp / "runs")]
    blocker = tmp / "blocker"
    blocker.write_text("")
    return [
        ([*job, "--spec", spec("train.epoks", 3)], "error: train.epoks: "),
        ([*job, "--spec", spec("objective.mixture.kl_g", math.inf)], "error: objective.mixture"),
        ([*job, "--spec", spec("model.name", "zznope"), "--smoke-test"], "error: model.name: "),
        ([*job, "--spec", str(tmp)], f"error: {tmp}: "),
        ([*job[:-2], "--storage", str(blocker)], "error: --storage: "),
        ([*job, "--tracking-uri", "ftp://u:hunter2@h"], "error: --tracking-uri: "),
    ]


def test_bad_input_in_real_processes(tmp_path: Path) -> None:
    cases = _real_cases(tmp_path)
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for cmd, _ in cases
    ]
    for proc, (_, expect) in zip(procs, cases, strict=True):
        out, err = proc.communicate(timeout=180)
        _assert_refused(proc.returncode, out, err, expect)
        assert "hunter2" not in out + err
        CASES["real process"] += 1
    assert not (tmp_path / "runs").exists()


def test_report_case_count() -> None:
    """Last in this file: how many malformed inputs ran (see the issue's report)."""
    total = sum(CASES.values())
    print(f"\nbad-input cases run: {total} " + str(dict(sorted(CASES.items()))))
    assert total > 0
