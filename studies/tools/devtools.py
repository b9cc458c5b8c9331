"""Headless Chromium over the DevTools protocol: the few calls rdlab's browser test and
its documentation pictures need (websocket-client, a dev dependency; no Selenium).

    with chromium(profile, flags) as page:
        page.call("Page.navigate", url=...)
        value = page.evaluate("document.title")
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
HEADLESS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
)  # fmt: skip
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def find_chromium() -> str | None:
    return next((b for b in map(shutil.which, CANDIDATES) if b), None)


class DevTools:
    """One page target: commands in order, events kept for :meth:`wait_for`."""

    def __init__(self, ws_url: str, timeout: float = 60.0) -> None:
        import websocket  # websocket-client, a dev dependency

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
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
        """Until the page has sent the event ``method`` (e.g. ``Page.loadEventFired``)."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str, await_promise: bool = True) -> Any:
        """The expression's value (a promise is awaited); a page exception raises."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:2000])
        return result.get("result", {}).get("value")

    def drag(self, x: float, y: float, dx: float) -> None:
        """Press the left button at (x, y), move dx to the right in steps, release."""
        mouse = "Input.dispatchMouseEvent"
        self.call(mouse, type="mouseMoved", x=x, y=y)
        self.call(mouse, type="mousePressed", x=x, y=y, button="left", clickCount=1)
        for k in range(1, 11):
            self.call(mouse, type="mouseMoved", x=x + dx * k / 10, y=y, button="left", buttons=1)
            time.sleep(0.03)
        self.call(mouse, type="mouseReleased", x=x + dx, y=y, button="left", clickCount=1)
        self.call(mouse, type="mouseMoved", x=1, y=1)  # no hover state in a picture


def _first_page(port: str, proc: subprocess.Popen[bytes], deadline: float) -> dict[str, Any]:
    """The about:blank page target; Chromium may open its port before it lists the page."""
    while True:
        with _LOOPBACK.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        pages = [t for t in targets if t["type"] == "page"]
        if pages:
            return dict(pages[0])
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("Chromium opened its DevTools port but no page")
        time.sleep(0.05)


@contextmanager
def chromium(
    binary: str, profile: Path, flags: Sequence[str] = (), timeout: float = 60.0
) -> Iterator[DevTools]:
    """Start Chromium on about:blank with its own ``profile`` folder, yield its page, and
    stop that process (by its handle, never by name) when done."""
    cmd = [binary, *HEADLESS, *flags, f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        page = _first_page(port, proc, deadline)
        dt = DevTools(str(page["webSocketDebuggerUrl"]), timeout=timeout)
        try:
            yield dt
        finally:
            dt.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
