"""The report renders in a real headless Chromium with the network blocked.

Chromium is driven over the DevTools protocol (websocket-client): open report.html from
disk, wait for the page's own ready event (loaded, every Plotly figure laid out), read back
the RD plane's traces and the sample gallery's layout, take a screenshot, and collect
console errors, uncaught exceptions and any request that left file:/data: URLs.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rdlab.dashboards.report import build_report
from rdlab.frontier.synthetic import synthetic_rd_points
from rdlab.frontier.table import frontier_table

from studies.tools.devtools import CANDIDATES, DevTools, chromium, find_chromium
from tests.helpers import skip_unless_ci

pytestmark = pytest.mark.browser

POLICIES = ("fixed", "learned_vector", "optimal_global", "optimal_sample")
KINDS = ["data", "reconstruction", "prior", "gmm", "sigma_map"]
_FLAGS = (
    "--window-size=1280,900",
    # nothing leaves the machine: a request to the network fails and is recorded
    "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
)  # fmt: skip
_GALLERY_JS = """(() => {
  const table = document.querySelector('table.gallery');
  if (!table) return null;
  return JSON.stringify({
    head: Array.from(table.querySelectorAll('thead th[data-kind]')).map(th => th.dataset.kind),
    rows: Array.from(table.querySelectorAll('tbody tr')).map(tr => ({
      trial: tr.dataset.trial,
      label: tr.querySelector('th.label').textContent,
      cells: Array.from(tr.querySelectorAll('td')).map(td => {
        const img = td.querySelector('img');
        return {kind: td.dataset.kind, img: !!img,
                w: img ? img.clientWidth : 0, h: img ? img.clientHeight : 0,
                natural: img ? img.naturalWidth : 0};
      }),
    })),
    notes: Array.from(document.querySelectorAll('ul.notes li')).map(li => li.textContent),
  });
})()"""
_READY_JS = """new Promise(done => document.body && document.body.dataset.ready === '1'
  ? done(true) : document.addEventListener('rdlab:ready', () => done(true)))"""
_TRACES_JS = """(() => {
  const el = document.getElementById('rd-plane');
  if (!el || !el._fullLayout || !el.data) return null;
  return JSON.stringify({
    traces: el.data.map((t, i) => ({name: t.name, meta: t.meta || {}, n: el.calcdata[i].length})),
    markers: el.querySelectorAll('.scatterlayer .point').length,
    drawn: el.querySelectorAll('.scatterlayer .trace').length,
    plots: document.querySelectorAll('.plotly-graph-div .main-svg').length,
    hover: el.data[0].hovertemplate,
    first: el.data[0].customdata[0],
  });
})()"""


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    binary = find_chromium()
    if binary is None:
        skip_unless_ci(f"no Chromium binary found (looked for {', '.join(CANDIDATES)})")
    with chromium(binary, tmp_path / "profile", _FLAGS, timeout=20) as dt:
        for domain in ("Runtime", "Log", "Page", "Network"):
            dt.call(f"{domain}.enable")
        yield dt


def _pictures(folder: Path, sigma_maps: bool) -> list[str]:
    """The pictures a digits trial writes (rdlab.evaluate.render), from made-up arrays."""
    from rdlab.evaluate.pictures import Decoded, PictureData
    from rdlab.evaluate.render import render_all

    rng = np.random.default_rng(0)

    def decoded(n: int) -> Decoded:
        mean = rng.random((n, 1, 8, 8)).astype(np.float32)
        return Decoded(mean, np.full_like(mean, 0.1) + 0.2 * mean)

    data = PictureData(
        kind="image",
        inputs=rng.random((16, 1, 8, 8)).astype(np.float32),
        recon=decoded(16),
        prior=decoded(64),
        gmm=decoded(64),
        sigma_maps=sigma_maps,
        curves={"val: exp(mean log σ_x)": ([1.0, 2.0, 3.0], [0.5, 0.3, 0.2])},
    )
    return [p.name for p in render_all(data, folder)]


def _with_pictures(points: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Each final row lists its trial's pictures (relative to the study folder, as the
    study writes them): a σ map only for learned_vector; one trial's GMM grid is missing."""
    plain = _pictures(root / "_plain", sigma_maps=False)
    mapped = _pictures(root / "_mapped", sigma_maps=True)
    assert "sigma_map.png" in mapped and "sigma_curve.png" in plain
    final = points["epoch"].isna()
    for i in points.index[final]:
        trial, policy = points.at[i, "trial_id"], points.at[i, "sigma_policy"]
        src = root / ("_mapped" if policy == "learned_vector" else "_plain")
        rel = Path("trials") / trial / "artifacts"
        (root / rel).mkdir(parents=True, exist_ok=True)
        names = mapped if policy == "learned_vector" else plain
        for name in names:
            (root / rel / name).write_bytes((src / name).read_bytes())
        points.at[i, "artifacts"] = json.dumps([str(rel / n) for n in names])
    return points


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, pd.DataFrame, str]:
    points = synthetic_rd_points(40, policies=POLICIES, seeds=2, epochs=6, rng_seed=3)
    points = _with_pictures(points, tmp_path)
    table = frontier_table(points[points["epoch"].isna()], "nll_opt", "sigma_policy")
    front = table[table["on_frontier"] | table["on_group_frontier"]].sort_values("rate")
    lost = str(front["trial_id"].iloc[1])  # a listed picture that is not there
    (tmp_path / "trials" / lost / "artifacts" / "samples_gmm.png").unlink()
    return tmp_path, points, lost


