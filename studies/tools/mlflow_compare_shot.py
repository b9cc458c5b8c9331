"""The README's MLflow picture: a study's trial runs in MLflow's own UI, ``final/val/rate``
(x) against ``final/val/nll_opt`` (y), one colour per σ policy.

    python studies/tools/mlflow_compare_shot.py runs/<study> --out docs/img/mlflow-compare.png

Everything runs on loopback, in a temporary folder that is removed at the end:

1. ``<study>/mlflow.db`` is copied (sqlite backup API; the study's own file is only read);
2. ``mlflow server`` serves the copy (127.0.0.1, a free port, ``--allowed-hosts`` set to that
   address: MLflow 3.x checks the Host header);
3. the view is stored on the copy as the experiment tag ``mlflow.sharedViewState.<key>``,
   which is how the UI's own *Share* button hands a view over: the runs filter
   ``tags.`rdlab.role` = 'trial'`` (the child runs, not the parent), one section holding one
   scatter chart (x ``final/val/rate``, y ``final/val/nll_opt``), the runs grouped by the
   param ``objective.sigma.policy`` with one marker per run ("use grouped values in charts"
   off), every run visible, sorted by policy;
4. headless Chromium, driven over the DevTools protocol (websocket-client), opens
   ``#/experiments/<id>/runs?compareRunsMode=CHART&viewStateShareKey=<key>``. Before the page
   loads, the UI's colour store (localStorage ``experimentRunColors``, which its colour picker
   writes) gets one colour per policy for every run, and the assistant panel that MLflow
   opens on a local server's first visit is marked as already shown;
5. once the scatter has one marker per trial run, it clicks what a person would: hide the
   shared-view banner, collapse the sidebar, drag the runs table a little wider (so the
   group names are not cut), then checks the picture -- axis titles, one marker per run,
   marker colours = the policy colours, a group row per policy -- and saves a screenshot.

The page is laid out at ``--size`` / ``--zoom`` CSS pixels and captured at ``--size`` pixels:
at 1280×800 a zoom below 1 is what fits the four group rows, their 16 runs and the scatter
with both axis titles into one screen. Every process started here (the server's process
group, Chromium) is stopped by its id.
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python studies/tools/mlflow_compare_shot.py` from anywhere
    sys.path.insert(0, str(ROOT))

from studies.tools.devtools import CANDIDATES, DevTools, chromium, find_chromium  # noqa: E402
from studies.tools.mlflow_server import LOOPBACK, mlflow_server  # noqa: E402

X_METRIC = "final/val/rate"
Y_METRIC = "final/val/nll_opt"
GROUP_PARAM = "objective.sigma.policy"
TRIAL_FILTER = "tags.`rdlab.role` = 'trial'"
SHARE_KEY = "rdlab-rd-scatter"
SHARE_TAG = "mlflow.sharedViewState." + SHARE_KEY  # EXPERIMENT_PAGE_VIEW_STATE_SHARE_TAG_PREFIX
# One colour per σ policy (Plotly's first hues); policies not listed take the spare ones.
POLICY_COLOURS = {
    "fixed": "#1f77b4",
    "learned_scalar": "#ff7f0e",
    "optimal_global": "#2ca02c",
    "optimal_sample": "#d62728",
    "learned_vector": "#9467bd",
}
SPARE_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
CHROMIUM_FLAGS = (
    "--disable-extensions", "--hide-scrollbars",
    # Nothing but loopback (bypassed by default) reaches the network.
    "--proxy-server=127.0.0.1:9",
)  # fmt: skip


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a (possibly open) sqlite file; the source is opened read-only."""
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def rest(uri: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with LOOPBACK.open(req, timeout=30) as resp:
        return dict(json.load(resp))


def find_experiment(uri: str, name: str | None) -> dict[str, Any]:
    exps = rest(uri, "experiments/search", {"max_results": 1000}).get("experiments", [])
    exps = [e for e in exps if (e["name"] == name if name else e["name"] != "Default")]
    if len(exps) != 1:
        names = ", ".join(e["name"] for e in exps) or "none"
        raise SystemExit(f"expected one study experiment, found: {names} (use --experiment)")
    return exps[0]


def trial_runs(uri: str, experiment_id: str) -> list[dict[str, Any]]:
    """The study's trial runs that carry both metrics of the picture."""
    body = {"experiment_ids": [experiment_id], "filter": TRIAL_FILTER, "max_results": 1000}
    runs = rest(uri, "runs/search", body).get("runs", [])
    wanted = {X_METRIC, Y_METRIC}
    return [r for r in runs if wanted <= {m["key"] for m in r["data"].get("metrics", [])}]


def policy(run: dict[str, Any]) -> str:
    for p in run["data"].get("params", []):
        if p["key"] == GROUP_PARAM:
            return str(p["value"])
    return ""


def policy_colours(policies: list[str]) -> dict[str, str]:
    spare = iter(SPARE_COLOURS * (1 + len(policies) // len(SPARE_COLOURS)))
    return {p: POLICY_COLOURS.get(p) or next(spare) for p in policies}


def run_colours(runs: list[dict[str, Any]], colours: dict[str, str]) -> dict[str, str]:
    """experimentRunColors: each run (and each group row) -> its policy's colour."""
    out = {r["info"]["run_id"]: colours[policy(r)] for r in runs}
    # The UI's group id is "<mode>.<key>.<value>" (experimentPage.group-row-utils).
    out.update({f"param.{GROUP_PARAM}.{p or None}": c for p, c in colours.items()})
    return out


def view_state(chart_height: int) -> dict[str, Any]:
    """Search facets + experiment-page UI state, the JSON the UI's Share button stores."""
    section = "rdlab-rd"
    return {
        "searchFilter": TRIAL_FILTER,
        "orderByKey": f"params.`{GROUP_PARAM}`",
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "compareRunCharts": [
            {
                "uuid": "rdlab-rate-vs-nll-opt",
                "type": "SCATTER",
                "xaxis": {"key": X_METRIC, "type": "METRIC"},
                "yaxis": {"key": Y_METRIC, "type": "METRIC"},
                "runsCountToCompare": 100,
                "metricSectionId": section,
                "deleted": False,
                "isGenerated": False,
            }
        ],
        "compareRunSections": [
            {
                "uuid": section,
                "name": "Rate vs distortion (validation, end of training)",
                "display": True,
                "isReordered": False,
                "deleted": False,
                "isGenerated": False,
                "columns": 1,
                "cardHeight": chart_height,
            }
        ],
        "isAccordionReordered": True,
        "hideEmptyCharts": True,
        "chartsSearchFilter": "",
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": GROUP_PARAM}],
        },
        "useGroupedValuesInCharts": False,  # one marker per run, not one per group
        "groupsExpanded": {},  # all expanded: a collapsed group's runs leave the charts
        "runsHiddenMode": "SHOW_ALL",  # the default shows the first 10 runs only
        "runsHidden": [],
        "runsVisibilityMap": {},
        "runsPinned": [],
        "runsExpanded": {},
        "viewMaximized": False,
        "runListHidden": False,
        "autoRefreshEnabled": False,
    }


@contextmanager
def browser(work: Path) -> Iterator[DevTools]:
    binary = find_chromium()
    if binary is None:
        raise SystemExit(f"no Chromium found (looked for {', '.join(CANDIDATES)})")
    with chromium(binary, work / "chromium-profile", CHROMIUM_FLAGS) as dt:
        yield dt


# What the page shows: the scatter's markers (count, fill colours), its axis titles, and the
# table's group rows.
_PROBE_JS = """(() => {
  const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(p => p.querySelector('.scatterlayer .point'));
  const points = plot ? Array.from(plot.querySelectorAll('.scatterlayer .point')) : [];
  const text = sel => plot ? Array.from(plot.querySelectorAll(sel)).map(t => t.textContent) : [];
  return JSON.stringify({
    points: points.length,
    fills: [...new Set(points.map(p => getComputedStyle(p).fill))],
    xtitle: text('.xtitle'), ytitle: text('.ytitle'),
    groups: Array.from(document.querySelectorAll('.ag-row'))
      .map(r => r.innerText.replace(/\\s+/g, ' ').trim()).filter(t => t.includes('Group:')),
  });
})()"""
_CLICK_JS = """(() => {
  const b = document.querySelector('button[data-component-id="%s"]');
  if (b) b.click();
  return !!b;
})()"""
_RESIZER_JS = """(() => {
  const b = document.querySelector(
    'button[data-component-id="mlflow.experiment_page.table_resizer.collapse"]');
  if (!b) return null;
  const r = b.getBoundingClientRect();
  return [r.left + r.width / 2, r.top - 120];  // the handle spans the table's height
})()"""


def probe(dt: DevTools) -> dict[str, Any]:
    return dict(json.loads(dt.evaluate(_PROBE_JS) or "{}"))


def wait_for_scatter(dt: DevTools, n_runs: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with suppress(RuntimeError):  # the document may not be there yet
            state = probe(dt)
        if state.get("points") == n_runs and state.get("xtitle") and state.get("ytitle"):
            return state
        time.sleep(1.0)
    raise TimeoutError(f"the scatter was not drawn in {timeout:.0f} s: {state}")


def tidy(dt: DevTools, widen: float) -> None:
    """What a person would do before taking the picture."""
    for button in (
        "mlflow.experiment_page.shared_view.dismiss",
        "mlflow_header.toggle_sidebar_button",
    ):
        if not dt.evaluate(_CLICK_JS % button):
            print(f"note: no button {button} on the page", file=sys.stderr)
        time.sleep(0.5)
    handle = dt.evaluate(_RESIZER_JS)
    if handle and widen:
        dt.drag(float(handle[0]), float(handle[1]), widen)
    else:
        print("note: the runs table's resize handle was not found", file=sys.stderr)


def check(state: dict[str, Any], n_runs: int, colours: dict[str, str]) -> list[str]:
    """What is wrong with the page as drawn (nothing, when the list is empty)."""

    def rgb(hex_colour: str) -> str:
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"rgb({r}, {g}, {b})"

    problems = []
    if state.get("points") != n_runs:
        problems.append(f"{state.get('points')} markers for {n_runs} runs")
    if state.get("xtitle") != [X_METRIC] or state.get("ytitle") != [Y_METRIC]:
        problems.append(f"axis titles {state.get('xtitle')} / {state.get('ytitle')}")
    if set(state.get("fills", [])) != {rgb(c) for c in colours.values()}:
        problems.append(f"marker colours {state.get('fills')}, policy colours {colours}")
    groups = " | ".join(state.get("groups", []))
    missing = [p for p in colours if f"Group: {p or '(none)'}" not in groups]
    if missing:
        problems.append(f"no group row for {missing} (group rows: {groups})")
    return problems


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("study", type=Path, help="a study folder holding mlflow.db")
    ap.add_argument("--out", type=Path, default=Path("docs/img/mlflow-compare.png"))
    ap.add_argument("--experiment", help="experiment name (default: the only non-Default one)")
    ap.add_argument("--size", default="1280x800", help="the PNG's size in pixels, WxH")
    ap.add_argument("--zoom", type=float, default=0.85, help="PNG pixels per CSS pixel")
    ap.add_argument("--chart-height", type=int, default=600, help="the scatter card, CSS px")
    ap.add_argument("--widen-table", type=float, default=60, help="CSS px added to the table")
    ap.add_argument("--timeout", type=float, default=180.0)
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    src = args.study / "mlflow.db"
    if not src.is_file():
        raise SystemExit(f"{src}: no such file")
    with tempfile.TemporaryDirectory(prefix="mlflow-shot-") as tmp:
        work = Path(tmp)
        db = work / "mlflow.db"
        copy_db(src, db)
        with mlflow_server(db, work) as uri:
            exp = find_experiment(uri, args.experiment)
            runs = trial_runs(uri, exp["experiment_id"])
            if not runs:
                raise SystemExit(f"no trial runs with both {X_METRIC} and {Y_METRIC}")
            colours = policy_colours(sorted({policy(r) for r in runs}))
            print(f"{exp['name']}: {len(runs)} trial runs; policies {', '.join(colours)}")
            share = {
                "experiment_id": exp["experiment_id"],
                "key": SHARE_TAG,
                "value": json.dumps(view_state(args.chart_height)),
            }
            rest(uri, "experiments/set-experiment-tag", share)
            storage = {
                "experimentRunColors": json.dumps(run_colours(runs, colours)),
                "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
                "mlflow.assistant.panelOpen_v1": "false",
            }
            seed = (
                f"if (location.origin === {json.dumps(uri)}) {{"
                f" const s = {json.dumps(storage)};"
                " for (const k in s) localStorage.setItem(k, s[k]); }"
            )
            query = urllib.parse.urlencode(
                {"compareRunsMode": "CHART", "viewStateShareKey": SHARE_KEY}
            )
            url = f"{uri}/#/experiments/{exp['experiment_id']}/runs?{query}"
            with browser(work) as dt:
                dt.call("Page.enable")
                dt.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=round(width / args.zoom),
                    height=round(height / args.zoom),
                    deviceScaleFactor=args.zoom,
                    mobile=False,
                )
                dt.call("Page.addScriptToEvaluateOnNewDocument", source=seed)
                dt.call("Page.navigate", url=url)
                problems = ["not drawn"]
                try:
                    wait_for_scatter(dt, len(runs), args.timeout)
                    tidy(dt, args.widen_table)
                    time.sleep(2.0)  # the chart redraws at its new width
                    state = wait_for_scatter(dt, len(runs), 30)
                    problems = check(state, len(runs), colours)
                finally:
                    shot = base64.b64decode(dt.call("Page.captureScreenshot")["data"])
                    if problems:  # keep what the page showed, for a look
                        failed = args.out.with_suffix(".failed.png")
                        failed.parent.mkdir(parents=True, exist_ok=True)
                        failed.write_bytes(shot)
                        print(f"the page as it was: {failed}", file=sys.stderr)
    if problems:
        raise SystemExit("the picture is not right: " + "; ".join(problems))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(shot)
    print(f"wrote {args.out} ({width}×{height})")


if __name__ == "__main__":
    main()
