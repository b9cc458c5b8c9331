"""The report renders in a real headless Chromium with the network blocked.

Chromium is driven over the DevTools protocol (websocket-client): open report.html from
disk, wait for Plotly to draw the RD plane, read back its traces, take a screenshot, and
collect console errors, uncaught exceptions and any request that left file:/data: URLs.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rdlab.dashboards.report import build_report
from rdlab.frontier.synthetic import synthetic_rd_points

pytestmark = pytest.mark.browser

POLICIES = ("fixed", "learned_scalar", "optimal_global", "optimal_sample")
_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
_NO_NETWORK = ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1280,900",
)  # fmt: skip
_TRACES_JS = """(() => {
  const el = document.getElementById('rd-plane');
  if (!el || !el._fullLayout || !el.data) return null;
  return JSON.stringify({
    traces: el.data.map((t, i) => ({name: t.name, meta: t.meta || {}, n: el.calcdata[i].length})),
    markers: el.querySelectorAll('.scatterlayer .point').length,
    drawn: el.querySelectorAll('.scatterlayer .trace').length,
    plots: document.querySelectorAll('.plotly-graph-div .main-svg').length,
    images: Array.from(document.querySelectorAll('.grid img')).map(i => i.naturalWidth),
    hover: el.data[0].hovertemplate,
    first: el.data[0].customdata[0],
  });
})()"""


def _chromium() -> str | None:
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class DevTools:
    """The few DevTools-protocol calls this test needs, on one page target."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # test-only dependency, imported where it is used

        self.ws = websocket.create_connection(ws_url, timeout=20, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


def _page_ws_url(profile: Path, timeout: float = 20.0) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError("Chromium did not open its DevTools port")
        time.sleep(0.05)
    port = port_file.read_text().split()[0]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
        targets = json.load(resp)
    return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    binary = _chromium()
    if binary is None:
        pytest.skip(f"no Chromium binary found (looked for {', '.join(_CANDIDATES)})")
    profile = tmp_path / "profile"
    cmd = [binary, *_FLAGS, *_NO_NETWORK, f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dt = DevTools(_page_ws_url(profile))
        for domain in ("Runtime", "Log", "Page", "Network"):
            dt.call(f"{domain}.enable")
        yield dt
        dt.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _tiny_png(path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().imshow([[0, 1], [1, 0]], cmap="gray")
    fig.savefig(path, format="png", dpi=32)
    return path


@pytest.fixture
def report(tmp_path: Path) -> Path:
    points = synthetic_rd_points(40, policies=POLICIES, seeds=2, epochs=6, rng_seed=3)
    _tiny_png(tmp_path / "grid.png")
    points.loc[points["epoch"].isna(), "artifacts"] = json.dumps(["grid.png"])
    paths = build_report(points, tmp_path / "out", "browser test", artifact_root=tmp_path)
    return paths["html"]


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


def test_report_renders_offline(devtools: DevTools, report: Path, tmp_path: Path) -> None:
    devtools.call("Page.navigate", url=report.resolve().as_uri())
    devtools.wait_for("Page.loadEventFired")
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
    assert state["images"] and all(w > 0 for w in state["images"])  # sample grid decoded
    for label in ("β", "σ policy", "KL_G", "KL_I", "trial", "MLflow run"):
        assert label in state["hover"]
    assert any(cell.startswith("t00") for cell in state["first"])  # a trial id in the hover

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

    time.sleep(0.2)  # let late console messages arrive
    devtools.evaluate("1")
    assert _errors(devtools.events) == []
    assert _requests_off_disk(devtools.events) == []