@pytest.fixture
def report(study: tuple[Path, pd.DataFrame, str]) -> Path:
    root, points, _ = study
    paths = build_report(points, root / "out", "browser test", artifact_root=root)
    return Path(paths["html"])


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(f"console: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return out


def _requests_off_disk(events: list[dict[str, Any]]) -> list[str]:
    urls = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    return [u for u in urls if not u.startswith(("file:", "data:"))]


def _rendered_state(dt: DevTools, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = dt.evaluate(_TRACES_JS)
        if state:
            parsed: dict[str, Any] = json.loads(state)
            if parsed["drawn"] == len(parsed["traces"]) and parsed["plots"] >= 3:
                return parsed
        time.sleep(0.1)
    raise TimeoutError("the RD plane never finished rendering")


def test_report_renders_offline(
    devtools: DevTools, report: Path, study: tuple[Path, pd.DataFrame, str], tmp_path: Path
) -> None:
    devtools.call("Page.navigate", url=report.resolve().as_uri())
    devtools.wait_for("Page.loadEventFired")
    assert devtools.evaluate(_READY_JS, await_promise=True) is True  # the page's own event
    state = _rendered_state(devtools)

    kinds = [t["meta"].get("kind") for t in state["traces"]]
    point_policies = [
        t["meta"]["sigma_policy"] for t in state["traces"] if t["meta"].get("kind") == "points"
    ]
    assert sorted(point_policies) == sorted(POLICIES)  # exactly one points trace per σ policy
    frontier_groups = {
        t["meta"]["group"] for t in state["traces"] if t["meta"].get("kind") == "frontier"
    }
    assert frontier_groups == {*POLICIES, "overall"}
    assert set(kinds) == {"points", "frontier"}
    assert all(t["n"] > 0 for t in state["traces"])
    for label in ("β", "σ policy", "KL_G", "KL_I", "trial", "MLflow run"):
        assert label in state["hover"]
    assert any(cell.startswith("t00") for cell in state["first"])  # a trial id in the hover

    _check_gallery(devtools, study)

    metrics = devtools.call("Page.getLayoutMetrics")["cssContentSize"]
    shot = devtools.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={
            "x": 0,
            "y": 0,
            "width": metrics["width"],
            "height": min(metrics["height"], 4000),
            "scale": 1,
        },
    )
    png = tmp_path / "report.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.stat().st_size > 10_000

    # Console messages raised while loading arrive before the answer to any later call.
    devtools.evaluate("1")
    assert _errors(devtools.events) == []
    assert _requests_off_disk(devtools.events) == []


def _check_gallery(devtools: DevTools, study: tuple[Path, pd.DataFrame, str]) -> None:
    _, points, lost = study
    gallery = json.loads(devtools.evaluate(_GALLERY_JS))
    table = frontier_table(points[points["epoch"].isna()], "nll_opt", "sigma_policy")
    front = table[table["on_frontier"] | table["on_group_frontier"]].sort_values("rate")
    expected = front["trial_id"].drop_duplicates().head(12).tolist()
    assert gallery["head"] == KINDS  # σ-vs-epoch curves are not a gallery column
    assert [r["trial"] for r in gallery["rows"]] == expected  # one row per frontier trial
    policy = dict(zip(front["trial_id"], front["sigma_policy"], strict=False))
    sizes: dict[str, set[tuple[int, int]]] = {k: set() for k in KINDS}
    for row in gallery["rows"]:
        assert [c["kind"] for c in row["cells"]] == KINDS  # same columns, same order
        for part in ("β=", "σ policy", policy[row["trial"]], "KL_G=", "KL_I="):
            assert part in row["label"]
        shown = {c["kind"] for c in row["cells"] if c["img"]}
        want = set(KINDS) if policy[row["trial"]] == "learned_vector" else set(KINDS[:4])
        if row["trial"] == lost:
            want.discard("gmm")
        assert shown == want, row
        for c in row["cells"]:
            if c["img"]:
                assert c["natural"] > 0  # decoded
                sizes[c["kind"]].add((c["w"], c["h"]))
    assert all(len(s) == 1 for k, s in sizes.items() if s), sizes  # one size per kind
    assert sizes["data"] == sizes["reconstruction"]
    assert any("sigma_map" in k and s for k, s in sizes.items())
    missing = [n for n in gallery["notes"] if "listed but not found" in n]
    assert len(missing) == 1 and lost in missing[0] and "samples_gmm.png" in missing[0]
